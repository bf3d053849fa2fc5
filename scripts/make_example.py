"""Build the example model shipped with kcompat (``kcompat/examples/unet.keras``): a small
segmentation U-Net as Keras users write one, with its weights drawn from a fixed seed.

    python scripts/make_example.py            # rewrites kcompat/examples/unet.keras

A 32x32x3 image to 2 classes (softmax): two Conv2D/BatchNormalization/ReLU stages down with
MaxPooling2D, a bottleneck, and two stride-2 ``Conv2DTranspose`` 'same' stages up, each
concatenated with its skip connection. The transposed convolution with 'same' padding is the
layer a plain PyTorch port gets wrong (TF crops asymmetrically); the BatchNormalization moving
statistics are set away from 0 and 1 so that inference mode is a real check.
"""

from __future__ import annotations

import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
TARGET = os.path.join(HERE, "..", "kcompat", "examples", "unet.keras")


def build(keras):
    """The example U-Net, built by ``keras`` (Keras 3), its weights from seed 0."""
    L = keras.layers

    def block(x, filters, name):
        for i in (1, 2):
            x = L.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv{i}")(x)
            x = L.BatchNormalization(name=f"{name}_bn{i}")(x)
            x = L.ReLU(name=f"{name}_relu{i}")(x)
        return x

    inputs = keras.Input((32, 32, 3), name="image")
    skip1 = block(inputs, 8, "down1")
    skip2 = block(L.MaxPooling2D(name="pool1")(skip1), 16, "down2")
    x = block(L.MaxPooling2D(name="pool2")(skip2), 32, "bottom")
    x = L.Conv2DTranspose(16, 3, strides=2, padding="same", name="up2_deconv")(x)
    x = block(L.Concatenate(name="up2_concat")([x, skip2]), 16, "up2")
    x = L.Conv2DTranspose(8, 3, strides=2, padding="same", name="up1_deconv")(x)
    x = block(L.Concatenate(name="up1_concat")([x, skip1]), 8, "up1")
    outputs = L.Conv2D(2, 1, activation="softmax", name="classes")(x)
    model = keras.Model(inputs, outputs, name="example_unet")
    rng = np.random.default_rng(0)
    weights = []
    for w in model.weights:
        shape, name = tuple(w.shape), w.path
        if name.endswith("moving_variance") or name.endswith("gamma"):
            weights.append(rng.uniform(0.5, 1.5, shape).astype("float32"))
        elif name.endswith(("moving_mean", "beta", "bias")):
            weights.append(rng.normal(0.0, 0.1, shape).astype("float32"))
        else:
            fan_in = int(np.prod(shape[:-1]))
            weights.append((rng.normal(0.0, 1.0, shape) * np.sqrt(2.0 / fan_in)).astype("float32"))
    model.set_weights(weights)
    return model


def main():
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras

    model = build(keras)
    target = os.path.abspath(TARGET)
    partial = target + ".partial.keras"
    model.save(partial)
    os.replace(partial, target)
    print(f"wrote {target} ({os.path.getsize(target)} bytes, {model.count_params()} parameters)")


if __name__ == "__main__":
    sys.exit(main())
