"""The ``keel`` command: ``keel <management command> [args]``, e.g. ``keel serve``, ``keel demo --contacts 5000``.

Hyphenated names map to the management commands (``keel delete-crm-records`` → ``delete_crm_records``), and
``keel bench generate|run`` reaches the benchmark suite.
"""

import os
import sys


def main(argv=None):
    argv = list(sys.argv if argv is None else argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "keel.settings")
    if len(argv) > 1 and not argv[1].startswith("-"):
        argv[1] = argv[1].replace("-", "_")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["keel", *argv[1:]])


if __name__ == "__main__":
    main()
