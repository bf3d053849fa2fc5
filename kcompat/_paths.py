"""Which implementation computes a geometry: measured once per geometry, as
``torch.backends.cudnn.benchmark`` does, because the fastest one differs between CPUs.

The candidates of a geometry compute the same numbers to rounding (each is checked against
TensorFlow by the tests). The first large call of a geometry times them on the real tensors,
interleaved, and keeps the fastest; later calls look the choice up. Small calls (below
``MEASURED_WORK`` multiply-adds) and calls under ``torch.compile`` take the rule-chosen
default: there the choice saves less than measuring costs.

``KCOMPAT_PATHS=rules`` in the environment (or :func:`set_path_choice`) always takes the
default, for runs that must be bit-identical across processes and machines.
"""

from __future__ import annotations

import os
import threading
import time

MEASURED_WORK = 20_000_000  # multiply-adds of a call; below it the default path runs
_MARGIN = 0.97  # another path must beat the default by 3%: near-ties keep the default, so
# repeated runs choose alike
_ROUNDS = 3  # interleaved timing rounds, the median kept
_ROUND_TIME = 0.02  # seconds of calls per candidate and round (one call where a call takes longer)

_lock = threading.Lock()
_chosen = {}  # key -> Choice
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


def forcing():
    """Whether :class:`force` is on in this thread."""
    return getattr(_forced, "path", None) is not None


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
    if _mode == "rules" or work < MEASURED_WORK:
        choice = Choice(default, {})
    else:
        choice = _measure({name: make_run(name) for name in names}, default)
    with _lock:
        _chosen.setdefault(key, choice)
    return choice.path


def _measure(candidates, default):
    """Each candidate timed in ``_ROUNDS`` interleaved rounds of at least ``_ROUND_TIME`` (the
    steady state, with the allocator's and oneDNN's per-call costs in it); the median kept."""
    samples = {}
    for name, run in candidates.items():
        try:
            run()  # warm-up (oneDNN builds its primitive on the first call)
        except (RuntimeError, MemoryError):
            continue  # a candidate torch cannot run here is no candidate
        samples[name] = []
    for _ in range(_ROUNDS):
        for name in samples:
            calls, start = 0, time.perf_counter()
            while True:
                candidates[name]()
                calls, elapsed = calls + 1, time.perf_counter() - start
                if elapsed >= _ROUND_TIME:
                    break
            samples[name].append(elapsed / calls)
    seconds = {name: sorted(v)[len(v) // 2] for name, v in samples.items()}
    if default not in seconds:
        return Choice(default, seconds)
    best = min(seconds, key=seconds.get)
    path = best if seconds[best] < _MARGIN * seconds[default] else default
    return Choice(path, seconds)
