"""Real TensorFlow as the oracle, run so that no comparison can be poisoned.

TensorFlow's oneDNN transposed convolution corrupts the process heap when a kernel axis is
smaller than its stride (an abort, or silently wrong results later in the same process);
without oneDNN its CPU kernel supports neither ``channels_first`` nor dilation, nor float64
for either. So the oracle keeps one worker process per flavour:

- ``onednn`` (``TF_ENABLE_ONEDNN_OPTS=1``): float32 configurations whose kernel covers the
  stride on every axis, run exactly as given (channels_first, dilation included).
- ``eigen`` (``TF_ENABLE_ONEDNN_OPTS=0``): everything else. channels_first and dilation are
  computed through identical channels_last / spelled-out-kernel configurations
  (see ``_tf_worker.layer_call``).

A worker that dies is restarted for the next request, and the request that killed it
raises :class:`WorkerCrashed` instead of returning anything.
"""

from __future__ import annotations

import atexit
import os
import pickle
import subprocess
import sys

import numpy as np

__all__ = ["TFOracle", "TFError", "WorkerCrashed", "default_oracle", "route"]

FLAVOURS = {
    "onednn": {"TF_ENABLE_ONEDNN_OPTS": "1"},
    "eigen": {"TF_ENABLE_ONEDNN_OPTS": "0"},
}


class TFError(Exception):
    """TensorFlow/Keras raised; ``type_name`` is its exception class name."""

    def __init__(self, type_name, message):
        super().__init__(f"{type_name}: {message}")
        self.type_name = type_name
        self.message = message


class WorkerCrashed(RuntimeError):
    """The TensorFlow worker process died while answering."""


class _Worker:
    def __init__(self, flavour):
        env = dict(os.environ)
        env.update(FLAVOURS[flavour])
        env.update({"TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "", "KERAS_BACKEND": "tensorflow",
                    "PYTHONUNBUFFERED": "1"})
        env.pop("TF_USE_LEGACY_KERAS", None)
        self.flavour = flavour
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kcompat.testing._tf_worker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
        )

    def alive(self):
        return self.proc.poll() is None

    def call(self, name, kwargs):
        try:
            pickle.dump((name, kwargs), self.proc.stdin)
            self.proc.stdin.flush()
            status, payload = pickle.load(self.proc.stdout)
        except (EOFError, BrokenPipeError, pickle.UnpicklingError) as exc:
            self.close()
            raise WorkerCrashed(
                f"the TensorFlow worker ({self.flavour}) died running {name}; exit code {self.proc.poll()}"
            ) from exc
        if status == "error":
            raise TFError(*payload)
        return payload

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()


def _tuple(value, rank):
    return (value,) * rank if isinstance(value, int) else tuple(value)


def route(config, dtype, rank=2):
    """The flavour able to compute ``config`` in ``dtype`` without risk (see module doc)."""
    kernel = _tuple(config["kernel_size"], rank)
    strides = _tuple(config.get("strides", 1), rank)
    covered = all(k >= s for k, s in zip(kernel, strides))
    return "onednn" if np.dtype(dtype) == np.float32 and covered else "eigen"


class TFOracle:
    """Calls into TensorFlow workers; one process per flavour, started on first use."""

    def __init__(self):
        self._workers = {}

    def call(self, flavour, function, /, **kwargs):
        """Run ``_tf_worker.<function>(**kwargs)`` in the ``flavour`` worker."""
        worker = self._workers.get(flavour)
        if worker is None or not worker.alive():
            worker = self._workers[flavour] = _Worker(flavour)
        return worker.call(function, kwargs)

    def layer_call(self, api, config, x, weights=None, upstream=None):
        """Output (and gradients with ``upstream``) of ``api``'s Conv2DTranspose(**config) on ``x``."""
        flavour = route(config, x.dtype, x.ndim - 2)
        return self.call(flavour, "layer_call", api=api, config=config, x=x, weights=weights,
                         upstream=upstream, rewrite=flavour == "eigen")

    def close(self):
        for worker in self._workers.values():
            worker.close()
        self._workers.clear()


_default = None


def default_oracle() -> TFOracle:
    """A process-wide oracle, closed at exit."""
    global _default
    if _default is None:
        _default = TFOracle()
        atexit.register(_default.close)
    return _default
