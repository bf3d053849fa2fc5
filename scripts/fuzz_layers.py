"""Fuzz every kcompat layer against Keras 3 and Keras 2 (tf_keras), apart from the parity engine.

Each case is a random configuration of one layer: a valid one is built by Keras (its initial
weights handed to kcompat) and run forward on a random input, and backward with a random upstream
gradient, in training or inference mode; outputs, input gradients, weight gradients and the weights
after the call (BatchNormalization's moving statistics) are compared. An invalid one (one argument
replaced by a bad value) must be refused by both, or accepted by both with the same results.

Where float32 results disagree beyond float32 rounding, both sides run again in float64: kcompat is
at fault only where its float64 results disagree with Keras's, or its float32 results are much
further from the float64 truth than Keras's are (TensorFlow's own float32 error is not kcompat's).

    python scripts/fuzz_layers.py --seed 7 --valid 20 --invalid 4      # per layer and reference

Everything here is independent of ``kcompat.testing``'s parity engine: its own comparison, its
own TensorFlow call (run in TensorFlow worker processes, so a crash there is reported, not fatal).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

FLOAT32_RTOL = 2e-4  # beyond this (relative to the array's scale), float64 judges
FLOAT64_RTOL = 1e-9
TRAINING = {"BatchNormalization", "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
            "GaussianNoise", "GaussianDropout", "MultiHeadAttention", "Attention"}
RANDOM = {"Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise", "GaussianDropout"}


@dataclass
class Case:
    layer: str
    config: dict
    shapes: list  # input shapes; several for merges and attention
    integer_input: bool = False
    training: bool = False
    several: bool = False  # the layer takes its inputs as a list (merges, Attention)
    positional: bool = False  # the inputs are separate arguments (MultiHeadAttention)


# ----------------------------------------------------------------------------- valid configurations
def _pick(rng, *values):
    return values[rng.randrange(len(values))]


def _spatial(rng, rank, low=3, high=9):
    return [rng.randint(low, high) for _ in range(rank)]


def _image(rng, rank, channels_first, channels, batch=None, low=3, high=9):
    spatial = _spatial(rng, rank, low, high)
    batch = batch or rng.randint(1, 3)
    return [batch, channels, *spatial] if channels_first else [batch, *spatial, channels]


def _conv(rank, transpose=False, separable=False, depthwise=False):
    def make(rng):
        channels_first = rng.random() < 0.3
        k = [rng.randint(1, 4) for _ in range(rank)]
        dilated = not transpose and rng.random() < 0.25
        strides = [1] * rank if dilated else [rng.randint(1, k_ if transpose else 3) for k_ in k]
        dilation = [rng.randint(1, 2) for _ in range(rank)] if dilated else [1] * rank
        padding = _pick(rng, "valid", "same") if not (rank == 1 and not transpose and rng.random() < 0.2) \
            else "causal"
        if separable or depthwise:
            padding = "valid" if padding == "causal" else padding
        channels = rng.randint(1, 4)
        config = {"kernel_size": tuple(k), "strides": tuple(strides), "padding": padding,
                  "data_format": "channels_first" if channels_first else "channels_last",
                  "dilation_rate": tuple(dilation), "use_bias": rng.random() < 0.8,
                  "activation": _pick(rng, None, "relu", "tanh")}
        if depthwise:
            config["depth_multiplier"] = rng.randint(1, 3)
        else:
            config["filters"] = rng.randint(1, 5)
        if separable:
            config["depth_multiplier"] = rng.randint(1, 2)
        if not (transpose or separable or depthwise) and rng.random() < 0.2 and channels % 2 == 0:
            config["groups"] = 2
            config["filters"] = 2 * rng.randint(1, 3)
        if transpose and rng.random() < 0.3:
            config["output_padding"] = tuple(rng.randint(0, s - 1) for s in strides)
        reach = [(kk - 1) * d + 1 for kk, d in zip(k, dilation)]
        shape = _image(rng, rank, channels_first, channels, low=max(reach), high=max(reach) + 6)
        return Case("", config, [shape])
    return make


def _pooling(rank, kind):
    def make(rng):
        channels_first = rng.random() < 0.3
        pool = [rng.randint(1, 3) for _ in range(rank)]
        config = {"pool_size": tuple(pool), "strides": tuple(rng.randint(1, 3) for _ in range(rank)),
                  "padding": _pick(rng, "valid", "same"),
                  "data_format": "channels_first" if channels_first else "channels_last"}
        return Case("", config, [_image(rng, rank, channels_first, rng.randint(1, 4), low=3)])
    return make


def _global(rank):
    def make(rng):
        channels_first = rng.random() < 0.3
        config = {"data_format": "channels_first" if channels_first else "channels_last",
                  "keepdims": rng.random() < 0.5}
        return Case("", config, [_image(rng, rank, channels_first, rng.randint(1, 4))])
    return make


def _spatial_layer(rank, make_config, low=3):
    def make(rng):
        channels_first = rng.random() < 0.3
        config = make_config(rng)
        if rank > 1 or "data_format" in config:
            config["data_format"] = "channels_first" if channels_first else "channels_last"
        else:
            channels_first = False
        return Case("", config, [_image(rng, rank, channels_first, rng.randint(1, 3), low=low)])
    return make


def _crop(rank):
    return _spatial_layer(rank, lambda rng: {"cropping": tuple((rng.randint(0, 2), rng.randint(0, 2))
                                                               for _ in range(rank)) if rank > 1 else
                                             (rng.randint(0, 2), rng.randint(0, 2))}, low=5)


def _pad(rank):
    return _spatial_layer(rank, lambda rng: {"padding": tuple((rng.randint(0, 2), rng.randint(0, 2))
                                                              for _ in range(rank)) if rank > 1 else
                                             (rng.randint(0, 2), rng.randint(0, 2))})


def _upsample(rank):
    def config(rng):
        if rank == 1:
            return {"size": rng.randint(1, 3)}
        c = {"size": tuple(rng.randint(1, 3) for _ in range(rank))}
        if rank == 2:
            c["interpolation"] = _pick(rng, "nearest", "bilinear", "bicubic", "area", "lanczos3", "lanczos5")
        return c
    return _spatial_layer(rank, config)


def _features(rng, low=2, high=4):
    return [rng.randint(1, 3)] + [rng.randint(2, 5) for _ in range(rng.randint(low - 1, high - 1))]


def _batch_norm(rng):
    shape = _features(rng, 2, 4)
    axis = rng.randrange(1, len(shape)) * _pick(rng, 1, -1)
    axis = axis if axis > 0 else axis - 0  # negative counts from the end
    axis = axis if axis > 0 else -(len(shape) - abs(axis) % len(shape)) if abs(axis) < len(shape) else -1
    config = {"axis": axis, "momentum": _pick(rng, 0.99, 0.9, 0.5), "epsilon": _pick(rng, 1e-3, 1e-5, 0.1),
              "center": rng.random() < 0.8, "scale": rng.random() < 0.8}
    if rng.random() < 0.3:  # batch renormalization (Keras 3's)
        config.update(renorm=True, renorm_momentum=_pick(rng, 0.99, 0.5),
                      renorm_clipping=_pick(rng, None, {"rmax": 1.5, "rmin": 0.5, "dmax": 0.3}, {"dmax": 0.1}))
    return Case("", config, [shape], training=rng.random() < 0.6)


def _layer_norm(rng):
    shape = _features(rng, 2, 4)
    axes = sorted(rng.sample(range(1, len(shape)), rng.randint(1, len(shape) - 1)))
    config = {"axis": axes if len(axes) > 1 else axes[0], "epsilon": _pick(rng, 1e-3, 1e-6),
              "center": rng.random() < 0.8, "scale": rng.random() < 0.8}
    return Case("", config, [shape])


def _group_norm(rng):
    groups = rng.randint(1, 3)
    shape = [rng.randint(1, 3)] + _spatial(rng, rng.randint(0, 2), 2, 4) + [groups * rng.randint(1, 3)]
    return Case("", {"groups": groups, "epsilon": _pick(rng, 1e-3, 1e-5), "center": rng.random() < 0.8,
                     "scale": rng.random() < 0.8}, [shape])


def _dense(rng):
    return Case("", {"units": rng.randint(1, 6), "use_bias": rng.random() < 0.8,
                     "activation": _pick(rng, None, "relu", "sigmoid", "gelu")}, [_features(rng, 2, 4)])


def _einsum(rng):
    equation, shape, out = _pick(rng, ("ab,bc->ac", [2, 5], (4,)), ("abc,cd->abd", [2, 3, 5], (None, 4)),
                                 ("abc,cde->abde", [2, 3, 4], (None, 2, 3)), ("...b,bc->...c", [2, 3, 4], (5,)))
    bias = _pick(rng, None, equation[-1])
    return Case("", {"equation": equation, "output_shape": out, "bias_axes": bias}, [shape])


def _embedding(rng):
    return Case("", {"input_dim": rng.randint(2, 9), "output_dim": rng.randint(1, 5)},
                [[rng.randint(1, 3), rng.randint(1, 5)]], integer_input=True)


def _activation(config_maker):
    return lambda rng: Case("", config_maker(rng), [_features(rng, 2, 4)])


def _prelu(rng):
    shape = _features(rng, 2, 4)
    shared = sorted(rng.sample(range(1, len(shape)), rng.randint(0, len(shape) - 2))) if len(shape) > 2 else []
    return Case("", {"shared_axes": shared or None}, [shape])


def _merge(name):
    def make(rng):
        shape = _features(rng, 2, 4)
        n = 2 if name == "Subtract" else rng.randint(2, 3)
        config = {}
        shapes = [list(shape) for _ in range(n)]
        if name == "Concatenate":
            axis = rng.randrange(1, len(shape))
            config["axis"] = axis
            for s in shapes:
                s[axis] = rng.randint(1, 4)
        return Case("", config, shapes, several=True)
    return make


def _dot(rng):
    a = [rng.randint(1, 3), rng.randint(2, 4)]
    return Case("", {"axes": 1, "normalize": rng.random() < 0.3}, [a, list(a)], several=True)


def _reshape(rng):
    shape = _features(rng, 3, 4)
    total = int(np.prod(shape[1:]))
    target = (-1,) if rng.random() < 0.3 else (total,)
    if rng.random() < 0.5 and total % shape[1] == 0:
        target = (shape[1], -1)
    return Case("", {"target_shape": target}, [shape])


def _permute(rng):
    shape = _features(rng, 3, 4)
    dims = list(range(1, len(shape)))
    rng.shuffle(dims)
    return Case("", {"dims": tuple(dims)}, [shape])


def _mha(rng):
    q = [rng.randint(1, 2), rng.randint(2, 5), rng.randint(2, 6)]
    v = [q[0], rng.randint(2, 5), rng.randint(2, 6)]
    config = {"num_heads": rng.randint(1, 3), "key_dim": rng.randint(1, 4), "use_bias": rng.random() < 0.8,
              "value_dim": _pick(rng, None, 2, 3), "output_shape": _pick(rng, None, 4)}
    return Case("", config, [q, v], positional=True, training=False)


def _attention(rng):
    q = [rng.randint(1, 2), rng.randint(2, 5), rng.randint(2, 5)]
    v = [q[0], rng.randint(2, 5), q[2]]
    return Case("", {"use_scale": rng.random() < 0.5, "score_mode": _pick(rng, "dot", "concat")}, [q, v],
                several=True)


def _image_size(rng):
    return Case("", {"height": rng.randint(2, 6), "width": rng.randint(2, 6),
                     "data_format": "channels_last"}, [[rng.randint(1, 2), rng.randint(6, 9), rng.randint(6, 9), 2]])


def _resizing(rng):
    case = _image_size(rng)
    case.config["height"], case.config["width"] = rng.randint(2, 12), rng.randint(2, 12)
    case.config["interpolation"] = _pick(rng, "bilinear", "nearest", "bicubic", "area", "lanczos3", "lanczos5")
    case.config["antialias"] = rng.random() < 0.3
    aspect = _pick(rng, None, None, "crop_to_aspect_ratio", "pad_to_aspect_ratio")
    if aspect:
        case.config[aspect] = True
    return case


def _noise(name):
    def make(rng):
        config = {"rate" if name != "GaussianNoise" else "stddev": _pick(rng, 0.1, 0.5)}
        rank = {"SpatialDropout1D": 3, "SpatialDropout2D": 4, "SpatialDropout3D": 5}.get(name)
        shape = _features(rng, rank, rank) if rank else _features(rng, 2, 4)
        return Case("", config, [shape], training=False)  # training draws random numbers: compared in inference
    return make


LAYERS = {
    "Dense": _dense, "EinsumDense": _einsum, "Embedding": _embedding,
    "Conv1D": _conv(1), "Conv2D": _conv(2), "Conv3D": _conv(3),
    "Conv1DTranspose": _conv(1, transpose=True), "Conv2DTranspose": _conv(2, transpose=True),
    "Conv3DTranspose": _conv(3, transpose=True),
    "SeparableConv1D": _conv(1, separable=True), "SeparableConv2D": _conv(2, separable=True),
    "DepthwiseConv1D": _conv(1, depthwise=True), "DepthwiseConv2D": _conv(2, depthwise=True),
    **{f"{kind}Pooling{r}D": _pooling(r, kind) for kind in ("Max", "Average") for r in (1, 2, 3)},
    **{f"Global{kind}Pooling{r}D": _global(r) for kind in ("Max", "Average") for r in (1, 2, 3)},
    "BatchNormalization": _batch_norm, "LayerNormalization": _layer_norm, "GroupNormalization": _group_norm,
    "UnitNormalization": _activation(lambda rng: {"axis": -1}),
    "ReLU": _activation(lambda rng: {"max_value": _pick(rng, None, 6.0), "negative_slope": _pick(rng, 0.0, 0.1),
                                     "threshold": _pick(rng, 0.0, 0.5)}),
    "LeakyReLU": _activation(lambda rng: {"negative_slope": _pick(rng, 0.3, 0.01)}),
    "ELU": _activation(lambda rng: {"alpha": _pick(rng, 1.0, 0.5)}),
    "Softmax": _activation(lambda rng: {"axis": _pick(rng, -1, 1)}),
    "Activation": _activation(lambda rng: {"activation": _pick(rng, "relu", "tanh", "sigmoid", "swish", "gelu",
                                                               "softplus", "elu", "selu", "hard_sigmoid")}),
    "PReLU": _prelu,
    **{name: _merge(name) for name in ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum",
                                       "Concatenate")},
    "Dot": _dot,
    "Flatten": _activation(lambda rng: {}), "Reshape": _reshape, "Permute": _permute,
    "RepeatVector": lambda rng: Case("", {"n": rng.randint(1, 4)}, [[rng.randint(1, 3), rng.randint(1, 5)]]),
    **{f"Cropping{r}D": _crop(r) for r in (1, 2, 3)}, **{f"ZeroPadding{r}D": _pad(r) for r in (1, 2, 3)},
    **{f"UpSampling{r}D": _upsample(r) for r in (1, 2, 3)},
    "Rescaling": _activation(lambda rng: {"scale": _pick(rng, 1 / 255, 2.0), "offset": _pick(rng, 0.0, -1.0)}),
    "Resizing": _resizing, "CenterCrop": _image_size, "Identity": _activation(lambda rng: {}),
    "MultiHeadAttention": _mha, "Attention": _attention,
    **{name: _noise(name) for name in sorted(RANDOM)},
}

# Arguments an invalid case replaces, per layer (the first that the layer's config has).
BAD_VALUES = [0, -1, 1.5, "x", None, True, (), (1, 2, 3, 4)]
AXES = ("axis", "dims", "groups")
# TensorFlow's CPU kernels that do not exist (its refusal says nothing of the configuration).
TF_CANNOT = ("only supports NHWC", "only supports NDHWC", "is not supported on CPU", "No OpKernel was registered",
             "Could not find device for node")  # also given 99: past the input's axes
ARGUMENTS = ("filters", "kernel_size", "strides", "units", "pool_size", "padding", "data_format", "dilation_rate",
             "axis", "groups", "cropping", "size", "target_shape", "dims", "n", "num_heads", "key_dim", "rate",
             "output_dim", "input_dim", "depth_multiplier", "momentum", "activation", "height", "width",
             "interpolation", "output_padding", "equation", "score_mode", "negative_slope", "max_value")


def valid_case(name, rng):
    case = LAYERS[name](rng)
    case.layer = name
    if name in TRAINING and name not in RANDOM and name not in ("MultiHeadAttention",):
        case.training = case.training or rng.random() < 0.5
    return case


def invalid_case(name, rng):
    case = valid_case(name, rng)
    arguments = [a for a in ARGUMENTS if a in case.config]
    if not arguments:
        return None
    argument = rng.choice(arguments)
    case.config = {**case.config, argument: rng.choice(BAD_VALUES + [99] * (argument in AXES))}
    return case


# ----------------------------------------------------------------------------- the two sides
def keras_side(reference, layer, config, inputs, weights, upstream, training, several, positional, dtype):
    """Keras's layer on ``inputs``: its output, input and weight gradients, weights before and after
    (run in a TensorFlow worker). ``weights``: None to keep Keras's initial ones."""
    import tensorflow as tf
    if reference == "keras":
        import keras as mod
    else:
        import tf_keras as mod
    try:
        built = getattr(mod.layers, layer)(**config, dtype=dtype)
        xs = [tf.constant(x) for x in inputs]
        args = (xs,) if several else tuple(xs) if positional else (xs[0],)
        built(*args)  # build
        if weights is not None:
            built.set_weights(weights)
        before = [w.numpy() for w in built.weights]
        kwargs = {"training": training} if layer in TRAINING else {}
        with tf.GradientTape() as tape:
            tape.watch([x for x in xs if x.dtype.is_floating])
            y = built(*args, **kwargs)
            loss = tf.reduce_sum(tf.cast(y, upstream.dtype) * upstream) if y.dtype.is_floating else None
        sources = [x for x in xs if x.dtype.is_floating] + list(built.trainable_weights)
        try:
            grads = tape.gradient(loss, sources) if loss is not None else [None] * len(sources)
        except LookupError:  # no gradient in TensorFlow (ResizeArea): the forward is compared
            grads, no_gradient = [None] * len(sources), True
        else:
            no_gradient = False
        grads = [None if g is None else tf.convert_to_tensor(g).numpy() for g in grads]
        n = len([x for x in xs if x.dtype.is_floating])
        trainable = {id(w) for w in built.trainable_weights}
        order = [i for i, w in enumerate(built.weights) if id(w) in trainable]
        return {"y": y.numpy(), "dx": grads[:n], "dw": dict(zip(order, grads[n:])), "before": before,
                "names": [w.name for w in built.weights], "no_gradient": no_gradient,
                "after": [w.numpy() for w in built.weights]}
    except Exception as e:  # noqa: BLE001 - Keras's refusal is the result
        return {"error": f"{type(e).__name__}: {str(e)[:300]}"}


