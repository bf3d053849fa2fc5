"""Which implementation computes a geometry: measured once per geometry, as
``torch.backends.cudnn.benchmark`` does, because the fastest one differs between CPUs.

The candidates of a geometry compute the same numbers to rounding (each is checked against
TensorFlow by the tests). The first large call of a geometry (``MEASURED_WORK`` multiply-adds
or more) times them on the real tensors, interleaved, and keeps the fastest; a smaller one is
measured at its ``HOT_CALLS``-th call (a layer in a loop, not a one-off call, is worth the
milliseconds); later calls look the choice up. Until then, under ``torch.compile`` and off
the CPU, the rule-chosen default runs.

``KCOMPAT_PATHS=rules`` in the environment (or :func:`set_path_choice`) always takes the
default, for runs that must be bit-identical across processes and machines.
"""

from __future__ import annotations

import logging
import os
import threading
import time

MEASURED_WORK = 20_000_000  # multiply-adds of a call from which its first call is measured
HOT_CALLS = 16  # a smaller geometry is measured at this call
_KEPT = 4096  # geometries remembered (choices, and call counts of small ones)
_MARGIN = 0.97  # another path must beat the default by 3%: near-ties keep the default, so
# repeated runs choose alike
_MIN_ROUNDS, _MAX_ROUNDS = 5, 25  # rounds of one call per candidate (see _measure)
_MEASURE_TIME = 0.25  # seconds of measured calls after which no round is added

_log = logging.getLogger(__name__)
_lock = threading.Lock()
_chosen = {}  # key -> Choice
_calls = {}  # key -> calls so far, of small geometries not yet measured
_mode = os.environ.get("KCOMPAT_PATHS", "measure")
_forced = threading.local()


class Choice:
    """What was chosen for one geometry, and the seconds each candidate took."""

    __slots__ = ("path", "seconds")

    def __init__(self, path, seconds):
        self.path, self.seconds = path, seconds

    def __repr__(self):
        shown = ", ".join(f"{name}={s * 1e3:.3g}ms" for name, s in self.seconds.items())
        return f"Choice({self.path!r}, {shown or 'by rule'})"


def set_path_choice(mode):
    """``"measure"`` (the default) or ``"rules"``; returns the previous mode."""
    global _mode
    if mode not in ("measure", "rules"):
        raise ValueError(f"`mode` must be 'measure' or 'rules'. Received: mode={mode!r}")
    previous, _mode = _mode, mode
    return previous


def clear():
    """Forget every choice (the next large call of each geometry measures again)."""
    with _lock:
        _chosen.clear()
        _calls.clear()


def choices():
    """``{key: Choice}`` of every geometry seen, for reports such as ``scripts/bench.py``."""
    with _lock:
        return dict(_chosen)


class force:
    """Context manager running every call on the named path where it is a candidate
    (the tests run each path this way)."""

    def __init__(self, path):
        self.path = path

    def __enter__(self):
        self.previous, _forced.path = getattr(_forced, "path", None), self.path

    def __exit__(self, *exc):
        _forced.path = self.previous


def cached(key):
    """The path chosen for ``key`` earlier, or ``None`` (also while :class:`force` is on)."""
    if getattr(_forced, "path", None) is not None:
        return None
    choice = _chosen.get(key)
    return None if choice is None else choice.path


def choose(key, names, default, work, measurable, make_run):
    """The path for ``key``: ``default`` unless measuring shows another of ``names`` faster.

    ``make_run(name)`` returns a ``run()`` that computes the call once on that path, on its
    real tensors (a forward, or a forward and backward), with no effect on the caller's
    autograd graph. ``measurable``: whether timing here means anything (eager CPU, not tracing).
    """
    forced = getattr(_forced, "path", None)
    if forced is not None:
        return forced if forced in names else default
    choice = _chosen.get(key)
    if choice is not None:
        return choice.path
    if not measurable:
        return default  # (not kept: an eager call of the geometry may measure later)
    if _mode == "rules":
        choice = Choice(default, {})
    else:
        if work < MEASURED_WORK:
            calls = _calls.get(key, 0) + 1
            if calls < HOT_CALLS:
                if len(_calls) >= _KEPT:
                    _calls.clear()  # one-off sizes (a stream of new shapes) are not kept forever
                _calls[key] = calls
                return default
            _calls.pop(key, None)
        choice = _measure({name: make_run(name) for name in names}, default)
        _log.debug("path %s for %s (measured, seconds per call: %s)", choice.path, key,
                   {name: f"{t:.3g}" for name, t in choice.seconds.items()})
    with _lock:
        if len(_chosen) >= _KEPT:
            _chosen.clear()  # as functools.lru_cache bounds the geometry caches; measured again if seen again
        _chosen.setdefault(key, choice)
    return choice.path


def _measure(candidates, default):
    """The candidates timed call by call in turn (A, B, C, A, B, C, ...: a slow spell of the
    machine falls on all of them alike), for ``_MIN_ROUNDS`` rounds and on while the rounds
    take under ``_MEASURE_TIME`` in all, up to ``_MAX_ROUNDS``; each one's median kept."""
    samples = {}
    for name, run in candidates.items():
        try:
            run()  # warm-up (oneDNN builds its primitive on the first call)
        except (RuntimeError, MemoryError):
            continue  # a candidate torch cannot run here is no candidate
        samples[name] = []
    total = 0.0
    for rounds in range(1, _MAX_ROUNDS + 1):
        for name in samples:
            start = time.perf_counter()
            candidates[name]()
            elapsed = time.perf_counter() - start
            samples[name].append(elapsed)
            total += elapsed
        if rounds >= _MIN_ROUNDS and total >= _MEASURE_TIME:
            break
    seconds = {name: sorted(v)[len(v) // 2] for name, v in samples.items()}
    if default not in seconds:
        return Choice(default, seconds)
    best = min(seconds, key=seconds.get)
    path = best if seconds[best] < _MARGIN * seconds[default] else default
    return Choice(path, seconds)
