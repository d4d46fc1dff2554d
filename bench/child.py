"""One benchmark scenario in a process of its own: ``python -m bench.child PARAMS.json``.

PARAMS.json names the scenario (a function of bench.scenarios) and where to write the result. The result is the
scenario's dict plus the process's peak resident memory and its memory right after start-up, so that what the
work itself added is visible.
"""

import json
import os
import sys
import traceback


def peak_mb():
    """This process's own high-water mark of resident memory (VmHWM).

    Not ``ru_maxrss``: Linux carries the parent's peak over into it across fork and exec, so every child of a
    big parent would report at least the parent's size.
    """
    return status_mb("self", "VmHWM")


def status_mb(pid, key):
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith(key + ":"):
                    return round(int(line.split()[1]) / 1024, 1)  # kB
    except OSError:
        pass
    return None


def main(argv):
    with open(argv[1]) as handle:
        params = json.load(handle)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "keel.settings")
    import django

    django.setup()
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
