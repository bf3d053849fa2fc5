"""Real TensorFlow as the oracle, run so that no comparison can be poisoned.

TensorFlow's oneDNN transposed convolution corrupts the process heap when a kernel axis is
smaller than its stride (an abort, or silently wrong results later in the same process);
without oneDNN its CPU kernel supports neither ``channels_first`` nor dilation, nor float64
for either. So the oracle keeps one worker process per flavour:

- ``onednn`` (``TF_ENABLE_ONEDNN_OPTS=1``): float32 configurations whose kernel covers the
  stride on every axis, run exactly as given (channels_first, dilation included).
- ``eigen`` (``TF_ENABLE_ONEDNN_OPTS=0``): everything else. channels_first and dilation are
  computed through identical channels_last / spelled-out-kernel configurations
  (see :func:`.tf_calls.layer_call`).

A worker that dies is restarted for the next request, and the request that killed it
raises :class:`WorkerCrashed` instead of returning anything.
"""

from __future__ import annotations

import atexit
import inspect
import os
import pickle
import subprocess
import sys

import numpy as np

from . import tf_calls
from .tf_calls import make_int

__all__ = ["TFOracle", "TFError", "WorkerCrashed", "default_oracle", "route"]

FLAVOURS = {
    "onednn": {"TF_ENABLE_ONEDNN_OPTS": "1"},
    "eigen": {"TF_ENABLE_ONEDNN_OPTS": "0"},
    # TF1 layers (tf.compat.v1.layers) exist only with tf_keras as tf.keras.
    "onednn-tf1": {"TF_ENABLE_ONEDNN_OPTS": "1", "TF_USE_LEGACY_KERAS": "1"},
    "eigen-tf1": {"TF_ENABLE_ONEDNN_OPTS": "0", "TF_USE_LEGACY_KERAS": "1"},
    # Keras 3 on its torch backend: a peer the harness compares beside kcompat, not an oracle.
    "keras-torch": {"KERAS_BACKEND": "torch"},
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
        env.update({"TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "", "KERAS_BACKEND": "tensorflow",
                    "PYTHONUNBUFFERED": "1"})
        env.pop("TF_USE_LEGACY_KERAS", None)
        env.update(FLAVOURS[flavour])
        self.flavour = flavour
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kcompat.testing.tf_worker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
        )

    def alive(self):
        return self.proc.poll() is None

    def call(self, function, kwargs):
        module, file, name = function
        try:
            pickle.dump((module, file, name, kwargs), self.proc.stdin)
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


def _spatial(value, data_format):
    """The two spatial values of a TF ``strides``/``dilations`` argument, ``None`` if malformed.

    TF's ``_get_sequence`` rule (an int, or 1, 2 or 4 values), parsed here rather than by
    ``kcompat.tf_nn``: a bug there must not decide how the reference is computed.
    """
    if value is None:
        return (1, 1)
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    if len(values) == 1:
        values = values * 2
    elif len(values) == 4:
        values = values[2:4] if data_format == "NCHW" else values[1:3]
    values = [make_int(v) for v in values]
    return tuple(values) if len(values) == 2 and None not in values else None


def route(config, dtype, rank=2, tf1=False):
    """The flavour able to compute ``config`` in ``dtype`` without risk (see module doc).

    ``tf1=True``: a worker where ``tf.compat.v1.layers`` exists (``TF_USE_LEGACY_KERAS=1``).
    """
    kernel = _tuple(config["kernel_size"], rank)
    strides = _tuple(config.get("strides", 1), rank)
    covered = all(k >= s for k, s in zip(kernel, strides))
    flavour = "onednn" if np.dtype(dtype) == np.float32 and covered else "eigen"
    return flavour + "-tf1" if tf1 else flavour