def _torch_run(built, layer, inputs, weights, upstream, training, several, positional, gradients):
    """``built`` (a torch-side layer: kcompat's, or Keras 3's on torch) built on ``inputs``, given
    ``weights``, called (``training`` where the layer takes it), and back-propagated from
    ``upstream``; ``gradients(built)`` gives the weight gradients by weight index."""
    import torch

    xs = [torch.tensor(x) for x in inputs]
    for x in xs:
        if x.is_floating_point():
            x.requires_grad_(True)
    args = (xs,) if several else tuple(xs) if positional else (xs[0],)
    with torch.no_grad():
        built(*args)  # build as Keras does, on a first call
    if weights:
        built.set_weights(weights)
    if hasattr(built, "keras_grads"):  # kcompat's: the module's mode is Keras's training flag
        built.train(bool(training))
    y = built(*args, **({"training": training} if layer in TRAINING else {}))
    dx, dw = [None] * len(xs), {}
    if y.is_floating_point() and upstream is not None:
        (y.to(torch.float64) * torch.tensor(upstream, dtype=torch.float64)).sum().backward()
        dx = [None if x.grad is None else x.grad.numpy() for x in xs if x.is_floating_point()]
        dw = gradients(built)
    return {"y": y.detach().numpy(), "dx": dx, "dw": dw, "after": [np.asarray(w) for w in built.get_weights()]}


