"""Run real Keras layers and kcompat layers on the same weights and print how far apart they are.

    python scripts/compare_with_keras.py

For a handful of typical decoder/generator layers (Keras 3 and Keras 2, float32), prints the
output shape and the largest absolute and relative differences of the outputs and of the
gradients. TensorFlow runs in worker processes (kcompat.testing.tf_oracle).
"""

from __future__ import annotations

import sys

import numpy as np
import torch

import kcompat
from kcompat.testing.tf_oracle import default_oracle

LAYERS = [
    ("DCGAN 4x4->8x8", dict(filters=64, kernel_size=5, strides=2, padding="same", activation="relu"), (4, 4, 128)),
    ("U-Net up k2 s2", dict(filters=32, kernel_size=2, strides=2, padding="valid"), (16, 16, 64)),
    ("SR k3 s2 op1", dict(filters=16, kernel_size=3, strides=2, padding="same", output_padding=1), (12, 10, 32)),
    ("k4 s2 same tanh", dict(filters=3, kernel_size=4, strides=2, padding="same", activation="tanh"), (16, 16, 32)),
    ("k1 s3 (kernel < stride)", dict(filters=8, kernel_size=1, strides=3, padding="same"), (7, 5, 8)),
    ("dilated k3 d2", dict(filters=8, kernel_size=3, dilation_rate=2, padding="same"), (9, 9, 8)),
    ("channels_first k3 s2", dict(filters=8, kernel_size=3, strides=2, data_format="channels_first"), (8, 9, 7)),
]


def compare(oracle, api, config, shape, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, *shape)).astype("float32")
    layer = kcompat.Conv2DTranspose(**config)
    layer.build(x.shape)
    weights = [w.astype("float32") for w in layer.get_weights()]
    weights[1] = rng.standard_normal(weights[1].shape).astype("float32")
    layer.set_weights(weights)
    xt = torch.tensor(x, requires_grad=True)
    y = layer(xt)
    upstream = rng.standard_normal(tuple(y.shape)).astype("float32")
    (y * torch.tensor(upstream)).sum().backward()
    ref = oracle.layer_call(api, config, x, weights, upstream)
    ours = [y.detach().numpy(), xt.grad.numpy(), layer.weight.grad.permute(2, 3, 1, 0).numpy(),
            layer.bias.grad.numpy()]
    theirs = [ref["output"]] + list(ref["grads"])
    errors = [float(np.max(np.abs(a - b))) for a, b in zip(ours, theirs)]
    scale = float(np.max(np.abs(ref["output"])))
    return tuple(y.shape), errors, errors[0] / max(scale, 1e-30)


def main():
    oracle = default_oracle()
    print(f"{'layer':26s} {'api':8s} {'output shape':18s} {'max|dy|':>9s} {'rel':>9s} {'max|dx|':>9s} "
          f"{'max|dk|':>9s} {'max|db|':>9s}")
    worst = 0.0
    for label, config, shape in LAYERS:
        for api in ("keras", "tf_keras"):
            out_shape, errors, rel = compare(oracle, api, config, shape)
            worst = max(worst, rel)
            print(f"{label:26s} {api:8s} {str(out_shape):18s} {errors[0]:9.2e} {rel:9.2e} {errors[1]:9.2e} "
                  f"{errors[2]:9.2e} {errors[3]:9.2e}")
    print(f"largest relative output difference: {worst:.2e}")
    return 0 if worst < 1e-5 else 1


if __name__ == "__main__":
    sys.exit(main())
