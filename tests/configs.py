"""The configuration space the parity tests sweep, as pytest params with readable ids.

Per axis: kernel 1-5 x stride 1-3 x output_padding (None or each value below the stride),
plus dilations 2-3 at stride 1, under both paddings. That covers every case the crop
arithmetic distinguishes: crop before > / = / < crop after, extension past the full result
(kernel smaller than stride, output_padding with ``same``), and the configurations TF
refuses (``same`` with an explicit output_padding of 0 and an even effective kernel).
Square configurations use one axis option twice; non-square ones pair it with another.
"""

from __future__ import annotations

import pytest

from kcompat.harness.grid import axis_options, combine_axes

ACTIVATIONS = [None, "relu", "tanh", "sigmoid", "softmax", "elu"]
INPUT_SIZES = [1, 2, 3, 5]


def _combine(padding, a, b, index):
    axes = combine_axes(a, b)
    if axes is None:
        return None
    config = {
        "filters": 2 + index % 3,
        **axes,
        "padding": padding,
        "activation": ACTIVATIONS[index % len(ACTIVATIONS)],
        "use_bias": index % 4 != 3,
    }
    spatial = (INPUT_SIZES[index % 4], INPUT_SIZES[(index + 1) % 4])
    return config, spatial


def config_space():
    """``(config, spatial input size, id)`` triples, square and non-square."""
    out = []
    for padding in ("valid", "same"):
        options = axis_options()
        n = len(options)
        for i, a in enumerate(options):
            for shape, b in (("sq", a), ("ns", options[(7 * i + 3) % n])):
                combined = _combine(padding, a, b, len(out))
                if combined is None:
                    continue
                config, spatial = combined
                op = "None" if config["output_padding"] is None else "x".join(map(str, config["output_padding"]))
                cid = (f"{padding}-{shape}-k{'x'.join(map(str, config['kernel_size']))}"
                       f"-s{'x'.join(map(str, config['strides']))}-d{'x'.join(map(str, config['dilation_rate']))}"
                       f"-op{op}-in{spatial[0]}x{spatial[1]}")
                out.append((config, spatial, cid))
    return out


def config_space_nd(rank):
    """``(config, spatial, id)`` on ``rank`` spatial axes: every per-axis option on the first
    axis, the other axes each paired with a different option (all the same option where Keras
    refuses the mix: strides > 1 with dilation > 1)."""
    out = []
    options = axis_options()
    n = len(options)
    for padding in ("valid", "same"):
        for i, a in enumerate(options):
            axes = [a] + [options[(m * i + c) % n] for m, c in ((7, 3), (5, 1))][:rank - 1]
            combined = combine_axes(*axes) or combine_axes(*[a] * rank)
            if combined is None:
                continue
            index = len(out)
            config = {"filters": 2 + index % 3, **combined, "padding": padding,
                      "activation": ACTIVATIONS[index % len(ACTIVATIONS)], "use_bias": index % 4 != 3}
            spatial = tuple(INPUT_SIZES[(index + j) % 4] for j in range(rank))
            x = lambda values: "x".join(map(str, values))  # noqa: E731
            op = "None" if config["output_padding"] is None else x(config["output_padding"])
            cid = (f"{rank}d-{padding}-k{x(config['kernel_size'])}-s{x(config['strides'])}-d{x(config['dilation_rate'])}"
                   f"-op{op}-in{x(spatial)}")
            out.append((config, spatial, cid))
    return out


def params(dtypes=("float32",), data_formats=("channels_last",), space=None):
    """``space()`` (default :func:`config_space`) crossed with dtypes and data formats."""
    return [
        pytest.param(config, spatial, dtype, fmt, id=f"{cid}-{fmt[9:]}-{dtype}")
        for config, spatial, cid in (space or config_space)()
        for dtype in dtypes
        for fmt in data_formats
    ]


def tf1_config_space():
    """TF1's space (no output_padding, no dilation): per axis kernel 1-5 x stride 1-3, both paddings."""
    out = []
    axes = [(k, s) for s in (1, 2, 3) for k in (1, 2, 3, 4, 5)]
    for padding in ("valid", "same"):
        for i, a in enumerate(axes):
            for shape, b in (("sq", a), ("ns", axes[(7 * i + 3) % len(axes)])):
                index = len(out)
                config = {
                    "filters": 2 + index % 3,
                    "kernel_size": (a[0], b[0]),
                    "strides": (a[1], b[1]),
                    "padding": padding if index % 5 else padding.upper(),  # TF1 is case-insensitive
                    "activation": ACTIVATIONS[index % len(ACTIVATIONS)],
                    "use_bias": index % 4 != 3,
                }
                spatial = (INPUT_SIZES[index % 4], INPUT_SIZES[(index + 1) % 4])
                cid = (f"{padding}-{shape}-k{a[0]}x{b[0]}-s{a[1]}x{b[1]}-in{spatial[0]}x{spatial[1]}")
                out.append((config, spatial, cid))
    return out