def keras_torch_side(layer, config, inputs, weights, upstream, training, several, positional, dtype):
    """Keras 3's layer on its torch backend (a worker with ``KERAS_BACKEND=torch``), as
    :func:`keras_side` reports it: the referee where Keras's TensorFlow backend and kcompat differ."""
    import keras

    def gradients(built):
        trainable = {id(w) for w in built.trainable_weights}
        return {i: None if w.value.grad is None else w.value.grad.detach().numpy()
                for i, w in enumerate(built.weights) if id(w) in trainable}
    try:
        built = getattr(keras.layers, layer)(**config, dtype=dtype)
        return _torch_run(built, layer, inputs, weights, upstream, training, several, positional, gradients)
    except Exception as e:  # noqa: BLE001
        return {"error": f"{type(e).__name__}: {str(e)[:300]}"}


def kcompat_side(layer, config, inputs, weights, upstream, training, several, positional, dtype, keras2=False):
    """kcompat's layer with Keras's weights, as :func:`keras_side` reports Keras's. ``keras2``: made
    as a layer of a Keras 2 model is (where Keras 2's arithmetic differs)."""
    import contextlib

    import kcompat.layers as L
    from kcompat.layers.base import keras2_names

    def gradients(built):
        return {i: None if g is None else g.numpy() for i, g in enumerate(built.keras_grads())}
    try:
        with keras2_names() if keras2 else contextlib.nullcontext():
            built = getattr(L, layer)(**config, dtype=dtype)
        return _torch_run(built, layer, inputs, weights, upstream, training, several, positional, gradients)
    except Exception as e:  # noqa: BLE001 - a refusal is the result; its type is judged
        return {"error": f"{type(e).__name__}: {str(e)[:300]}", "type": type(e).__name__}


