"""This machine's physical memory: the bound past which kcompat refuses an allocation or a read
by name, instead of letting torch's allocator or numpy fail with an error that names nothing."""

from __future__ import annotations

import os

__all__ = ["PHYSICAL_MEMORY"]


def _physical_memory():
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


PHYSICAL_MEMORY = _physical_memory()  # bytes, or None where the platform does not say
