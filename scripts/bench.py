"""What does the port cost? kcompat against raw torch, TensorFlow and Keras 3's torch backend.

    python scripts/bench.py [--rounds 7] [--min-time 0.2] [--json] [--only NAME]

For each layer shape, forward and forward+backward, in one process and interleaved (every
round times every implementation once, in turn; the median over rounds is reported):

- ``kcompat-cl`` / ``kcompat-cf``: ``kcompat.Conv2DTranspose`` on NHWC / NCHW input;
- ``torch-nchw`` / ``torch-cl``: raw ``F.conv_transpose2d`` computing the same output (best
  symmetric padding, then the slice), on contiguous NCHW input / on the channels_last view;
- ``tf-eager`` / ``tf-function``: TensorFlow's Keras layer (tf_keras), eagerly and in ``tf.function``;
- ``keras3-torch``: Keras 3's layer on its torch backend (when keras is installed).

Prints medians (ms), ratios and GFLOP/s (2 * multiply-adds per second; forward+backward counts
3x the forward) against a large ``torch.mm`` measured in the same run; ``--json`` for machines.
TensorFlow and Keras 3 are imported here (never by ``import kcompat``): Keras 3 on torch needs
``KERAS_BACKEND=torch``, set before it is imported, and tf_keras is the TensorFlow Keras layer.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["KERAS_BACKEND"] = "torch"

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import kcompat  # noqa: E402
from kcompat.functional import keras_output_size, plan  # noqa: E402
from kcompat.harness.bench_layers import BENCH_LAYERS  # noqa: E402



def _timer(fn, min_time):
    """Seconds per call of ``fn``: as many calls as fit in ``min_time`` (at least 3)."""
    fn()
    calls, start = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_time and calls >= 3:
            return elapsed / calls


def _raw_torch(x_nchw, weight, bias, k, s, padding, output_padding):
    """A hand-written port at its best: torch's call with the largest symmetric padding, then the slice."""
    size = keras_output_size(tuple(x_nchw.shape[2:]), (k, k), (s, s), padding,
                             None if output_padding is None else (output_padding,) * 2, (1, 1))
    plans = plan(tuple(x_nchw.shape[2:]), size, (k, k), (s, s), padding, (1, 1))

    identity = all(p.is_identity for p in plans)  # no crop: the bias goes in torch's call

    def run(x):
        y = F.conv_transpose2d(x, weight, bias if identity else None, stride=s,
                               padding=tuple(p.padding for p in plans),
                               output_padding=tuple(p.output_padding for p in plans))
        if identity:
            return y
        y = y[:, :, plans[0].start:plans[0].start + size[0], plans[1].start:plans[1].start + size[1]]
        return y + bias.view(1, -1, 1, 1)

    return run


def implementations(shape, filters, k, s, padding, output_padding):
    """``{name: (forward(), forward_backward())}`` for one layer, all on the same weights."""
    rng = np.random.default_rng(0)
    x_nhwc = torch.tensor(rng.standard_normal(shape), dtype=torch.float32)
    x_nchw = x_nhwc.permute(0, 3, 1, 2).contiguous()
    x_cl = x_nhwc.permute(0, 3, 1, 2)  # the channels_last view: no copy
    args = dict(filters=filters, kernel_size=k, strides=s, padding=padding, output_padding=output_padding)
    layer_cl = kcompat.Conv2DTranspose(**args, in_channels=shape[-1])
    layer_cf = kcompat.Conv2DTranspose(**args, data_format="channels_first", in_channels=shape[-1])
    with torch.no_grad():
        layer_cl.bias.normal_()
    layer_cf.load_state_dict(layer_cl.state_dict())
    weight, bias = layer_cl.weight, layer_cl.bias
    out = {}

    def torch_pair(fn, x, params):
        xg = (x if x.is_contiguous() else x.permute(0, 2, 3, 1)).detach().clone().requires_grad_()
        x_in = xg if x.is_contiguous() else xg.permute(0, 3, 1, 2)  # same layout as x
        g = torch.randn_like(fn(x_in))

        def forward():
            with torch.no_grad():
                fn(x)

        def both():
            for t in (xg, *params):
                t.grad = None
            fn(x_in).backward(g)

        return forward, both

    out["kcompat-cl"] = torch_pair(layer_cl, x_nhwc, (weight, bias))
    out["kcompat-cf"] = torch_pair(layer_cf, x_nchw, (layer_cf.weight, layer_cf.bias))
    out["torch-nchw"] = torch_pair(_raw_torch(x_nchw, weight, bias, k, s, padding, output_padding), x_nchw,
                                   (weight, bias))
    out["torch-cl"] = torch_pair(_raw_torch(x_cl, weight, bias, k, s, padding, output_padding), x_cl, (weight, bias))
    out.update(_tensorflow(args, x_nhwc.numpy(), layer_cl.get_weights()))
    out.update(_keras3_torch(args, x_nhwc, layer_cl.get_weights()))
    return out