# ----------------------------------------------------------------------------- judging
def error(a, b):
    """Largest difference of two arrays relative to the larger's scale (inf where shapes differ)."""
    if a is None or b is None:
        return 0.0 if a is None and b is None else float("inf")
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        return float("inf")
    if a.size == 0:
        return 0.0
    if not (np.isfinite(a) == np.isfinite(b)).all() or (a[~np.isfinite(a)] != b[~np.isfinite(b)]).any():
        return float("inf")
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    # Relative to the larger's scale, absolute below 1 (inputs are O(1)): a gradient that is zero in
    # exact arithmetic (a key bias's) is rounding noise on both sides, not a relative difference.
    scale = max(np.abs(a).max(initial=0), np.abs(b).max(initial=0), 1.0)
    return float(np.abs(a - b).max(initial=0) / scale)


def worst(ours, theirs, keys=("y", "dx", "dw", "after")):
    """``(largest error, where)`` over every compared array."""
    pairs = [("y", ours["y"], theirs["y"])]
    pairs += [(f"dx{i}", a, b) for i, (a, b) in enumerate(zip(ours["dx"], theirs["dx"]))]
    pairs += [(f"dw{i}", ours["dw"].get(i), b) for i, b in theirs["dw"].items() if b is not None]
    pairs += [(f"after{i}", a, b) for i, (a, b) in enumerate(zip(ours["after"], theirs["after"]))]
    errors = [(error(a, b), name) for name, a, b in pairs if name.rstrip("0123456789") in keys]
    return max(errors, default=(0.0, ""))


