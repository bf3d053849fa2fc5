"""Parity for the layers around the transposed convolution (Dense, Conv2D, BatchNormalization,
pooling, reshaping, merging, ...): one kcompat layer against the same Keras layer run by
TensorFlow, on the same weights and inputs.

Compared: the output, the gradients of ``sum(output * upstream)`` for every input and every
trainable weight, the weights after the call (a training BatchNormalization's moving
statistics) and the output shape. Where TensorFlow's CPU kernels cannot run a configuration
the comparison says so and routes around it: channels_first convolution and pooling run on
the channels_last equivalent (transposed back); float64 3-D pooling and resizing, which
TensorFlow computes in float32 only, are judged at float32's tolerance.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from . import tf_calls, tolerance
from .result import ParityResult, short_error

__all__ = ["check_case", "check_layer", "random_weights", "NCHW_ON_CPU_REFUSED", "TF_COMPUTES_IN_FLOAT32"]

# TF's CPU kernels take NHWC only for these
NCHW_ON_CPU_REFUSED = ("Conv", "DepthwiseConv", "SeparableConv", "MaxPooling", "AveragePooling")
TF_COMPUTES_IN_FLOAT32 = ("MaxPooling3D", "AveragePooling3D", "UpSampling2D", "Resizing")  # no float64 kernel / resize
TOLERANCES = {"float32": 1e-5, "float64": 1e-12}


def random_weights(names_and_shapes, dtype, rng):
    """Random weights of the given Keras shapes; variances positive (``abs + 0.5``)."""
    out = []
    for name, shape in names_and_shapes:
        if name == "count":  # Normalization's int64 sample count
            out.append(np.asarray(rng.integers(1, 100, shape), np.int64))
            continue
        value = rng.standard_normal(shape).astype(dtype)
        out.append(np.abs(value) + 0.5 if "variance" in name else value)
    return out


def _moved(theirs):
    for key in ("output", "grad"):
        if key in theirs:
            theirs[key] = np.moveaxis(theirs[key], -1, 1)
    shape = theirs["output_shape"]
    theirs["output_shape"] = (shape[0], shape[-1], *shape[1:-1])
    return theirs


def _tensorflow(oracle, reference, name, config, shape, x, upstream, weights, training, dtype):
    """What TensorFlow computes, routed around its CPU kernels' gaps, and the dtype it is judged in."""
    tf_dtype = "float32" if dtype == "float64" and name.startswith(TF_COMPUTES_IN_FLOAT32) else dtype
    kwargs = dict(reference=reference, class_name=name, config=dict(config, dtype=tf_dtype), x=x, upstream=upstream,
                  weights=weights, training=training, input_shape=shape)
    if tf_dtype != dtype:
        kwargs.update(x=x.astype(tf_dtype), upstream=None if upstream is None else upstream.astype(tf_dtype))
    if config.get("data_format") == "channels_first" and name.startswith(NCHW_ON_CPU_REFUSED):
        kwargs["config"] = dict(kwargs["config"], data_format="channels_last")
        theirs = _moved(oracle.run(tf_calls.keras_layer, **dict(
            kwargs, x=np.moveaxis(kwargs["x"], 1, -1),
            upstream=None if upstream is None else np.moveaxis(kwargs["upstream"], 1, -1),
            input_shape=(shape[0], *shape[2:], shape[1]))))
    else:
        theirs = oracle.run(tf_calls.keras_layer, **kwargs)
    if kwargs["config"] != dict(config, dtype=dtype):
        theirs["config"] = oracle.run(tf_calls.keras_layer, reference=reference, class_name=name,
                                      config=dict(config, dtype=dtype))["config"]
    return theirs, tf_dtype


