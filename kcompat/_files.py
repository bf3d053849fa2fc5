"""Files written whole or not at all: a temporary name beside the target, then a rename."""

from __future__ import annotations

import os
import tempfile

__all__ = ["atomic_write", "publish", "refuse_input", "temporary", "write_together"]


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
    write_together([(path, data)])


def write_together(files, make_temporary=None):
    """Write files that belong together (weights and their config, source and its weights), each
    ``(path, data)`` with ``data`` bytes or ``write(stream)``: every one to a temporary beside its
    target first, then all renamed, in order; if a rename fails (or a signal stops it), those
    already renamed are removed. Every file or none; temporaries never stay. ``make_temporary(path)`` -> ``(fd, name)``."""
    make_temporary = make_temporary or temporary
    temporaries, published = [], []
    try:
        for path, data in files:
            fd, tmp = make_temporary(path)
            temporaries.append(tmp)
            with os.fdopen(fd, "wb") as stream:
                data(stream) if callable(data) else stream.write(data)
        for (path, _), tmp in zip(files, list(temporaries)):
            try:
                publish(tmp, path)
            except BaseException:  # a failed rename, or Ctrl-C/SIGTERM between two: every file or none
                for done in published:
                    os.unlink(done)
                raise
            temporaries.remove(tmp)
            published.append(path)
    finally:
        for tmp in temporaries:
            if os.path.exists(tmp):
                os.unlink(tmp)


def refuse_input(target, inputs, tool):
    """Refuse an output that is one of ``inputs`` (the same file under any name, a hard link, or a
    link to it), ``--force`` or not: writing it would destroy what ``tool`` reads."""
    candidates = [target] + ([os.path.realpath(target)] if os.path.islink(target) else [])
    for name in inputs:
        for candidate in candidates:
            try:
                same = os.path.samefile(candidate, name)
            except OSError:
                same = os.path.abspath(os.path.realpath(candidate)) == os.path.abspath(os.path.realpath(name))
            if same:
                raise ValueError(f"{target}: is an input of this {tool} run ({name}); {tool} never overwrites what it "
                                 "reads: choose another output")