@dataclass
class Report:
    seed: int
    counts: dict = field(default_factory=lambda: {"valid": 0, "invalid": 0, "agree": 0, "both refuse": 0,
                                                  "judged in float64": 0, "kcompat only refuses": 0,
                                                  "kcompat stricter": 0, "TensorFlow cannot compute": 0,
                                                  "Keras's TensorFlow backend differs, its torch backend agrees": 0})
    failures: list = field(default_factory=list)
    stricter: list = field(default_factory=list)  # invalid cases Keras takes and kcompat refuses, by name
    backend: list = field(default_factory=list)  # where Keras on torch sides with kcompat against Keras on TF


def _inputs(case, rng):
    out = []
    for shape in case.shapes:
        if case.integer_input:
            out.append(rng.integers(0, case.config.get("input_dim", 2) if isinstance(
                case.config.get("input_dim"), int) and case.config["input_dim"] > 0 else 2, size=shape).astype("int32"))
        else:
            out.append(rng.standard_normal(shape).astype("float32"))
    return out


def _flavour(case):
    """The TF worker to ask: the default kernel for transposed convolutions whose kernel is
    smaller than a stride (oneDNN's corrupts the heap there), oneDNN elsewhere (channels_first)."""
    if "Transpose" in case.layer and isinstance(case.config.get("kernel_size"), tuple) and isinstance(
            case.config.get("strides"), tuple):
        try:
            if any(k < s for k, s in zip(case.config["kernel_size"], case.config["strides"])):
                return "eigen"
        except TypeError:
            return "eigen"
    return "onednn"