def check_layer(layer, input_shape, *, reference="keras", training=None, grads=True, seed=0, oracle=None,
                config=None) -> ParityResult:
    """Compare a kcompat layer (not a transposed convolution: :func:`~.parity.check_parity` has
    those) with Keras's, on random inputs of ``input_shape`` (batch axis included; a list of
    shapes for a merging layer) and the layer's weights (random ones if it is not built yet).

    ``training``: Keras's flag for both calls (``None``: inference). ``config``: the Keras
    arguments to build TensorFlow's layer from (default: the layer's ``get_config()``).
    Returns the :class:`~.result.ParityResult`; ``status`` ``"refused"`` when both refuse.
    """
    from .tf_oracle import TFError, default_oracle

    oracle = oracle or default_oracle()
    name = type(layer).__name__
    config = dict(layer.get_config() if config is None else config)
    config.pop("name", None)
    dtype = config.pop("dtype", None) or "float32"
    dtype = dtype if isinstance(dtype, str) else dtype.get("config", {}).get("name", "float32")
    numpy_dtype = "float64" if dtype == "float64" else "float32"
    rng = np.random.default_rng(seed)
    many = isinstance(input_shape, list)
    shapes = [tuple(s) for s in input_shape] if many else [tuple(input_shape)]
    xs = [rng.standard_normal(s).astype(numpy_dtype) for s in shapes]
    if name == "Rescaling":
        xs = [rng.integers(0, 256, s).astype(numpy_dtype) for s in shapes]
    template = ParityResult(reference, config, tuple(input_shape), dtype, "match", implementation="kcompat")
    try:
        if layer.WEIGHTS and not layer.built:
            layer.build(shapes if many else shapes[0])
            layer.set_weights(random_weights(zip(layer.weight_names(), [w.shape for w in layer.get_weights()]),
                                             numpy_dtype, rng))
        out_shape = layer.compute_output_shape(shapes if many else shapes[0])
    except (ValueError, TypeError) as exc:
        return replace(template, status="refuses", message=f"kcompat: {type(exc).__name__}: {exc}")
    weights = [np.asarray(w, numpy_dtype) if np.asarray(w).dtype.kind == "f" else np.asarray(w)
               for w in layer.get_weights()] or None
    upstream = rng.standard_normal(out_shape).astype(numpy_dtype) if grads else None
    try:
        theirs, judged = _tensorflow(oracle, reference, name, config, shapes if many else shapes[0],
                                     xs if many else xs[0], upstream, weights, training, dtype)
    except TFError as exc:
        return replace(template, status="accepts", message=f"TensorFlow: {short_error(exc)}")
    inputs = [torch.tensor(a, requires_grad=grads) for a in xs]
    was_training = layer.training
    layer.train(bool(training))
    try:
        y = layer(inputs if many else inputs[0], **({} if training is None else {"training": training}))
    finally:
        layer.train(was_training)
    differences = []
    rtol = TOLERANCES.get(judged, 1e-2)
    if tuple(y.shape) != tuple(theirs["output_shape"]) or tuple(y.shape) != theirs["output"].shape:
        return replace(template, status="mismatch", message=f"output shape {tuple(y.shape)} != TensorFlow's "
                       f"{theirs['output'].shape} (compute_output_shape {tuple(theirs['output_shape'])})")
    differences.append(tolerance.compare("output", y.detach().numpy(), theirs["output"], rtol, None))
    if grads:
        (y * torch.tensor(upstream)).sum().backward()
        their_grads = theirs["grad"] if many else [theirs["grad"]]
        for i, (x, g) in enumerate(zip(inputs, their_grads)):
            differences.append(tolerance.compare(f"d_input{i if many else ''}", x.grad.numpy(), g, rtol, None))
        names = layer.weight_names() if layer.WEIGHTS else []
        for weight, ours, g in zip(names, layer.keras_grads(), theirs.get("weight_grads", [])):
            if ours is not None and g is not None:  # buffers (moving statistics) have no gradient
                differences.append(tolerance.compare(f"d_{weight}", ours.numpy(), g, rtol, None))
    names = layer.weight_names() if layer.WEIGHTS else []
    for weight, ours, after in zip(names, layer.get_weights(), theirs["weights_after"]):
        differences.append(tolerance.compare(f"{weight} after", ours, after, rtol, None))
    layer.zero_grad(set_to_none=True)
    notes = () if judged == dtype else (f"TensorFlow computes {name} in float32 only: judged at float32's "
                                        "tolerance",)
    ok = all(d.ok for d in differences)
    return replace(template, status="match" if ok else "mismatch", differences=tuple(differences), notes=notes)



def check_case(case, reference="keras", dtype="float32", oracle=None) -> ParityResult:
    """One :class:`~kcompat.harness.layer_grid.LayerCase`: kcompat's layer built from the config
    Keras itself writes for the case's arguments (a Keras 2 config for ``"tf_keras"``, so Keras
    2's semantics), compared by :func:`check_layer` with a seed of the case's own."""
    import zlib

    from .. import layers
    from .tf_oracle import TFError, default_oracle

    oracle = oracle or default_oracle()
    config = dict(case.config, dtype=dtype)
    try:
        theirs = oracle.run(tf_calls.keras_layer, reference=reference, class_name=case.class_name, config=config)
    except TFError as exc:
        return ParityResult(reference, config, case.input_shape, dtype, "accepts",
                            message=f"TensorFlow: {short_error(exc)}")
    layer = layers.KERAS_LAYERS[case.class_name].from_config(theirs["config"])
    return check_layer(layer, case.input_shape, reference=reference, training=case.training, config=config,
                       seed=zlib.crc32(case.id.encode()), oracle=oracle)
