"""Worker process that runs TensorFlow for :mod:`kcompat.testing.tf_oracle`.

Reads pickled ``(function_name, kwargs)`` requests on stdin and writes pickled
``("ok", result)`` or ``("error", (exception_type, message))`` replies on the original stdout
(fd 1 is pointed at stderr so that nothing TensorFlow prints can corrupt the protocol).
The oracle sets ``TF_ENABLE_ONEDNN_OPTS`` before starting it: TensorFlow reads it at import.
"""

from __future__ import annotations

import os
import pickle
import sys

import numpy as np

_tf = None


def tf():
    global _tf
    if _tf is None:
        import tensorflow

        _tf = tensorflow
    return _tf


def keras_module(api):
    if api == "keras":
        import keras

        return keras
    if api == "tf_keras":
        import tf_keras

        return tf_keras
    raise ValueError(f"unknown api {api!r}")


def _nhwc(a, rank):
    return np.moveaxis(a, 1, -1) if a is not None else None


def _nchw(a, rank):
    return np.moveaxis(a, -1, 1) if a is not None else None


def _at_least_float32(tensor):
    """Half-precision results come back as float32 (numpy lacks bfloat16); wider ones as they are."""
    return tf().cast(tensor, "float32") if tensor.dtype.size < 4 else tensor


def layer_call(api, config, x, weights=None, upstream=None, rewrite=False):
    """Build ``api``'s Conv2DTranspose from ``config``, load ``weights`` and call it on ``x``.

    Returns the output and, with ``upstream``, the gradients of ``sum(output * upstream)``
    with respect to the input, kernel and bias (Keras layout).

    ``rewrite=True`` computes configurations that TensorFlow's non-oneDNN CPU kernel cannot
    run (channels_first, dilation) through mathematically identical ones it can: inputs moved
    to channels_last, and a dilated kernel spelled out with zeros. The activation is then
    applied in the original layout, as the layer would.
    """
    t = tf()
    mod = keras_module(api)
    config = dict(config)
    rank = x.ndim - 2
    channels_first = config.get("data_format") == "channels_first"
    dilation = config.get("dilation_rate", 1)
    dilation = (dilation,) * rank if isinstance(dilation, int) else tuple(dilation)
    activation = None
    move = rewrite and channels_first
    dilate = rewrite and max(dilation) > 1
    if rewrite and (move or dilate):
        activation = mod.activations.get(config.get("activation"))
        config["activation"] = None
    if move:
        config["data_format"] = "channels_last"
        x, upstream = _nhwc(x, rank), _nhwc(upstream, rank)
    if dilate:
        k = config["kernel_size"]
        k = (k,) * rank if isinstance(k, int) else tuple(k)
        config["kernel_size"] = tuple((ki - 1) * d + 1 for ki, d in zip(k, dilation))
        config["dilation_rate"] = 1
        if weights is not None:
            kernel = weights[0]
            spread = np.zeros(config["kernel_size"] + kernel.shape[-2:], kernel.dtype)
            spread[tuple(slice(None, None, d) for d in dilation)] = kernel
            weights = [spread] + list(weights[1:])
    layer = mod.layers.Conv2DTranspose(**config)
    layer.build(x.shape)
    if weights is not None:
        layer.set_weights(weights)
    xt = t.constant(x)
    with t.GradientTape() as tape:
        tape.watch(xt)
        y = layer(xt)
        if move:
            y = t.experimental.numpy.moveaxis(y, -1, 1)
        if activation is not None:
            y = activation(y)
        if upstream is not None:
            g = t.cast(t.constant(_nchw(upstream, rank) if move else upstream), y.dtype)
            loss = t.reduce_sum(_at_least_float32(y * g))
    result = {"output": np.asarray(_at_least_float32(y))}
    if upstream is not None:
        grads = tape.gradient(loss, [xt] + list(layer.trainable_weights))
        grads = [np.asarray(_at_least_float32(g)) for g in grads]
        if move:
            grads[0] = _nchw(grads[0], rank)
        if dilate:
            grads[1] = grads[1][tuple(slice(None, None, d) for d in dilation)]
        result["grads"] = grads
    return result


def layer_config(api, config, input_shape=None):
    """``get_config()`` of ``api``'s layer built from ``config`` (after a build if shape given)."""
    layer = keras_module(api).layers.Conv2DTranspose(**config)
    if input_shape is not None:
        layer.build(input_shape)
    return layer.get_config()


def layer_output_shape(api, config, input_shape):
    layer = keras_module(api).layers.Conv2DTranspose(**config)
    return tuple(layer.compute_output_shape(input_shape))


def layer_construct(api, config):
    """Construct only: ``None`` if Keras accepts the arguments, else its exception."""
    keras_module(api).layers.Conv2DTranspose(**config)
    return None


def initial_weights(api, config, input_shape, repeats=1):
    """Weights a fresh layer draws, ``repeats`` times (for initializer statistics)."""
    mod = keras_module(api)
    out = []
    for _ in range(repeats):
        layer = mod.layers.Conv2DTranspose(**config)
        layer.build(input_shape)
        out.append(layer.get_weights())
    return out


def activation(api, name, x):
    return np.asarray(keras_module(api).activations.get(name)(tf().constant(x)))


def activation_names(api):
    from keras.src.activations import ALL_OBJECTS_DICT

    return sorted(ALL_OBJECTS_DICT)


def layer_losses(api, config, x, weights):
    """``layer.losses`` after one call on ``x``, as floats."""
    layer = keras_module(api).layers.Conv2DTranspose(**config)
    layer.build(x.shape)
    layer.set_weights(weights)
    layer(tf().constant(x))
    return [float(loss) for loss in layer.losses]


def constraint(api, identifier, w):
    return np.asarray(keras_module(api).constraints.get(identifier)(tf().constant(w)))


FUNCTIONS = {f.__name__: f for f in (layer_call, layer_config, layer_output_shape, layer_construct,
                                     initial_weights, activation, activation_names, layer_losses, constraint)}


def main():
    proto_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    proto_in = sys.stdin.buffer
    while True:
        try:
            name, kwargs = pickle.load(proto_in)
        except EOFError:
            return
        try:
            reply = ("ok", FUNCTIONS[name](**kwargs))
        except Exception as exc:  # the oracle re-raises it in the caller
            reply = ("error", (type(exc).__name__, str(exc)))
        pickle.dump(reply, proto_out)
        proto_out.flush()


if __name__ == "__main__":
    main()
