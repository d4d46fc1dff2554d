"""One benchmark scenario in a process of its own: ``python -m bench.child PARAMS.json``.

PARAMS.json names the scenario (a function of bench.scenarios) and where to write the result. The result is the
scenario's dict plus the process's peak resident memory and its memory right after start-up, so that what the
work itself added is visible.
"""

import json
import os
import sys
import traceback

from bench.memory import peak_mb


def main(argv):
    with open(argv[1]) as handle:
        params = json.load(handle)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "keel.settings")
    import django

    django.setup()
    # Not at the top: the scenarios import Keel's models, which need Django set up first in this fresh process.
    from bench.scenarios import SCENARIOS

    startup_mb = peak_mb()
    try:
        result = SCENARIOS[params["scenario"]](params)
        result["ok"] = True
    except Exception as exc:
        traceback.print_exc()
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    result["peak_rss_mb"] = peak_mb()
    result["startup_rss_mb"] = startup_mb
    with open(params["out"], "w") as handle:
        json.dump(result, handle, default=str)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