def for_reference(case, reference):
    """``case`` as ``reference`` spells it: Keras 2 names LeakyReLU's slope ``alpha`` and has no
    ``data_format`` on Resizing and CenterCrop."""
    config = dict(case.config)
    if reference == "tf_keras":
        if case.layer == "LeakyReLU" and "negative_slope" in config:
            config["alpha"] = config.pop("negative_slope")
        if case.layer == "BatchNormalization":  # kcompat reproduces Keras 3's renorm only
            for key in ("renorm", "renorm_momentum", "renorm_clipping"):
                config.pop(key, None)
        if case.layer in ("Resizing", "CenterCrop"):  # Keras 2's Resizing: no padding, no antialias
            for key in ("data_format", "pad_to_aspect_ratio", "antialias"):
                config.pop(key, None)
    return Case(case.layer, config, case.shapes, case.integer_input, case.training, case.several, case.positional)


def _names_argument(error, case):
    """Whether a refusal names an argument of the case (a clear error, as Keras words one)."""
    return any(f"`{a}`" in error or f"{a}=" in error or f"'{a}'" in error for a in case.config)


def run_case(case, reference, oracle, rng, report, valid):
    from kcompat.testing.tf_oracle import WorkerCrashed

    case = for_reference(case, reference)
    inputs = _inputs(case, rng)
    arguments = dict(reference=reference, layer=case.layer, config=case.config, inputs=inputs,
                     training=case.training, several=case.several, positional=case.positional)
    try:
        # First Keras's initial weights and output shape, then the call with an upstream of that shape.
        probe = oracle.call(_flavour(case), keras_side, weights=None, upstream=np.float32(0), dtype="float32",
                            **arguments)
        if "error" in probe:
            theirs = probe
        else:
            upstream = rng.standard_normal(np.shape(probe["y"])).astype("float32")
            # Random weights rather than Keras's initial ones (zero biases would hide where a bias goes).
            weights = [rng.uniform(0.5, 1.5, w.shape).astype(w.dtype) if "variance" in name else
                       (0.5 * rng.standard_normal(w.shape)).astype(w.dtype)
                       for w, name in zip(probe["before"], probe["names"])]
            theirs = oracle.call(_flavour(case), keras_side, weights=weights, upstream=upstream,
                                 dtype="float32", **arguments)
    except WorkerCrashed as e:
        report.failures.append((case, reference, f"TensorFlow crashed: {e}"))
        return
    upstream = None if "error" in theirs else upstream
    ours = kcompat_side(case.layer, case.config, inputs, None if "error" in theirs else theirs["before"], upstream,
                        case.training, case.several, case.positional, "float32", keras2=reference == "tf_keras")
    if "error" in theirs and any(words in theirs["error"] for words in TF_CANNOT):
        report.counts["TensorFlow cannot compute"] += 1  # its CPU kernels lack the case: nothing to compare
        return
    if "error" in theirs and "error" in ours:
        report.counts["both refuse"] += 1
        if ours["type"] not in ("ValueError", "TypeError", "NotImplementedError"):
            report.failures.append((case, reference, f"kcompat refuses with a raw {ours['error']} (Keras: "
                                                     f"{theirs['error']})"))
        return
    if "error" in theirs:
        report.failures.append((case, reference, f"Keras refuses ({theirs['error']}), kcompat accepts"))
        return
    if "error" in ours:
        if "kcompat" in ours["error"] and ours["type"] in ("ValueError", "NotImplementedError"):
            report.counts["kcompat only refuses"] += 1  # a documented limitation, named in the error
        elif not valid and ours["type"] in ("ValueError", "TypeError") and _names_argument(ours["error"], case):
            report.counts["kcompat stricter"] += 1  # Keras takes a degenerate value (True as 1, ...)
            report.stricter.append((case, reference, ours["error"]))
        else:
            report.failures.append((case, reference, f"kcompat refuses: {ours['error']}"))
        return
    keys = ("y",) if case.layer in RANDOM else ("y", "after") if theirs.get("no_gradient") else ("y", "dx", "dw", "after")
    err, where = worst(ours, theirs, keys)
    if err <= FLOAT32_RTOL:
        report.counts["agree"] += 1
        return
    report.counts["judged in float64"] += 1
    verdict = judge(case, reference, oracle, inputs, theirs, ours, upstream, keys)
    if verdict == "TF-BACKEND":
        report.counts["Keras's TensorFlow backend differs, its torch backend agrees"] += 1
        report.backend.append((case, reference, f"{where} differs by {err:.2e}"))
    elif verdict:
        report.failures.append((case, reference, f"{where} differs by {err:.2e}: {verdict}"))
    else:
        report.counts["agree"] += 1


