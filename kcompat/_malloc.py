"""Freed activation memory kept for the next call, as TensorFlow's and onnxruntime's allocators keep it.

torch allocates CPU tensors with the C library's ``malloc``. glibc serves a block above its mmap
threshold (128 KiB at first, raised as such blocks are freed, at most 32 MiB) by ``mmap`` and hands
it back with ``munmap`` when freed, and trims freed memory at the top of its heap; the next call
of the model then page-faults its activations in again. Measured on the 2-core machines: a
MobileNetV2 (batch 4) inference 28-31 ms against 17-19 ms with the memory kept, ResNet50's unfused
88 ms against 59. :func:`keep_freed_memory` raises both thresholds once per process (blocks up to
256 MiB come from the heap, up to 1 GiB of free heap stays), when the first kcompat layer is made
(or a loaded model first called). UpSampling2D's 16x32x32x128 forward: 8.9 ms against 0.47.

Not done where the user chose: ``MALLOC_MMAP_THRESHOLD_``/``MALLOC_TRIM_THRESHOLD_`` set (glibc's
own tuning), ``KCOMPAT_MALLOC=system`` (leave ``malloc`` as it is), or no glibc (another libc, or
jemalloc/tcmalloc preloaded, whose ``mallopt`` is not the allocator in use: harmless there).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import platform

__all__ = ["keep_freed_memory"]

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD = 256 << 20
TRIM_THRESHOLD = 1 << 30
_done = None  # None: not tried yet; then whether the thresholds were raised


def keep_freed_memory():
    """Raise glibc's mmap and trim thresholds for this process, once; whether they were raised."""
    global _done
    if _done is not None:
        return _done
    _done = False
    if os.environ.get("KCOMPAT_MALLOC", "keep") == "system" or any(
            name in os.environ for name in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")):
        return _done
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return _done
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return _done
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    _done = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    logging.getLogger(__name__).debug("glibc's mmap threshold %d and trim threshold %d: %s", MMAP_THRESHOLD,
                                      TRIM_THRESHOLD, "set" if _done else "refused by mallopt")
    return _done
