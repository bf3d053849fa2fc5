"""The layer shapes ``scripts/bench.py`` times; the tests check each against TensorFlow."""

from __future__ import annotations

# (name, NHWC input shape, Keras config)
BENCH_LAYERS = [
    ("dcgan 4x4x512->256 k5s2 same", (16, 4, 4, 512), dict(filters=256, kernel_size=5, strides=2, padding="same")),
    ("dcgan 8x8x256->128 k5s2 same", (16, 8, 8, 256), dict(filters=128, kernel_size=5, strides=2, padding="same")),
    ("unet 32x32x256->128 k2s2 valid", (4, 32, 32, 256), dict(filters=128, kernel_size=2, strides=2, padding="valid")),
    ("unet 64x64x128->64 k3s2 same", (4, 64, 64, 128), dict(filters=64, kernel_size=3, strides=2, padding="same")),
    ("latency 8x8x16->16 k3s1 same", (1, 8, 8, 16), dict(filters=16, kernel_size=3, strides=1, padding="same")),
    ("sr 16x16x64->64 k3s2 same op1", (8, 16, 16, 64),
     dict(filters=64, kernel_size=3, strides=2, padding="same", output_padding=1)),
]
