"""The layers around the transposed convolution: kcompat against its best plain-torch port,
TensorFlow and Keras 3 on torch, on realistic shapes (``python scripts/bench.py --around``).

Per row, forward (no grad) and forward+backward, interleaved in one process as the main
benchmark does (:func:`bench._interleaved`, ratios per round, median ± 2 standard errors):

- ``kcompat``: the kcompat layer on NHWC (channels_last) input, as Keras lays it out;
- ``torch-port``: what a torch user writes at best for the same numbers: the functional op on
  the channels_last view (``x.permute(0, 3, 1, 2)``, no copy), TF's padding by ``F.pad`` only
  where it is asymmetric, inference BatchNormalization as one ``F.batch_norm``;
- ``torch-module``: that port held as a ``torch.nn.Module`` (what a model holding its layers
  pays: a module call costs about 4% of a 1 ms op here, torch's own ``nn.LeakyReLU`` against
  ``F.leaky_relu`` as much as kcompat's layer against it);
- ``tf-function``: the tf_keras layer in ``tf.function``;
- ``keras3-torch``: Keras 3's layer on its torch backend.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

import kcompat


def _cl(x):
    return x.permute(0, 3, 1, 2) if x.dim() == 4 else x.permute(0, 2, 1)


def _back(y):
    return y.permute(0, 2, 3, 1) if y.dim() == 4 else y.permute(0, 2, 1)


def _ports():
    """``[(row name, kcompat layer, input shape, port(layer) -> fn, training)]``."""
    def conv(pads, padding=0):
        """TF's 'same' as a torch user ports it: ``F.pad`` where asymmetric, else torch's padding."""
        def port(layer):
            op = F.conv2d if layer.rank == 2 else F.conv1d
            return lambda x: _back(op(F.pad(_cl(x), pads) if pads else _cl(x), layer.weight, layer.bias,
                                      layer.strides, padding))
        return port

    def bn_inference(layer):
        return lambda x: _back(F.batch_norm(_cl(x), layer.running_mean, layer.running_var, layer.weight, layer.bias,
                                            False, 0.0, layer.epsilon))

    def bn_training(layer):
        def port(x):
            x = _cl(x)
            with torch.no_grad():
                var, mean = torch.var_mean(x, dim=(0, 2, 3), unbiased=False)
                layer.running_mean.mul_(0.99).add_(mean * 0.01)
                layer.running_var.mul_(0.99).add_(var * 0.01)
            return _back(F.batch_norm(x, None, None, layer.weight, layer.bias, True, 0.0, layer.epsilon))
        return port

    return [
        ("unet Conv2D 64x64x64->128 k3s2 same", kcompat.Conv2D(128, 3, 2, "same"), (8, 64, 64, 64),
         conv([0, 1, 0, 1]), None),
        ("unet Conv2D 32x32x128->128 k3s1 same", kcompat.Conv2D(128, 3, 1, "same"), (8, 32, 32, 128),
         conv(None, 1), None),
        ("ae Conv1D 288x32->16 k7s2 same", kcompat.Conv1D(16, 7, 2, "same"), (32, 288, 32), conv([2, 3]), None),
        ("BatchNorm 32x32x128 inference", kcompat.BatchNormalization(), (16, 32, 32, 128), bn_inference, False),
        ("BatchNorm 32x32x128 training", kcompat.BatchNormalization(), (16, 32, 32, 128), bn_training, True),
        ("Dense 1024->1024", kcompat.Dense(1024), (64, 1024), lambda layer: lambda x: F.linear(
            x, layer.weight, layer.bias), None),
        ("MaxPooling2D 64x64x64 same", kcompat.MaxPooling2D(padding="same"), (16, 64, 64, 64),
         lambda layer: lambda x: _back(F.max_pool2d(_cl(x), 2)), None),
        ("UpSampling2D 32x32x128", kcompat.UpSampling2D(), (16, 32, 32, 128),
         lambda layer: lambda x: _back(F.interpolate(_cl(x), scale_factor=2, mode="nearest")), None),
        ("LeakyReLU 32x32x128", kcompat.LeakyReLU(0.2), (16, 32, 32, 128),
         lambda layer: lambda x: F.leaky_relu(x, 0.2), None),
        ("Concatenate 2x 32x32x64", kcompat.Concatenate(), [(16, 32, 32, 64)] * 2,
         lambda layer: lambda xs: torch.cat(xs, -1), None),
    ]


class _Module(torch.nn.Module):
    """A port as a model holds it: a module whose forward is the port."""

    def __init__(self, port):
        super().__init__()
        self.port = port

    def forward(self, x):
        return self.port(x)


def _tf(layer, inputs, training):
    try:
        import tensorflow as tf
        import tf_keras
    except ImportError:
        return {}
    config = layer.get_config()
    skip = ("initializer", "regularizer", "constraint", "quantization", "renorm", "synchronized", "dtype", "name")
    args = {k: v for k, v in config.items() if not any(word in k for word in skip)}
    if "negative_slope" in args:  # Keras 2's word
        args["alpha"] = args.pop("negative_slope")
    theirs = getattr(tf_keras.layers, type(layer).__name__)(**args)
    xs = [tf.constant(x.detach().numpy()) for x in inputs]
    arg = xs if len(xs) > 1 else xs[0]
    theirs(arg)
    if layer.get_weights():
        theirs.set_weights(layer.get_weights())
    kwargs = {} if training is None else {"training": training}

    def step():
        with tf.GradientTape() as tape:
            for x in xs:
                tape.watch(x)
            y = theirs(arg, **kwargs)
        return [y] + tape.gradient(y, xs + theirs.trainable_weights)

    fwd, both = tf.function(lambda: theirs(arg, **kwargs)), tf.function(step)
    return {"tf-function": (lambda: fwd().numpy(), lambda: [t.numpy() for t in both()])}


def _keras3_torch(layer, inputs, training):
    try:
        import keras
    except ImportError:
        return {}
    if keras.backend.backend() != "torch":
        return {}
    config = layer.get_config()
    theirs = getattr(keras.layers, type(layer).__name__).from_config(config)
    arg = list(inputs) if len(inputs) > 1 else inputs[0]
    theirs(arg)
    if layer.get_weights():
        theirs.set_weights(layer.get_weights())
    return _pair(lambda a: theirs(a, **({} if training is None else {"training": training})), inputs, ())


def _pair(fn, inputs, params):
    grads = [x.detach().clone().requires_grad_() for x in inputs]
    arg = grads if len(grads) > 1 else grads[0]
    g = torch.randn_like(fn(arg))

    def forward():
        with torch.no_grad():
            fn(list(inputs) if len(inputs) > 1 else inputs[0])

    def both():
        for t in (*grads, *params):
            t.grad = None
        fn(arg).backward(g)

    return forward, both


def implementations(layer, shape, port, training):
    """``{name: (forward(), forward_backward())}`` for one row, all on the same weights."""
    rng = np.random.default_rng(0)
    shapes = shape if isinstance(shape, list) else [shape]
    inputs = [torch.tensor(rng.standard_normal(s), dtype=torch.float32) for s in shapes]
    if layer.WEIGHTS:
        layer.build(shape)
    params = list(layer.parameters())
    with torch.no_grad():
        for p in params:
            p.normal_(0, 0.1)
    if training is None:
        layer.eval()
    ours = (lambda a: layer(a)) if training is None else (lambda a: layer(a, training=training))
    ported = port(layer)
    arg = inputs if len(inputs) > 1 else inputs[0]
    with torch.no_grad():
        state = [b.clone() for b in layer.buffers()]
        expected = ported(arg)
        for b, saved in zip(layer.buffers(), state):  # a training BatchNorm's port updates them too
            b.copy_(saved)
        if not torch.allclose(ours(arg), expected, rtol=1e-5, atol=1e-5):
            raise AssertionError(f"the torch port of {type(layer).__name__} computes other numbers than kcompat")
    out = {"kcompat": _pair(ours, inputs, params), "torch-port": _pair(ported, inputs, params),
           "torch-module": _pair(_Module(ported), inputs, params)}
    out.update(_tf(layer, inputs, training))
    keras3 = _keras3_torch(layer, inputs, training)
    if keras3:
        out["keras3-torch"] = keras3
    return out


def rows():
    """The rows: ``[(name, implementations)]``."""
    return [(name, implementations(layer, shape, port, training)) for name, layer, shape, port, training in _ports()]


def round_ratios(ms):
    """One round's ratios (``ms``: implementation -> seconds)."""
    out = {"kcompat/torch-port": ms["kcompat"] / ms["torch-port"],
           "kcompat/torch-module": ms["kcompat"] / ms["torch-module"]}
    if "tf-function" in ms:
        out["kcompat/tensorflow"] = ms["kcompat"] / ms["tf-function"]
    if "keras3-torch" in ms:
        out["keras3-torch/kcompat"] = ms["keras3-torch"] / ms["kcompat"]
    return out
