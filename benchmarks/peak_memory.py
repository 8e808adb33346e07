"""Peak resident memory of this process, in MB.

``getrusage(RUSAGE_SELF).ru_maxrss`` is wrong for the benchmarks' worker processes: Linux carries
the high-water mark across fork + exec, so a worker started by a 4 GB parent reports 4 GB whatever
it used itself. ``VmHWM`` in /proc/self/status belongs to the process's own address space, which
exec replaces, so it is the worker's own peak. Elsewhere ru_maxrss is the best there is.
"""

from __future__ import annotations

import resource
import sys


def peak_rss_mb() -> float:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale / (1024 if scale == 1 else 1), 1)
