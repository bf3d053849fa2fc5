"""A crash-isolated sweep of kcompat's transposed convolution against a float64 reference.

torch's CPU (oneDNN) deconvolution has aborted the process ("corrupted double-linked list",
SIGSEGV), hung and returned garbage gradients (1e33, NaN) on some shapes: one channel or one
filter, size-1 axes, kernels smaller than their strides. The sweep runs
:func:`kcompat.functional.conv_transpose` over ranks 1-3, 1-5 input channels and filters,
spatial sizes including 1, kernel axes below, equal to and above their stride, both paddings,
``output_padding``, both data formats, forward only and each gradient wanted, and compares
everything with the numpy float64 reference
(:mod:`kcompat.testing.numpy_reference`, independent of torch). Each case runs in a fresh
forked process (heap corruption shows up late, or not at all, in a process that ran other
cases), ``repeats`` times.

Run ``python -m kcompat.testing.deconv_sweep [--cases N] [--repeats R] [--seed S]``; it exits
1 and lists the failing cases if any crashed or disagreed.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import multiprocessing
import multiprocessing.connection
import os
import random
import sys
import time

import numpy as np

__all__ = ["KNOWN", "Case", "cases", "run_case", "sweep", "main"]

# Per-axis (input length, kernel, stride, dilation): kernels below, equal to and above their
# stride, lengths of 1, a dilated axis.
AXES = (
    (1, 1, 1, 1), (5, 3, 1, 1), (4, 2, 1, 2), (1, 1, 2, 1), (5, 1, 2, 1), (2, 2, 2, 1), (5, 3, 2, 1),
    (1, 2, 3, 1), (5, 1, 3, 1), (6, 5, 2, 1), (2, 5, 3, 1), (1, 3, 2, 1), (3, 1, 4, 1), (4, 2, 4, 1),
    (6, 7, 2, 1), (3, 7, 2, 1),
)
GRADS = ("none", "input", "weight", "all")


@dataclasses.dataclass(frozen=True)
class Case:
    batch: int
    spatial: tuple
    channels: int
    filters: int
    kernel: tuple
    strides: tuple
    dilation: tuple
    padding: str
    output_padding: object  # None, or a per-axis tuple
    channels_last: bool
    bias: bool
    grads: str  # which gradients are wanted: none/input/weight/all

    def __str__(self):
        shape = ((self.batch, *self.spatial, self.channels) if self.channels_last
                 else (self.batch, self.channels, *self.spatial))
        return (f"x{shape}"
                f" filters={self.filters} kernel={self.kernel} strides={self.strides} dilation={self.dilation}"
                f" {self.padding} output_padding={self.output_padding}"
                f" {'channels_last' if self.channels_last else 'channels_first'} bias={self.bias} grads={self.grads}")


def _case(rng, axes, channels, filters, op_kind, padding, channels_last, grads):
    spatial, kernel, strides, dilation = (tuple(a[i] for a in axes) for i in range(4))
    if max(strides) > 1 and max(dilation) > 1:
        dilation = (1,) * len(axes)  # Keras refuses strides with dilation
    op = {None: None, "zero": (0,) * len(axes), "max": tuple(s - 1 for s in strides)}[op_kind]
    return Case(rng.choice((1, 2, 3)), spatial, channels, filters, kernel, strides, dilation, padding, op,
                channels_last, rng.random() < 0.7, grads)


# Seen to abort the process or return garbage through torch 2.13's CPU deconvolution before
# kcompat routed around it (issue reports and earlier sweeps).
KNOWN = (
    Case(3, (6, 7), 1, 4, (1, 1), (2, 2), (1, 1), "same", None, True, True, "all"),
    Case(3, (6, 7), 1, 4, (1, 1), (2, 2), (1, 1), "same", (1, 1), True, True, "all"),
    Case(3, (6, 7), 1, 4, (1, 1), (3, 3), (1, 1), "valid", None, True, True, "all"),
    Case(3, (6, 7), 1, 4, (1, 1), (3, 3), (1, 1), "same", None, True, True, "all"),
    Case(3, (6, 7), 1, 4, (1, 1), (4, 4), (1, 1), "valid", None, True, True, "all"),
    Case(2, (4, 2, 6), 1, 6, (7, 3, 5), (2, 4, 3), (1, 1, 1), "same", (0, 0, 0), True, True, "all"),
    Case(3, (8, 1), 4, 1, (1, 6), (1, 5), (1, 1), "valid", None, True, True, "all"),
    Case(2, (5, 1), 1, 1, (3, 2), (1, 3), (1, 1), "valid", (0, 2), True, False, "all"),
    Case(3, (4, 1), 1, 1, (2, 3), (1, 2), (1, 1), "valid", None, True, True, "input"),
    Case(3, (5, 5, 1), 1, 1, (3, 3, 3), (2, 1, 2), (1, 1, 1), "valid", (1, 0, 1), True, True, "input"),
    # oneDNN's weight gradient hangs or aborts here, on canonical NCDHW tensors too (a fuzz case)
    Case(3, (3, 6, 6), 5, 1, (7, 7, 7), (2, 2, 2), (1, 1, 1), "same", (0, 0, 0), True, True, "all"),
    Case(3, (3, 6, 6), 5, 1, (7, 7, 7), (2, 2, 2), (1, 1, 1), "same", (0, 0, 0), False, True, "weight"),
    Case(3, (3, 6, 6), 1, 5, (7, 7, 7), (2, 2, 2), (1, 1, 1), "same", (0, 0, 0), True, True, "all"),
)
# 2-D: every pair of these axes, with size-1 channels or filters and without.
AXES_2D = ((1, 1, 1, 1), (5, 3, 1, 1), (1, 1, 2, 1), (5, 1, 2, 1), (2, 2, 2, 1), (1, 2, 3, 1), (6, 5, 2, 1),
           (3, 1, 4, 1))
CHANNELS = ((1, 1), (1, 4), (4, 1), (2, 3))


def cases(n=None, seed=0):
    """The sweep, reproducibly from ``seed``: :data:`KNOWN`, every 1-D case (1-3 channels and
    filters), every 2-D pair of :data:`AXES_2D` x :data:`CHANNELS`, 1000 random 3-D cases.
    ``n``: a random subset of that many (the known cases always included)."""
    rng = random.Random(seed)
    out = [
        _case(rng, (axis,), c, f, op, pad, last, rng.choice(GRADS))
        for axis, c, f, op, pad, last in itertools.product(
            AXES, (1, 2, 3), (1, 2, 3), (None, "zero", "max"), ("valid", "same"), (True, False))
    ]
    out += [
        _case(rng, axes, c, f, rng.choice((None, "zero", "max")), pad, last, rng.choice(GRADS))
        for axes, (c, f), pad, last in itertools.product(
            itertools.product(AXES_2D, repeat=2), CHANNELS, ("valid", "same"), (True, False))
    ]
    for _ in range(1000):
        c, f = rng.choice(CHANNELS + ((1, 2), (2, 1), (3, 3), (5, 1), (1, 5)))
        out.append(_case(rng, tuple(rng.choice(AXES) for _ in range(3)), c, f,
                         rng.choice((None, "zero", "max")), rng.choice(("valid", "same")),
                         rng.random() < 0.6, rng.choice(GRADS)))
    if n is not None:
        out = rng.sample(out, max(0, n - len(KNOWN)))
    return list(KNOWN) + out


def run_case(case, seed=0):
    """Run ``case`` in float32 through kcompat and in float64 through the numpy reference.

    Returns ``None`` if TensorFlow refuses the configuration, else the worst relative error
    per quantity (``inf`` for NaN/inf), relative to ``max(1, max|reference|)``.
    """
    import torch

    from kcompat import functional
    from kcompat.testing import numpy_reference

    rank = len(case.spatial)
    try:
        size = functional.keras_output_size(case.spatial, case.kernel, case.strides, case.padding,
                                            case.output_padding, case.dilation)
        functional.plan(case.spatial, size, case.kernel, case.strides, case.padding, case.dilation)
    except ValueError:
        return None
    if min(size) <= 0:
        return None
    g = torch.Generator().manual_seed(seed)
    x_last = torch.randn(case.batch, *case.spatial, case.channels, generator=g, dtype=torch.float64)
    kernel = torch.randn(*case.kernel, case.filters, case.channels, generator=g, dtype=torch.float64)
    bias = torch.randn(case.filters, generator=g, dtype=torch.float64) if case.bias else None
    upstream_last = torch.randn(case.batch, *size, case.filters, generator=g, dtype=torch.float64)

    def to_format(t):  # channels_last arrays as the case's data format
        return t if case.channels_last else t.movedim(-1, 1).contiguous()

    want_x, want_w = case.grads in ("input", "all"), case.grads in ("weight", "all")
    x = to_format(x_last).float().requires_grad_(want_x)
    weight = kernel.permute(rank + 1, rank, *range(rank)).contiguous().float().requires_grad_(want_w)
    b = None if bias is None else bias.float().requires_grad_(case.grads == "all")
    with torch.set_grad_enabled(case.grads != "none"):
        y = functional.conv_transpose(x, weight, b, output_size=size, strides=case.strides, padding=case.padding,
                                      dilation=case.dilation, channels_last=case.channels_last)
        if case.grads != "none":
            y.backward(to_format(upstream_last).float())

    ref_y = numpy_reference.conv_transpose(x_last.numpy(), kernel.numpy(), None if bias is None else bias.numpy(),
                                           case.strides, case.padding, size, case.dilation)
    d_x, d_kernel, d_bias = numpy_reference.conv_transpose_vjp(x_last.numpy(), kernel.numpy(), upstream_last.numpy(),
                                                               case.strides, case.padding, case.dilation)
    last = lambda t: t.movedim(1, -1) if not case.channels_last else t  # noqa: E731
    errors = {"output": _error(last(y.detach()), ref_y)}
    if want_x:
        errors["d_input"] = _error(last(x.grad), d_x)
    if want_w:
        errors["d_kernel"] = _error(weight.grad.permute(*range(2, rank + 2), 1, 0), d_kernel)
    if case.grads == "all" and b is not None:
        errors["d_bias"] = _error(b.grad, d_bias)
    return errors


def _error(ours, reference):
    ours = ours.detach().double().numpy()
    if ours.shape != reference.shape:
        return float("inf")
    if ours.size == 0:
        return 0.0
    if not np.all(np.isfinite(ours)):
        return float("inf")
    return float(np.max(np.abs(ours - reference)) / max(1.0, float(np.max(np.abs(reference)))))


def _child(case, seed, conn):
    try:
        conn.send(("ok", run_case(case, seed)))
    except BaseException as e:  # an exception is a finding too, not a crash of the sweep
        conn.send(("error", f"{type(e).__name__}: {e}"))
    conn.close()


def sweep(case_list, repeats=1, tolerance=1e-4, seed=0, progress=None, timeout=120, jobs=None):
    """Each case ``repeats`` times, each time in a freshly forked process, ``jobs`` processes at
    a time (default: one per CPU core; a case's repeats run one after another).

    Returns ``(failures, decided)``: failures as ``(case, what)`` strings (a crash with its
    signal, a hang past ``timeout`` seconds, an exception, or the quantities off the reference
    by more than ``tolerance``), in ``case_list``'s order, and how many cases ran to a
    comparison (the rest TF refuses).
    """
    ctx = multiprocessing.get_context("fork")
    jobs = max(1, jobs or os.cpu_count() or 1)
    found, compared, finished = {}, set(), 0
    pending = list(enumerate(case_list))[::-1]  # (index, case), popped from the end
    running = {}  # receiving end -> (index, case, repeat, process, deadline)

    def start(index, case, repeat):
        recv, send = ctx.Pipe(duplex=False)
        process = ctx.Process(target=_child, args=(case, seed + repeat, send))
        process.start()
        send.close()
        running[recv] = (index, case, repeat, process, time.monotonic() + timeout)

    while pending or running:
        while pending and len(running) < jobs:
            start(*pending.pop(), 0)
        ready = multiprocessing.connection.wait(list(running), timeout=1.0)
        now = time.monotonic()
        for recv in list(running):
            index, case, repeat, process, deadline = running[recv]
            if recv not in ready and now < deadline:
                continue
            del running[recv]
            try:
                if recv in ready:
                    status, result = recv.recv()
                else:  # oneDNN has hung (3-D, one filter, kernel 7, stride 2)
                    status, result = "hung", None
                    process.kill()
            except EOFError:
                status, result = "crash", None
            recv.close()
            process.join()
            what = None
            if status == "hung":
                what = f"hung (no answer in {timeout:g} s) on repeat {repeat}"
            elif status == "crash" or process.exitcode != 0:
                what = f"process died (exit code {process.exitcode}) on repeat {repeat}"
            elif status == "error":
                what = result
            elif result is not None:
                compared.add(index)
                bad = {k: v for k, v in result.items() if not v <= tolerance}
                if bad:
                    what = ("off the float64 reference: " + ", ".join(f"{k} {v:.3g}" for k, v in bad.items())
                            + f" (repeat {repeat})")
            if what is not None:
                found[index] = (case, what)
            if what is None and result is not None and repeat + 1 < repeats:
                start(index, case, repeat + 1)
                continue
            finished += 1
            if progress:
                progress(finished, len(case_list), len(found))
    return [found[i] for i in sorted(found)], len(compared)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m kcompat.testing.deconv_sweep", description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=None, help="a random subset of this many cases (default: all)")
    parser.add_argument("--repeats", type=int, default=2, help="fresh processes per case (default 2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--known", action="store_true", help="only the cases seen failing before kcompat's routing")
    args = parser.parse_args(argv)
    case_list = list(KNOWN) if args.known else cases(args.cases, args.seed)

    def progress(done, total, failed):
        if done % 50 == 0 or done == total:
            print(f"  {done}/{total} cases, {failed} failing", file=sys.stderr, flush=True)

    failures, decided = sweep(case_list, repeats=args.repeats, seed=args.seed, progress=progress)
    for case, what in failures:
        print(f"FAIL {case}: {what}")
    ranks = {r: sum(len(c.spatial) == r for c in case_list) for r in (1, 2, 3)}
    print(f"{len(case_list)} cases ({ranks[1]} 1-D, {ranks[2]} 2-D, {ranks[3]} 3-D) x {args.repeats} fresh processes: "
          f"{decided} compared, {len(case_list) - decided} refused by TensorFlow, {len(failures)} failing")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
