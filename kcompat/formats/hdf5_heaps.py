"""A pre-flight check for an HDF5 defect: global heaps on which the library loops forever.

HDF5 (1.14, as h5py ships it) decodes a global heap collection (``GCOL``: where variable-length
strings such as Keras's ``model_config`` and layer names live) by walking its objects; a
free-space object (index 0) of size 0 does not advance the walk, and the process spins in C,
beyond Ctrl-C. One flipped byte in an object's size can lead the walk there. Such a file is
refused before h5py opens it. Collections are found by their signature and header (version
1, reserved zeros, a size of at least 4096 that fits the file) and walked as HDF5 does; any
other irregularity is left to HDF5, which reports it.
"""

from __future__ import annotations

import struct

__all__ = ["looping_heap"]

_SIGNATURE = b"GCOL\x01\x00\x00\x00"
_MIN_SIZE = 4096
_CHUNK = 1 << 24


def _lengths_size(head):
    """The superblock's "size of lengths" (bytes of every length field; 8 in practice)."""
    version = head[8] if len(head) > 8 else 0
    at = 14 if version < 2 else 10
    size = head[at] if len(head) > at else 8
    return size if size in (2, 4, 8) else 8


def _walks_forever(heap, lengths):
    header = 2 + 2 + 4 + lengths
    pos, end = len(_SIGNATURE) + lengths, len(heap)
    while pos + header <= end:
        index = struct.unpack_from("<H", heap, pos)[0]
        size = int.from_bytes(heap[pos + 8:pos + 8 + lengths], "little")
        need = header + -(-size // 8) * 8 if index > 0 else size
        if need == 0:
            return True
        if pos + need > end:
            return False  # HDF5 reports "ran off end of input buffer"
        pos += need
    return False


def looping_heap(stream, file_size):
    """The offset of a global heap collection HDF5 would loop on, or ``None``.

    ``stream``: the file, open for binary reading and seekable (left at an unknown position).
    """
    stream.seek(0)
    lengths = _lengths_size(stream.read(16))
    candidates, offset, tail = [], 0, b""
    stream.seek(0)
    while True:
        chunk = stream.read(_CHUNK)
        if not chunk:
            break
        data = tail + chunk
        start = 0
        while (found := data.find(_SIGNATURE, start)) >= 0:
            candidates.append(offset - len(tail) + found)
            start = found + 1
        tail = data[-(len(_SIGNATURE) - 1):]
        offset += len(chunk)
    for at in sorted(set(candidates)):
        stream.seek(at + len(_SIGNATURE))
        size = int.from_bytes(stream.read(lengths), "little")
        if size < _MIN_SIZE or at + size > file_size:
            continue
        stream.seek(at)
        if _walks_forever(stream.read(size), lengths):
            return at
    return None
