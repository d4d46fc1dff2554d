"""Resident memory of a benchmark process, read from /proc (Linux)."""


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
