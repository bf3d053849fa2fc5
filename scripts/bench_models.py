"""Whole models: keras.applications' ResNet50, MobileNetV2 and EfficientNetB0 (no top, 224x224),
keras-unet-collection's U-Net with a Conv2DTranspose decoder, the TF tutorials' DCGAN generator
and pix2pix U-Net generator, one saved file each, run by kcompat, kcompat's inference form,
TensorFlow, onnxruntime and Keras 3 on torch (``python scripts/bench.py --models``).

Each model is built by Keras 3 and saved as ``.keras`` (keras-unet-collection's, Keras 2 code, by
tf_keras as ``.h5``):

- ``kcompat``: ``kcompat.load_model(file)``;
- ``kcompat-inference``: ``kcompat.optimize_for_inference(model, compile=True)`` of it (inference
  only; compiled on the untimed first call);
- ``onnxruntime``: tf2onnx's export of the tf_keras twin, run by onnxruntime's CPU provider
  (inference only; where tf2onnx and onnxruntime are installed);
- ``keras3-torch``: ``keras.saving.load_model(file)`` on Keras 3's torch backend (where Keras 3
  reads the file: not keras-unet-collection's, whose tf_keras config it refuses);
- ``tf-function``: the same architecture built by tf_keras (the tutorials' ``tf.keras``; this
  process's Keras 3 runs on torch, and tf_keras cannot read ``.keras``) with the file's weights,
  in ``tf.function``.

Forward is inference (``eval()``/``training=False``, no gradient); forward+backward is a
training step's computation (``training=True``: batch statistics, Dropout drawing), the
gradients of ``sum(y * g)`` for every weight.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np
import torch

import kcompat


def dcgan_generator(keras):
    """tensorflow.org/tutorials/generative/dcgan: ``make_generator_model``."""
    L = keras.layers
    return keras.Sequential([
        keras.Input((100,)),
        L.Dense(7 * 7 * 256, use_bias=False), L.BatchNormalization(), L.LeakyReLU(),
        L.Reshape((7, 7, 256)),
        L.Conv2DTranspose(128, (5, 5), strides=(1, 1), padding="same", use_bias=False), L.BatchNormalization(),
        L.LeakyReLU(),
        L.Conv2DTranspose(64, (5, 5), strides=(2, 2), padding="same", use_bias=False), L.BatchNormalization(),
        L.LeakyReLU(),
        L.Conv2DTranspose(1, (5, 5), strides=(2, 2), padding="same", use_bias=False, activation="tanh"),
    ], name="dcgan_generator")


def pix2pix_generator(keras):
    """tensorflow.org/tutorials/generative/pix2pix: ``Generator`` (U-Net, 256x256x3)."""
    L = keras.layers
    init = keras.initializers.RandomNormal(0.0, 0.02)

    def down(filters, batchnorm=True):
        block = keras.Sequential()
        block.add(L.Conv2D(filters, 4, strides=2, padding="same", kernel_initializer=init, use_bias=False))
        if batchnorm:
            block.add(L.BatchNormalization())
        block.add(L.LeakyReLU())
        return block

    def up(filters, dropout=False):
        block = keras.Sequential()
        block.add(L.Conv2DTranspose(filters, 4, strides=2, padding="same", kernel_initializer=init, use_bias=False))
        block.add(L.BatchNormalization())
        if dropout:
            block.add(L.Dropout(0.5))
        block.add(L.ReLU())
        return block

    inputs = L.Input(shape=[256, 256, 3])
    downs = [down(64, False), down(128), down(256), down(512), down(512), down(512), down(512), down(512)]
    ups = [up(512, True), up(512, True), up(512, True), up(512), up(256), up(128), up(64)]
    x, skips = inputs, []
    for block in downs:
        x = block(x)
        skips.append(x)
    for block, skip in zip(ups, reversed(skips[:-1])):
        x = L.Concatenate()([block(x), skip])
    x = L.Conv2DTranspose(3, 4, strides=2, padding="same", kernel_initializer=init, activation="tanh")(x)
    return keras.Model(inputs=inputs, outputs=x, name="pix2pix_generator")


def resnet50(keras):
    return keras.applications.ResNet50(weights=None, include_top=False, input_shape=(224, 224, 3))


def mobilenet_v2(keras):
    return keras.applications.MobileNetV2(weights=None, include_top=False, input_shape=(224, 224, 3))


def efficientnet_b0(keras):
    """With its preprocessing (Rescaling, Normalization) as keras.applications builds it."""
    return keras.applications.EfficientNetB0(weights=None, include_top=False, input_shape=(224, 224, 3))


def unet_collection(keras):
    """keras-unet-collection's ``unet_2d`` with a Conv2DTranspose decoder, 128x128x3 -> 2 classes
    (Keras 2 code: it builds with tf.keras, so ``keras`` must be tf_keras); ``None`` where the
    package is missing."""
    try:
        from keras_unet_collection import models
    except ImportError:
        return None
    return models.unet_2d((128, 128, 3), filter_num=[64, 128, 256, 512], n_labels=2, stack_num_down=2,
                          stack_num_up=2, activation="ReLU", output_activation="Softmax", batch_norm=True,
                          pool="max", unpool=False, name="unet_2d")


# (row, builder, batch, who saves the file: Keras 3 (.keras, a tf_keras twin built beside it) or
# tf_keras (.h5, its own twin: code written for tf.keras))
MODELS = [("ResNet50, no top (batch 2)", resnet50, 2, "keras"),
          ("MobileNetV2, no top (batch 4)", mobilenet_v2, 4, "keras"),
          ("EfficientNetB0, no top (batch 2)", efficientnet_b0, 2, "keras"),
          ("U-Net, keras-unet-collection, ConvTranspose decoder (batch 2)", unet_collection, 2, "tf_keras"),
          ("DCGAN generator (batch 64)", dcgan_generator, 64, "keras"),
          ("pix2pix U-Net generator (batch 1)", pix2pix_generator, 1, "keras")]


def _onnxruntime(twin, x):
    """onnxruntime on tf2onnx's export of the tf_keras ``twin``; ``None`` where either is missing."""
    try:
        import onnxruntime
        import tensorflow as tf
        import tf2onnx
    except ImportError:
        return None
    spec = (tf.TensorSpec((None, *x.shape[1:]), tf.float32, name="x"),)
    proto, _ = tf2onnx.convert.from_keras(twin, input_signature=spec, opset=17)
    session = onnxruntime.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return lambda: session.run(None, {"x": x}), None