def judge(case, reference, oracle, inputs, theirs, ours, upstream, keys):
    """None where float64 clears kcompat, else why not."""
    wide = [x.astype("float64") if x.dtype == np.float32 else x for x in inputs]
    weights = [w.astype("float64") for w in theirs["before"]]
    arguments = dict(layer=case.layer, config=case.config, inputs=wide, weights=weights,
                     upstream=upstream.astype("float64"), training=case.training, several=case.several,
                     positional=case.positional, dtype="float64")
    truth = oracle.call("eigen", keras_side, reference=reference, **arguments)
    ours64 = kcompat_side(**arguments, keras2=reference == "tf_keras")
    if "error" in ours64:
        return f"kcompat fails in float64: {ours64['error']}"
    if "error" in truth:  # TensorFlow has no float64 kernel here: kcompat's float64 is the referee
        truth = ours64
    elif worst(ours64, truth, keys)[0] > 1e-6:
        if reference == "keras":
            # Keras 3 on its torch backend referees: where it sides with kcompat, the difference
            # is Keras's TensorFlow backend's (ops.add's bias_add shortcut adds a (1, C, 1) bias
            # on the last axis when that axis is C long too).
            peer = oracle.call("keras-torch", keras_torch_side, **arguments)
            if "error" not in peer and worst(ours64, peer, keys)[0] <= 1e-6:
                return "TF-BACKEND"
        return f"float64 disagrees too ({worst(ours64, truth, keys)[0]:.2e} at {worst(ours64, truth, keys)[1]})"
    ours_err, theirs_err = worst(ours, truth, keys)[0], worst(theirs, truth, keys)[0]
    if ours_err <= max(10 * theirs_err, FLOAT32_RTOL):
        return None  # TensorFlow's float32 is as far from the truth (or further)
    return f"kcompat float32 is {ours_err:.2e} from float64, TensorFlow {theirs_err:.2e}"


