"""Give freed memory back to the system (glibc).

glibc serves allocations above the mmap threshold (128 KiB) with their own mappings, which
go back to the system when freed, but it raises that threshold each time such a block is
freed, up to 32 MiB. After a burst of large request or response bodies (a few clients
that stop reading are enough) every later body then comes from the heap, and the process
keeps its peak size for good. Pinning the threshold turns the adjustment off: large
buffers stay mappings and are returned as soon as they are freed.
"""

from __future__ import annotations

import ctypes
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
THRESHOLD = 128 * 1024


def pin_mmap_threshold() -> bool:
    """True when glibc took the setting (False elsewhere: musl, macOS)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    ok = mallopt(M_MMAP_THRESHOLD, THRESHOLD) == 1
    mallopt(M_TRIM_THRESHOLD, 2 * THRESHOLD)
    return ok