def _tensorflow(model, x, g):
    import tensorflow as tf

    xt, gt = tf.constant(x), tf.constant(g)

    @tf.function
    def forward():
        return model(xt, training=False)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            y = model(xt, training=True)
            loss = tf.reduce_sum(y * gt)
        return [y] + tape.gradient(loss, model.trainable_weights)

    return lambda: forward().numpy(), lambda: [t.numpy() for t in step()]


def _torch_pair(module, x, g, train, evaluate):
    xt, gt = torch.tensor(x), torch.tensor(g)

    def forward():
        evaluate()
        with torch.no_grad():
            module(xt)

    def both():
        train()
        module.zero_grad(set_to_none=True)
        (module(xt) * gt).sum().backward()

    return forward, both


def _keras3_torch(path, x, g):
    try:
        import keras
    except ImportError:
        return None
    if keras.backend.backend() != "torch":
        return None
    try:
        model = keras.saving.load_model(path, compile=False)
    except (TypeError, ValueError):  # a tf_keras .h5 Keras 3 cannot read (Conv2DTranspose's `groups`)
        return None
    xt, gt = torch.tensor(x), torch.tensor(g)

    def forward():
        with torch.no_grad():
            model(xt, training=False)

    def both():
        for w in model.trainable_weights:
            w.value.grad = None
        (model(xt, training=True) * gt).sum().backward()

    return forward, both


def rows(directory=None, only=None):
    """``[(row name, {implementation: (forward, forward+backward)})]``, one per model (those whose
    name contains ``only``); an implementation without a training form has ``None`` there. The
    files are written to ``directory``, or to a temporary one removed once every implementation
    has loaded them (a run's files are 250 MB)."""
    if directory is None:
        with tempfile.TemporaryDirectory(prefix="kcompat-bench-models-") as directory:
            return rows(directory, only)
    import keras
    import tf_keras

    out = []
    for name, build, batch, writer in MODELS:
        if only and only not in name:
            continue
        if writer == "tf_keras":
            twin = build(tf_keras)
            if twin is None:
                continue
            path = os.path.join(directory, f"{twin.name}.h5")
            twin.save(path)
        else:
            saved = build(keras)
            path = os.path.join(directory, f"{saved.name}.keras")
            saved.save(path)
            twin = build(tf_keras)
            twin.set_weights(saved.get_weights())
        rng = np.random.default_rng(0)
        x = rng.standard_normal((batch, *twin.input_shape[1:])).astype("float32")
        g = rng.standard_normal((batch, *twin.output_shape[1:])).astype("float32")
        ours = kcompat.load_model(path)
        fast = kcompat.optimize_for_inference(ours.eval(), compile=True)
        impls = {"kcompat": _torch_pair(ours, x, g, ours.train, ours.eval),
                 "kcompat-inference": (_torch_pair(fast, x, g, fast.eval, fast.eval)[0], None),
                 "tf-function": _tensorflow(twin, x, g)}
        onnx = _onnxruntime(twin, x)
        if onnx is not None:
            impls["onnxruntime"] = onnx
        keras3 = _keras3_torch(path, x, g)
        if keras3 is not None:
            impls["keras3-torch"] = keras3
        out.append((name, impls))
    return out


def round_ratios(ms):
    """One round's ratios: kcompat and its inference form against TensorFlow and onnxruntime, Keras 3
    on torch against kcompat (the forward+backward rounds have no inference form or onnxruntime)."""
    out = {"kcompat/tensorflow": ms["kcompat"] / ms["tf-function"]}
    if "kcompat-inference" in ms:
        out["inference/tensorflow"] = ms["kcompat-inference"] / ms["tf-function"]
        if "onnxruntime" in ms:
            out["inference/onnxruntime"] = ms["kcompat-inference"] / ms["onnxruntime"]
    if "keras3-torch" in ms:
        out["keras3-torch/kcompat"] = ms["keras3-torch"] / ms["kcompat"]
    return out
