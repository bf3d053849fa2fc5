"""Running cases: kcompat (and optionally its peers) against TensorFlow, one :class:`~.grid.Case` each."""

from __future__ import annotations

import zlib

from .._progress import ProgressBar
from ..testing.parity import compare_implementations

__all__ = ["case_seed", "run_case", "run_cases"]


def case_seed(case):
    """A seed fixed by the case itself: a rerun draws the same inputs and weights."""
    return zlib.crc32(case.id.encode())


def run_case(case, oracle=None, grads=True, peers=None):
    """``{"kcompat": ParityResult, peer: ParityResult, ...}`` for one case."""
    ours, others = compare_implementations(case.config, case.input_shape, reference=case.reference,
                                           dtype=case.dtype, grads=grads, seed=case_seed(case), oracle=oracle,
                                           peers=peers)
    return {"kcompat": ours, **others}


def run_cases(cases, oracle=None, stream=None, grads=True, peers=None):
    """``[(case, {implementation: ParityResult})]`` in order, with a progress bar on a terminal.

    ``peers``: a peers table for every case, or ``fn(case)`` giving one (or ``None``) per case.
    """
    progress = ProgressBar(len(cases), stream)
    rows = []
    try:
        for case in cases:
            rows.append((case, run_case(case, oracle, grads, peers(case) if callable(peers) else peers)))
            progress.advance(1, case.id)
    finally:
        progress.close()
    return rows