class TFOracle:
    """Calls into TensorFlow workers; one process per flavour, started on first use."""

    def __init__(self):
        self._workers = {}

    def call(self, flavour, function, /, **kwargs):
        """Run ``function(**kwargs)`` in the ``flavour`` worker (see :data:`FLAVOURS`).

        ``function``: a function of :mod:`.tf_calls` or of another module the worker can import
        by name or from its file (a test suite's TF-side builders), passed as the function itself;
        its signature is checked here, so a wrong argument fails in the caller.
        """
        if flavour not in FLAVOURS:
            raise ValueError(f"`flavour` must be one of {sorted(FLAVOURS)}. Received: flavour={flavour!r}")
        inspect.signature(function).bind(**kwargs)
        module = sys.modules.get(function.__module__)
        reference = (function.__module__, getattr(module, "__file__", None), function.__name__)
        worker = self._workers.get(flavour)
        if worker is None or not worker.alive():
            worker = self._workers[flavour] = _Worker(flavour)
        return worker.call(reference, kwargs)

    def run(self, function, /, **kwargs):
        """Run ``function(**kwargs)`` on TensorFlow's default CPU kernel (``TF_ENABLE_ONEDNN_OPTS=0``),
        with tf_keras as ``tf.keras`` where ``function`` is marked :func:`.tf_calls.legacy_keras`
        or ``reference="tf1"``: the worker for calls that need no particular kernel."""
        legacy = getattr(function, "legacy_keras", False) or kwargs.get("reference") == "tf1"
        return self.call("eigen-tf1" if legacy else "eigen", function, **kwargs)

    def layer_call(self, reference, config, x, weights=None, upstream=None, *, flavour=None):
        """Output (and gradients with ``upstream``) of ``reference``'s Conv{1,2,3}DTranspose(**config) on ``x``.

        ``reference``: ``"keras"``, ``"tf_keras"``, ``"tf1"`` or ``"tf.nn"`` (see
        :func:`.tf_calls.layer_call`). ``flavour``: ``"eigen"`` forces TF's default kernel;
        ``None`` routes by :func:`route`.
        """
        flavour = flavour or route(config, x.dtype, x.ndim - 2)
        if reference == "tf1" and not flavour.endswith("-tf1"):
            flavour += "-tf1"
        return self.call(flavour, tf_calls.layer_call, reference=reference, config=config, x=x, weights=weights,
                         upstream=upstream, rewrite=flavour.startswith("eigen"))

    def tf1_graph(self, source, inputs, *, kernel_size=1, strides=1, assign=None, upstream=None):
        """Run ``build(tf1, **inputs)`` from ``source`` in a TF1 graph (see :func:`.tf_calls.tf1_graph`).

        ``kernel_size``/``strides``: the smallest and largest used, to route away from oneDNN
        when a kernel is smaller than its stride.
        """
        x = next(iter(inputs.values()))
        flavour = route({"kernel_size": kernel_size, "strides": strides}, x.dtype, tf1=True)
        return self.call(flavour, tf_calls.tf1_graph, source=source, inputs=inputs, assign=assign, upstream=upstream)

    def nn_call(self, version, x, filters, upstream=None, **kwargs):
        """``tf.nn.conv2d_transpose`` (``version="v2"``) or ``tf.compat.v1.nn...`` (``"v1"``) on ``x``.

        Returns the output and, with ``upstream``, the gradients for ``x`` and ``filters``.
        """
        strides = _spatial(kwargs.get("strides", 1), kwargs.get("data_format", "NHWC"))
        config = {"kernel_size": tuple(filters.shape[:2]), "strides": strides or (1, 1)}
        # TF's oneDNN kernel hands explicit paddings to its default kernel, which needs the rewrite.
        explicit = not isinstance(kwargs.get("padding", "SAME"), str)
        flavour = route(config, x.dtype) if strides and not explicit else "eigen"
        return self.call(flavour, tf_calls.nn_call, version=version, x=x, filters=filters, upstream=upstream,
                         rewrite=flavour == "eigen", **kwargs)

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
