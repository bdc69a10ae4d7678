"""Peak resident memory of this process, for the bench scripts (imported, not run)."""


def peak_rss_mib():
    """This process's peak resident memory (Linux VmHWM), in MiB; None elsewhere. Not
    ru_maxrss: that keeps the mark of the process that forked this one (here, the bench)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None
