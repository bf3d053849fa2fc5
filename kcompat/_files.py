"""Files written whole or not at all: a temporary name beside the target, then a rename."""

from __future__ import annotations

import os
import tempfile

__all__ = ["atomic_write", "publish", "temporary"]


def temporary(path):
    """``(fd, name)`` of a new hidden file in ``path``'s directory (same filesystem: rename is atomic)."""
    directory = os.path.dirname(os.path.abspath(path))
    return tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)


def publish(tmp, path):
    """Rename ``tmp`` to ``path`` with the permissions a plain ``open()`` gives (mkstemp's are 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, path)


def atomic_write(path, data: bytes):
    """Write ``data`` to ``path`` through a temporary file; nothing is left half-written."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fd, tmp = temporary(path)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        publish(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
