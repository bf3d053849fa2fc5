"""Sweep thin convolutions (one input channel) in fresh processes: raw torch and kcompat against float64.

torch's CPU float32 convolution (and TensorFlow's, which shares oneDNN) returns wrong forward
numbers for some one-channel geometries; kcompat routes around it (``kcompat.layers.conv.plain_strides``).
This sweep finds where, on the machine it runs on (the CPU kind matters: AVX2 and AVX-512 take
different oneDNN paths): every geometry of a grid (rank, batch, spatial size, kernel, strides,
filters, padding, input layout) is run by raw ``torch.nn.functional.convN`` on the channels-last
view a channels_last layer hands it, by raw torch on plain (contiguous) strides, and by kcompat's
layers (Conv, DepthwiseConv, SeparableConv), each against the same computation in float64.
Chunks run in subprocesses, so an abort is counted, not fatal.

    python scripts/thin_conv_sweep.py                 # the full grid, a summary of where raw torch fails
    python scripts/thin_conv_sweep.py --quick --json  # a slice (the test's)
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
from collections import Counter

TOLERANCE = 1e-4  # relative to the float64 output's largest magnitude


def grid(quick=False):
    """The geometries: ``(rank, batch, spatial, kernel, strides, filters, padding)``."""
    cases = []
    sizes = (4, 7) if quick else (2, 4, 5, 7, 9)
    for rank in (1, 2, 3):
        for batch, n, k, s_last, s_other, filters, padding in itertools.product(
                (1, 3) if quick else (1, 2, 3), sizes, (1, 2, 3) if quick else (1, 2, 3, 4), (1, 2, 3),
                (1, 2), (1, 3) if quick else (1, 2, 4), ("valid", "same")):
            if rank == 3 and (quick or n > 5):
                n = min(n, 5)
            spatial = (n,) * rank
            kernel = (k,) * rank
            strides = (s_other,) * (rank - 1) + (s_last,)
            if any(kk > nn for kk, nn in zip(kernel, spatial)) and padding == "valid":
                continue
            cases.append((rank, batch, spatial, kernel, strides, filters, padding))
    return sorted(set(cases))


def _relative(y, reference):
    return float((y.double() - reference).abs().max() / (reference.abs().max() + 1e-12))


def run_chunk(cases, seed=0):
    """Each case's errors: ``{"raw_cl", "raw_plain", "Conv", "DepthwiseConv", "SeparableConv"}``."""
    import torch
    import torch.nn.functional as F

    import kcompat.layers as L

    conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
    out = []
    torch.manual_seed(seed)
    for rank, batch, spatial, kernel, strides, filters, padding in cases:
        x = torch.randn(batch, *spatial, 1)
        w = torch.randn(filters, 1, *kernel)
        channels_first_view = x.movedim(-1, 1)  # what a channels_last layer hands torch
        errors = {}
        if all(k <= n for k, n in zip(kernel, spatial)):  # raw torch: 'valid' only
            reference = conv[rank](channels_first_view.double(), w.double(), stride=strides)
            # The same memory with canonical strides (contiguous() keeps the size-1 axis's odd stride).
            plain = channels_first_view.reshape(-1).view(channels_first_view.shape)
            errors = {"raw_cl": _relative(conv[rank](channels_first_view, w, stride=strides), reference),
                      "raw_plain": _relative(conv[rank](plain, w, stride=strides), reference)}
        for name in ("Conv", "DepthwiseConv", "SeparableConv"):
            if name != "Conv" and rank == 3:
                continue  # Keras has no 3-D depthwise or separable layer
            kwargs = {"kernel_size": kernel, "strides": strides, "padding": padding}
            if name != "DepthwiseConv":
                kwargs["filters"] = filters
            layer = getattr(L, f"{name}{rank}D")(**kwargs)
            y = layer(x)
            twin = getattr(L, f"{name}{rank}D")(**kwargs, dtype="float64")
            twin(x.double())
            twin.set_weights(layer.get_weights())
            errors[name] = _relative(y.detach(), twin(x.double()).detach())
        out.append(errors)
    return out


def sweep(cases, chunks=8, timeout=600):
    """Run ``cases`` in ``chunks`` fresh processes; ``(results, aborted chunks)`` (a result per case, ``None``
    for the cases of a chunk whose process died)."""
    size = -(-len(cases) // chunks)
    results, aborted = [], 0
    for i in range(0, len(cases), size):
        part = cases[i:i + size]
        proc = subprocess.run([sys.executable, __file__, "--chunk"], input=json.dumps(part), capture_output=True,
                              text=True, timeout=timeout, env={**os.environ, "PYTHONHASHSEED": "0"})
        if proc.returncode != 0:
            aborted += 1
            results += [None] * len(part)
            continue
        results += json.loads(proc.stdout.strip().splitlines()[-1])
    return results, aborted


def summarize(cases, results):
    """Counts of wrong results per implementation, and raw torch's failures by condition."""
    wrong = Counter()
    conditions = Counter()
    for case, errors in zip(cases, results):
        if errors is None:
            continue
        for name, err in errors.items():
            if err > TOLERANCE:
                wrong[name] += 1
        if errors.get("raw_cl", 0.0) > TOLERANCE:
            rank, batch, spatial, kernel, strides, filters, padding = case
            conditions[f"rank={rank} batch>1={batch > 1} strides={tuple(strides)}"] += 1
    return {"cases": len(cases), "run": sum(r is not None for r in results), "wrong": dict(wrong),
            "raw torch wrong by condition": dict(conditions.most_common())}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a slice of the grid")
    parser.add_argument("--chunks", type=int, default=8)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--chunk", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.chunk:  # a worker: cases on stdin, errors on stdout
        cases = [(r, b, tuple(s), tuple(k), tuple(st), f, p) for r, b, s, k, st, f, p in json.loads(sys.stdin.read())]
        print(json.dumps(run_chunk(cases)))
        return 0
    cases = grid(args.quick)
    results, aborted = sweep(cases, args.chunks)
    summary = {**summarize(cases, results), "aborted chunks": aborted}
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "")
        summary["cpu"] = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "other"
    except OSError:
        summary["cpu"] = "unknown"
    print(json.dumps(summary, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
