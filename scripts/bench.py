"""What does the port cost? kcompat against raw torch, TensorFlow and Keras 3's torch backend.

    python scripts/bench.py [--rounds 9] [--max-rounds 15] [--min-time 0.2] [--json] [--only NAME] [--around|--models]

``--around`` times the layers around the transposed convolution instead (:mod:`bench_around`),
``--models`` whole models loaded from one file (:mod:`bench_models`).

For each layer shape, forward and forward+backward, in one process and interleaved (every
round calls every torch implementation in turn, call by call, for about ``--min-time`` each,
then times each TensorFlow one for ``--min-time``):

- ``kcompat-cl`` / ``kcompat-cf``: ``kcompat.Conv2DTranspose`` on NHWC / NCHW input;
- ``torch-nchw`` / ``torch-cl``: raw ``F.conv_transpose2d`` computing the same output (best
  symmetric padding, then the slice), on contiguous NCHW input / on the channels_last view;
- ``tf-eager`` / ``tf-function``: TensorFlow's Keras 2 layer (tf_keras), eagerly and in ``tf.function``;
- ``keras3-tf``: what Keras 3's layer runs on its TensorFlow backend (its ``conv_transpose``
  and bias add), in ``tf.function``;
- ``keras3-torch``: Keras 3's layer on its torch backend (when keras is installed).

Ratios are taken within each round (the implementations compared ran seconds apart) and
their median reported with ``±``, twice its standard error; rounds are added, up to
``--max-rounds``, until that is under 3% of the ratio. TensorFlow's figure is the faster of
tf_keras and Keras 3 on TF. Each row says which path kcompat took (measured once per
geometry, :mod:`kcompat._paths`). Also printed: GFLOP/s (2 * multiply-adds per second;
forward+backward counts 3x the forward) against a large ``torch.mm`` measured in the same
run; ``--json`` for machines. TensorFlow and Keras 3 are imported here (never by ``import
kcompat``): Keras 3 on torch needs ``KERAS_BACKEND=torch``, set before it is imported, and
its TensorFlow computation is called from its TF backend module.
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
# tf.keras as tf_keras: keras-unet-collection (Keras 2 code) builds its U-Net with it (--models);
# the rest names tf_keras and Keras 3 explicitly.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import kcompat  # noqa: E402
from kcompat import functional  # noqa: E402
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


_BLOCKS = ("tf-eager", "tf-function", "keras3-tf")  # timed in blocks of their own, not call by call


def balanced_orders(names):
    """Call orders in which each name follows every other equally often (a Williams design).

    A call is slower after some calls than after others (what the previous one left in the
    caches and the allocator: measured, the same torch function timed 5% slower when it
    followed Keras 3's call twice as often as its twin did, as plain rotation makes it), so
    every predecessor must come equally often for every implementation."""
    n = len(names)
    first, low, high = [0], 1, n - 1
    while len(first) < n:
        first.append(low)
        low += 1
        if len(first) < n:
            first.append(high)
            high -= 1
    rows = [[(j + i) % n for j in first] for i in range(n)]
    if n % 2:  # odd: the mirrored square too
        rows += [row[::-1] for row in rows]
    return [[names[j] for j in row] for row in rows]


def _interleaved(fns, min_time):
    """Seconds per call of each of ``fns``. The torch implementations are called in turn, call
    by call, in :func:`balanced_orders`, for about ``min_time`` each and at least one pass of
    the orders, so that a slow spell of the machine falls on all of them alike; TensorFlow's
    are timed after them in blocks of ``min_time`` each, because TF's thread pool keeps
    spinning after a call and would slow whichever call came next."""
    torch_fns = {name: fn for name, fn in fns.items() if name not in _BLOCKS}
    names = list(torch_fns)
    orders = balanced_orders(names)
    total = dict.fromkeys(names, 0.0)
    calls = 0
    while calls < max(3, len(orders)) or sum(total.values()) < min_time * len(names):
        for name in orders[calls % len(orders)]:
            start = time.perf_counter()
            torch_fns[name]()
            total[name] += time.perf_counter() - start
        calls += 1
    out = {name: t / calls for name, t in total.items()}
    out.update({name: _timer(fn, min_time) for name, fn in fns.items() if name in _BLOCKS})
    return {name: out[name] for name in fns}


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
    """``{name: (forward(), forward_backward())}`` for one layer, all on the same weights, and
    ``{name: (layer, input)}`` of kcompat's."""
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
    layers = {"kcompat-cl": (layer_cl, x_nhwc), "kcompat-cf": (layer_cf, x_nchw)}
    out["torch-nchw"] = torch_pair(_raw_torch(x_nchw, weight, bias, k, s, padding, output_padding), x_nchw,
                                   (weight, bias))
    out["torch-cl"] = torch_pair(_raw_torch(x_cl, weight, bias, k, s, padding, output_padding), x_cl, (weight, bias))
    out.update(_tensorflow(args, x_nhwc.numpy(), layer_cl.get_weights()))
    out.update(_keras3_tensorflow(args, x_nhwc.numpy(), layer_cl.get_weights()))
    out.update(_keras3_torch(args, x_nhwc, layer_cl.get_weights()))
    return out, layers


def _path_taken(layer, x, mode):
    """``(path, {candidate: ms measured})`` kcompat took for ``layer`` on ``x`` in ``mode``."""
    channels_last = layer.data_format == "channels_last"
    shape = layer.compute_output_shape(tuple(x.shape))
    training = mode != "forward"
    path, seconds = functional.path_taken(
        x.detach().requires_grad_(training), layer.weight, layer.bias,
        output_size=shape[1:-1] if channels_last else shape[2:], strides=layer.strides, padding=layer.padding,
        dilation=layer.dilation_rate, channels_last=channels_last, training=training)
    return path, {name: s * 1e3 for name, s in seconds.items()}


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


def _keras3_tensorflow(args, x, weights):
    """Keras 3's Conv2DTranspose.call on its TensorFlow backend: ``conv_transpose`` then the bias."""
    try:
        import tensorflow as tf
        from keras.src.backend.tensorflow import nn as keras_tf_nn
    except ImportError:
        return {}
    kernel, bias = (tf.Variable(w) for w in weights)
    conv = {key: args[key] for key in ("strides", "padding", "output_padding") if key in args}
    xt = tf.constant(x)

    def layer():
        y = keras_tf_nn.conv_transpose(xt, kernel, data_format="channels_last", **conv)
        return y + tf.reshape(bias, (1, 1, 1, -1))

    g = tf.constant(np.random.default_rng(1).standard_normal(layer().shape), tf.float32)

    def step():
        with tf.GradientTape() as tape:
            tape.watch(xt)
            y = layer()
        return [y] + tape.gradient(y, [xt, kernel, bias], output_gradients=g)

    fwd_fn, step_fn = tf.function(layer), tf.function(step)
    return {"keras3-tf": (lambda: fwd_fn().numpy(), lambda: [t.numpy() for t in step_fn()])}


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


def bench(rounds, min_time, only=None, max_rounds=None, tolerance=0.03):
    rows = []
    for name, shape, config in BENCH_LAYERS:
        if only and only not in name:
            continue
        filters, k = config["filters"], config["kernel_size"]
        impls, layers = implementations(shape, filters, k, config["strides"], config["padding"],
                                        config.get("output_padding"))
        flops = 2 * shape[0] * shape[1] * shape[2] * shape[3] * filters * k * k
        for mode, index, factor in (("forward", 0, 1), ("forward+backward", 1, 3)):
            samples = {impl: [] for impl in impls}
            for fns in impls.values():
                fns[index]()  # warm-up: tf.function traces, oneDNN builds its primitives
            while True:
                for impl, seconds in _interleaved({impl: fns[index] for impl, fns in impls.items()},
                                                  min_time).items():
                    samples[impl].append(seconds)
                done = len(samples["kcompat-cl"])
                spread = ratio_spread(samples)
                if done >= rounds and (done >= (max_rounds or rounds) or
                                       all(e <= tolerance * r for r, e in spread.values())):
                    break
            medians = {impl: statistics.median(v) for impl, v in samples.items()}
            paths = {impl: _path_taken(layer, x, mode) for impl, (layer, x) in layers.items()}
            rows.append({"layer": name, "mode": mode, "rounds": done,
                         "ms": {i: m * 1e3 for i, m in medians.items()},
                         "gflops": {i: factor * flops / m / 1e9 for i, m in medians.items()},
                         "ratios": {key: r for key, (r, _) in spread.items()},
                         "ratio_errors": {key: e for key, (_, e) in spread.items()},
                         "paths": {impl: path for impl, (path, _) in paths.items()},
                         "path_ms": {impl: ms for impl, (_, ms) in paths.items()}})
    return rows


def bench_around(rounds, min_time, only=None, max_rounds=None, tolerance=0.03):
    """The layers around the transposed convolution (:mod:`bench_around`), timed as :func:`bench` times."""
    import bench_around

    return bench_rows(bench_around.rows(), bench_around.round_ratios, rounds, min_time, only, max_rounds, tolerance)


def bench_models(rounds, min_time, only=None, max_rounds=None, tolerance=0.03):
    """Whole models (:mod:`bench_models`) loaded from one file by each implementation, timed as :func:`bench` times."""
    import bench_models

    return bench_rows(bench_models.rows(only=only), bench_models.round_ratios, rounds, min_time, only, max_rounds,
                      tolerance, timing=_blocked)


def _blocked(fns, min_time, round_index=0):
    """Seconds per call of each of ``fns``, each timed in a block of its own (:func:`_timer`), in
    this round's order of :func:`balanced_orders`, a pause between blocks. For whole models:
    called call by call, five runtimes evict each other's weights (100 MB for ResNet50) from the
    caches and their thread pools spin into each other's calls (onnxruntime's MobileNetV2 8.4 ms
    in a block of its own, 15 ms interleaved; kcompat's 17 and 34)."""
    orders = balanced_orders(list(fns))
    out = {}
    for name in orders[round_index % len(orders)]:
        time.sleep(0.1)  # the previous block's spinning threads settle
        out[name] = _timer(fns[name], min_time)
    return {name: out[name] for name in fns}


def bench_rows(source, round_ratios, rounds, min_time, only=None, max_rounds=None, tolerance=0.03, timing=None):
    """``source``'s rows (``(name, {implementation: (forward, forward+backward)})``, kcompat's
    named ``kcompat``), timed by ``timing`` (interleaved call by call unless given) and repeated
    until ``round_ratios``' errors are small."""
    timing = timing or (lambda fns, min_time, round_index: _interleaved(fns, min_time))
    out = []
    for name, impls in source:
        if only and only not in name:
            continue
        for mode, index in (("forward", 0), ("forward+backward", 1)):
            active = {impl: fns[index] for impl, fns in impls.items() if fns[index] is not None}  # inference only
            samples = {impl: [] for impl in active}
            for fn in active.values():
                fn()
            while True:
                for impl, seconds in timing(active, min_time, len(samples["kcompat"])).items():
                    samples[impl].append(seconds)
                done = len(samples["kcompat"])
                spread = ratio_spread(samples, round_ratios)
                if done >= rounds and (done >= (max_rounds or rounds) or
                                       all(e <= tolerance * r for r, e in spread.values())):
                    break
            out.append({"layer": name, "mode": mode, "rounds": done,
                        "ms": {i: statistics.median(v) * 1e3 for i, v in samples.items()},
                        "ratios": {key: r for key, (r, _) in spread.items()},
                        "ratio_errors": {key: e for key, (_, e) in spread.items()}})
    return out


def _print_around(rows):
    shown = (("kcompat/torch-port", "kc/port"), ("kcompat/torch-module", "kc/module"), ("kcompat/tensorflow", "kc/TF"),
             ("keras3-torch/kcompat", "k3t/kc"))
    print(f"{'layer':38s} {'mode':16s} {'rounds':>6s} {'kc ms':>9s} " + " ".join(f"{label:>13s}" for _, label in shown))
    for row in rows:
        cells = " ".join(f"{row['ratios'].get(key, float('nan')):6.2f} ±{row['ratio_errors'].get(key, 0):5.1%}"
                         for key, _ in shown)
        print(f"{row['layer']:38s} {row['mode']:16s} {row['rounds']:6d} {row['ms']['kcompat']:9.3f} {cells}")
    print("kc/port: kcompat vs the best plain-torch port (functional ops on the channels_last view, F.pad only "
          "where TF's padding is asymmetric); kc/module: vs that port held as a torch.nn.Module, as a model holds "
          "its layers; kc/TF: vs tf_keras in tf.function; k3t/kc: Keras 3 on torch vs kcompat.")


def _print_models(rows):
    nan = float("nan")
    print(f"{'model':34s} {'mode':16s} {'rounds':>6s} {'kcompat':>8s} {'inference':>9s} {'TF':>8s} {'ORT':>8s} "
          f"{'K3-torch':>8s} {'kc/TF':>13s} {'inf/TF':>13s} {'inf/ORT':>13s} {'k3t/kc':>13s}")
    for row in rows:
        ms, r, e = row["ms"], row["ratios"], row["ratio_errors"]
        cells = " ".join(f"{r.get(key, nan):6.2f} ±{e.get(key, 0):5.1%}" for key in (
            "kcompat/tensorflow", "inference/tensorflow", "inference/onnxruntime", "keras3-torch/kcompat"))
        times = " ".join(f"{ms.get(k, nan):8.2f}" if k != "kcompat-inference" else f"{ms.get(k, nan):9.2f}"
                         for k in ("kcompat", "kcompat-inference", "tf-function", "onnxruntime", "keras3-torch"))
        print(f"{row['layer']:34s} {row['mode']:16s} {row['rounds']:6d} {times} {cells}")
    print("ms per call (median). kcompat: kcompat.load_model's module; inference: "
          "kcompat.optimize_for_inference of it; TF: the tf_keras twin in tf.function; ORT: onnxruntime on "
          "tf2onnx's export; K3-torch: Keras 3 on torch loading the same file. Ratios below 1: kcompat faster "
          "(k3t/kc above 1: kcompat faster).")


def _round_ratios(ms):
    """The ratios of one round's timings (``ms``: implementation -> seconds)."""
    kc = min(ms["kcompat-cl"], ms["kcompat-cf"])
    raw = min(ms["torch-nchw"], ms["torch-cl"])
    out = {"kcompat/raw-torch": ms["kcompat-cl"] / raw, "kcompat-best/raw-torch": kc / raw}
    tf = [ms[name] for name in ("tf-function", "keras3-tf") if name in ms]
    if tf:
        out["kcompat/tensorflow"] = ms["kcompat-cl"] / min(tf)
    if "keras3-torch" in ms:
        out["keras3-torch/kcompat"] = ms["keras3-torch"] / ms["kcompat-cl"]
    return out


def ratio_spread(samples, round_ratios=_round_ratios):
    """``{ratio: (median over rounds, 2 x its standard error)}``; the error is estimated from the
    interquartile range (``SE(median) ~ 1.2533 * sigma / sqrt(n)``, ``sigma ~ IQR / 1.349``)."""
    rounds = len(next(iter(samples.values())))
    per_round = [round_ratios({impl: v[i] for impl, v in samples.items()}) for i in range(rounds)]
    out = {}
    for key in per_round[0]:
        values = [r[key] for r in per_round]
        if len(values) < 4:
            out[key] = (statistics.median(values), float("inf"))
            continue
        q1, _, q3 = statistics.quantiles(values, n=4)
        out[key] = (statistics.median(values), 2 * 1.2533 * (q3 - q1) / 1.349 / len(values) ** 0.5)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9, help="interleaved rounds at least")
    parser.add_argument("--max-rounds", type=int, default=15,
                        help="rounds at most, added while a ratio's error exceeds 3%%")
    parser.add_argument("--min-time", type=float, default=0.2, help="seconds per timing sample")
    parser.add_argument("--only", help="only layers whose name contains this")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.add_argument("--around", action="store_true",
                        help="the layers around the transposed convolution (Conv, BatchNormalization, Dense, ...)")
    parser.add_argument("--models", action="store_true",
                        help="whole models (ResNet50, MobileNetV2, the DCGAN and pix2pix generators) loaded from one "
                             "file, with kcompat's inference form and onnxruntime")
    args = parser.parse_args(argv)
    for chosen, run, show in ((args.models, bench_models, _print_models), (args.around, bench_around, _print_around)):
        if chosen:
            rows = run(args.rounds, args.min_time, args.only, max(args.rounds, args.max_rounds))
            if args.json:
                print(json.dumps({"torch_threads": torch.get_num_threads(), "rows": rows}, indent=1))
            else:
                print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
                show(rows)
            return 0
    gflops = matmul_gflops(args.min_time)
    rows = bench(args.rounds, args.min_time, args.only, max(args.rounds, args.max_rounds))
    if args.json:
        print(json.dumps({"torch_threads": torch.get_num_threads(), "matmul_gflops": gflops, "rows": rows}, indent=1))
        return 0
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; torch.mm 2048^3: {gflops:.0f} GFLOP/s")
    names = list(rows[0]["ms"]) if rows else []
    print(f"{'layer':31s} {'mode':16s} " + " ".join(f"{n:>12s}" for n in names))
    for row in rows:
        print(f"{row['layer']:31s} {row['mode']:16s} " + " ".join(f"{row['ms'][n]:12.3f}" for n in names))
    print("\nms per call, median of interleaved rounds. Ratios (median of per-round ratios ± 2 standard errors):")
    shown = (("kcompat/raw-torch", "kc/raw"), ("kcompat/tensorflow", "kc/TF"), ("keras3-torch/kcompat", "k3t/kc"))
    print(f"{'layer':31s} {'mode':16s} {'rounds':>6s} " + " ".join(f"{label:>13s}" for _, label in shown)
          + "  kc %mm  path NHWC / NCHW  (NHWC candidates measured, ms)")
    for row in rows:
        cells = " ".join(f"{row['ratios'].get(key, float('nan')):6.2f} ±{row['ratio_errors'].get(key, 0):5.1%}"
                         for key, _ in shown)
        measured = ", ".join(f"{n} {ms:.3g}" for n, ms in row["path_ms"]["kcompat-cl"].items()) or "by rule"
        print(f"{row['layer']:31s} {row['mode']:16s} {row['rounds']:6d} {cells}  "
              f"{row['gflops']['kcompat-cl'] / gflops:5.0%}  {row['paths']['kcompat-cl']} / "
              f"{row['paths']['kcompat-cf']}  ({measured})")
    print("kc/raw: kcompat-cl vs the better raw torch layout; kc/TF: vs the faster of tf_keras and Keras 3 on "
          "TensorFlow (tf.function); k3t/kc: Keras 3 torch backend vs kcompat; kc %mm: kcompat GFLOP/s as a "
          "share of torch.mm's; path: the kcompat.functional.PATHS entry the timed calls took.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
