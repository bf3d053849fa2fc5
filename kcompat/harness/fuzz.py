"""Property-based search: random configurations, and the smallest failing one when one fails.

Every random case must pass :func:`~kcompat.testing.check_parity` (match, or refused by both).
All ``n`` cases run; each failure is then shrunk greedily: simpler variants (smaller batch, channels,
filters and input, no activation or bias, channels_last, smaller kernel, stride, dilation,
output_padding, ``valid``) are tried in turn, and the first one that still fails the same way
replaces it, until no simplification does.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace

from .._progress import ProgressBar
from .grid import Case, random_case
from .run import run_case

__all__ = ["FuzzReport", "fuzz", "shrink", "simplifications"]


@dataclass
class FuzzReport:
    n: int
    seed: int
    results: list  # [(case, result)] of the cases run
    failures: list = field(default_factory=list)  # [(case, result)] failing, in order
    shrunk: list = field(default_factory=list)  # [(case, result, steps)]: the smallest of each failure

    @property
    def ran(self):
        return len(self.results)

    @property
    def ok(self):
        return not self.failures


def _axis_values(value, rank):
    return list(value) if isinstance(value, (tuple, list)) else [value] * rank


def _set_axis(config, key, axis, value, rank):
    values = _axis_values(config[key], rank)
    values[axis] = value
    return {**config, key: tuple(values)}


def _with_spatial(case, axis, length):
    shape = list(case.input_shape)
    shape[(2 if case.channels_first else 1) + axis] = length
    return replace(case, input_shape=tuple(shape))


def _with_channels(case, channels):
    shape = list(case.input_shape)
    shape[1 if case.channels_first else -1] = channels
    return replace(case, input_shape=tuple(shape))


def simplifications(case: Case):
    """Simpler neighbours of ``case``, the most valuable first."""
    c = case.config
    if case.input_shape[0] > 1:
        yield replace(case, input_shape=(1, *case.input_shape[1:]))
    channels = case.input_shape[1 if case.channels_first else -1]
    if channels > 1:
        yield _with_channels(case, 1)
    if c["filters"] > 1:
        yield case.with_config(filters=1)
    if c.get("activation") not in (None, "linear"):
        yield case.with_config(activation="linear")
    if c.get("use_bias", True):
        yield case.with_config(use_bias=False)
    if case.channels_first:
        yield replace(case, config={**c, "data_format": "channels_last"},
                      input_shape=(case.input_shape[0], *case.input_shape[2:], case.input_shape[1]))
    for axis in range(case.rank):
        for length in range(1, case.spatial[axis]):
            yield _with_spatial(case, axis, length)
    if c.get("output_padding") is not None:
        yield case.with_config(output_padding=None)
    for key in ("kernel_size", "strides", "dilation_rate", "output_padding"):
        values = c.get(key)
        if values is None:
            continue
        for axis in range(case.rank):
            current = _axis_values(values, case.rank)[axis]
            low = 0 if key == "output_padding" else 1
            for smaller in range(low, current):
                yield replace(case, config=_set_axis(c, key, axis, smaller, case.rank))
    if c.get("padding") == "same":
        yield case.with_config(padding="valid")


def shrink(case, result, check, limit=500):
    """The simplest case that still fails the way ``result`` did; ``(case, result, steps)``."""
    steps = tried = 0
    improved = True
    while improved and tried < limit:
        improved = False
        for candidate in simplifications(case):
            tried += 1
            outcome = check(candidate)
            if outcome.status == result.status:
                case, result, steps, improved = candidate, outcome, steps + 1, True
                break
            if tried >= limit:
                break
    return case, result, steps


def _memoized(check):
    """``check`` run once per case id: shrinking several failures walks the same small cases."""
    seen = {}

    def memo(case):
        if case.id not in seen:
            seen[case.id] = check(case)
        return seen[case.id]

    return memo


def fuzz(n, seed=0, references=("keras",), dtype="float32", oracle=None, stream=None, check=None,
         ranks=(1, 2, 3)):
    """Run ``n`` random cases from ``seed`` (on ``ranks`` spatial axes), all of them; shrink
    every failure. Returns a :class:`FuzzReport`."""
    check = _memoized(check or (lambda case: run_case(case, oracle)["kcompat"]))
    rng = random.Random(seed)
    report = FuzzReport(n, seed, [])
    progress = ProgressBar(n, stream)
    try:
        for _ in range(n):
            case = random_case(rng, references, dtype, ranks)
            result = check(case)
            report.results.append((case, result))
            progress.advance(1, case.id)
            if not result.ok:
                report.failures.append((case, result))
    finally:
        progress.close()
    for failure in report.failures:
        report.shrunk.append(shrink(*failure, check))
    return report