def _tensorflow(args, x, weights):
    try:
        import tensorflow as tf
        import tf_keras
    except ImportError:
        return {}
    layer = tf_keras.layers.Conv2DTranspose(**args)
    layer.build(x.shape)
    layer.set_weights(weights)
    xt = tf.constant(x)
    g = tf.constant(np.random.default_rng(1).standard_normal(layer.compute_output_shape(x.shape)), tf.float32)

    def step():
        with tf.GradientTape() as tape:
            tape.watch(xt)
            y = layer(xt)
        # y is returned too: otherwise tf.function prunes the forward computation (no gradient
        # needs it when output_gradients is given) and times the backward alone.
        return [y] + tape.gradient(y, [xt] + layer.trainable_weights, output_gradients=g)

    fwd_fn, step_fn = tf.function(lambda: layer(xt)), tf.function(step)
    return {
        "tf-eager": (lambda: layer(xt).numpy(), lambda: [t.numpy() for t in step()]),
        "tf-function": (lambda: fwd_fn().numpy(), lambda: [t.numpy() for t in step_fn()]),
    }


def _keras3_torch(args, x, weights):
    try:
        import keras
    except ImportError:
        return {}
    if keras.backend.backend() != "torch":
        return {}
    layer = keras.layers.Conv2DTranspose(**args)
    layer.build(tuple(x.shape))
    layer.set_weights(weights)
    xg = x.clone().requires_grad_()
    g = torch.randn(layer.compute_output_shape(tuple(x.shape)))

    def forward():
        with torch.no_grad():
            layer(x)

    def both():
        xg.grad = None
        layer(xg).backward(g)

    return {"keras3-torch": (forward, both)}


def matmul_gflops(min_time):
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    return 2 * 2048 ** 3 / _timer(lambda: torch.mm(a, b), min_time) / 1e9


def bench(rounds, min_time, only=None):
    rows = []
    for name, shape, config in BENCH_LAYERS:
        if only and only not in name:
            continue
        filters, k = config["filters"], config["kernel_size"]
        impls = implementations(shape, filters, k, config["strides"], config["padding"], config.get("output_padding"))
        flops = 2 * shape[0] * shape[1] * shape[2] * shape[3] * filters * k * k
        for mode, index, factor in (("forward", 0, 1), ("forward+backward", 1, 3)):
            samples = {impl: [] for impl in impls}
            for _ in range(rounds):
                for impl, fns in impls.items():
                    samples[impl].append(_timer(fns[index], min_time))
            medians = {impl: statistics.median(v) for impl, v in samples.items()}
            rows.append({"layer": name, "mode": mode, "ms": {i: m * 1e3 for i, m in medians.items()},
                         "gflops": {i: factor * flops / m / 1e9 for i, m in medians.items()}})
    return rows


def ratios(row):
    ms = row["ms"]
    kc = min(ms["kcompat-cl"], ms["kcompat-cf"])
    raw = min(ms["torch-nchw"], ms["torch-cl"])
    out = {"kcompat/raw-torch": ms["kcompat-cl"] / raw, "kcompat-best/raw-torch": kc / raw}
    if "tf-function" in ms:
        out["kcompat/tf-function"] = ms["kcompat-cl"] / ms["tf-function"]
    if "keras3-torch" in ms:
        out["keras3-torch/kcompat"] = ms["keras3-torch"] / ms["kcompat-cl"]
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds (median reported)")
    parser.add_argument("--min-time", type=float, default=0.2, help="seconds per timing sample")
    parser.add_argument("--only", help="only layers whose name contains this")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    args = parser.parse_args(argv)
    gflops = matmul_gflops(args.min_time)
    rows = bench(args.rounds, args.min_time, args.only)
    for row in rows:
        row["ratios"] = ratios(row)
    if args.json:
        print(json.dumps({"torch_threads": torch.get_num_threads(), "matmul_gflops": gflops, "rows": rows}, indent=1))
        return 0
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; torch.mm 2048^3: {gflops:.0f} GFLOP/s")
    names = list(rows[0]["ms"]) if rows else []
    header = f"{'layer':32s} {'mode':17s} " + " ".join(f"{n:>12s}" for n in names)
    print(header + "   kc/raw  kc/tf.fn  k3t/kc  kc %mm")
    for row in rows:
        r = row["ratios"]
        cells = " ".join(f"{row['ms'][n]:12.3f}" for n in names)
        print(f"{row['layer']:32s} {row['mode']:17s} {cells}   {r['kcompat/raw-torch']:6.2f}  "
              f"{r.get('kcompat/tf-function', float('nan')):8.2f}  {r.get('keras3-torch/kcompat', float('nan')):6.2f}"
              f"  {row['gflops']['kcompat-cl'] / gflops:5.0%}")
    print("ms per call (median of interleaved rounds); kc/raw: kcompat-cl vs the better raw torch layout; "
          "kc/tf.fn: vs TensorFlow tf.function; k3t/kc: Keras 3 torch backend vs kcompat; "
          "kc %mm: kcompat GFLOP/s as a share of torch.mm's")
    return 0


if __name__ == "__main__":
    sys.exit(main())