def fuzz(seed, valid=10, invalid=2, references=("keras", "tf_keras"), layers=None, oracle=None, stream=None):
    """Run ``valid`` + ``invalid`` cases per layer and reference; a :class:`Report`."""
    from kcompat.testing.tf_oracle import default_oracle

    oracle = oracle or default_oracle()
    report = Report(seed)
    rng, data = random.Random(seed), np.random.default_rng(seed)
    for name in layers or LAYERS:
        for reference in references:
            for _ in range(valid):
                report.counts["valid"] += 1
                run_case(valid_case(name, rng), reference, oracle, data, report, True)
            for _ in range(invalid):
                case = invalid_case(name, rng)
                if case is not None:
                    report.counts["invalid"] += 1
                    run_case(case, reference, oracle, data, report, False)
        if stream:
            print(f"{name}: {len(report.failures)} failures so far", file=stream, flush=True)
    return report


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=None, help="default: from the clock (printed)")
    parser.add_argument("--valid", type=int, default=10, help="valid cases per layer and reference")
    parser.add_argument("--invalid", type=int, default=2, help="invalid cases per layer and reference")
    parser.add_argument("--reference", action="append", choices=["keras", "tf_keras"])
    parser.add_argument("--layer", action="append", choices=sorted(LAYERS))
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else int(time.time()) % 100000
    print(f"seed {seed}", flush=True)
    report = fuzz(seed, args.valid, args.invalid, tuple(args.reference or ("keras", "tf_keras")), args.layer,
                  stream=sys.stderr)
    print(report.counts)
    for case, reference, why in report.backend:
        print(f"tf-backend {reference} {case.layer} {case.config} {case.shapes}: {why}")
    for case, reference, why in report.stricter:
        print(f"stricter {reference} {case.layer} {case.config}: {why[:160]}")
    for case, reference, why in report.failures:
        print(f"FAIL {reference} {case.layer} {case.config} {case.shapes}: {why}")
    return 1 if report.failures else 0


if __name__ == "__main__":
    # Run as the module ``fuzz_layers`` so that the TensorFlow workers find keras_side by this file.
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import fuzz_layers

    sys.exit(fuzz_layers.main())
