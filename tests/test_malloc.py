"""kcompat._malloc: freed activation memory kept for the next call (glibc's thresholds raised on
a loaded model's first call), and left alone where the user chose; each case in a fresh process."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                                reason="glibc's malloc thresholds")

_PROBE = r"""
import json, resource, torch, kcompat
from kcompat import _malloc
kept = _malloc._done  # None until a kcompat layer is made
model = kcompat.layers.Dense(2)
kept = (kept, _malloc.keep_freed_memory())
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
torch.ones(16 << 20)  # 64 MiB, above glibc's largest dynamic mmap threshold (32 MiB)
before = faults()
for _ in range(5):
    torch.ones(16 << 20)  # allocated, written, freed
print(json.dumps({"kept": kept, "faults": faults() - before}))
"""


def _probe(**env):
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "KCOMPAT_MALLOC"))}
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=120,
                         env={**environ, **env}, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_freed_memory_is_kept_for_the_next_call():
    """64 MiB (16384 pages) written five times: faulted in once at most, then from the heap again;
    not mapped and faulted in each time."""
    kept = _probe()
    assert kept["kept"] == [None, True]  # not on import: on the first layer
    assert kept["faults"] < 2 * 16384, kept
    system = _probe(KCOMPAT_MALLOC="system")
    assert system["kept"] == [None, False]
    assert system["faults"] > 4 * 16384, system


def test_the_users_own_tuning_is_left_alone():
    assert _probe(MALLOC_MMAP_THRESHOLD_="131072")["kept"] == [None, False]
