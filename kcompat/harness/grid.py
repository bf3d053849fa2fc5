"""The configurations the parity command sweeps: the built-in grid and random (fuzz) cases.

A :class:`Case` is one comparison: a Keras config, an input shape (batch axis included), a
reference generation and a dtype. Pure Python: nothing here runs a layer.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace

__all__ = ["Case", "default_grid", "random_case"]

REFERENCES = ("keras", "tf_keras", "tf1", "tf.nn")
# Spatial ranks each reference has a layer for (TF1's layers and tf.nn are checked in 2-D).
RANKS = {"keras": (1, 2, 3), "tf_keras": (1, 2, 3), "tf1": (2,), "tf.nn": (2,)}
ACTIVATIONS = ("linear", "relu", "tanh", "sigmoid", "softmax", "elu")
BATCH, IN_CHANNELS = 2, 3
# Input lengths, in turn: odd and even ones, and 1 and 2 (TF's empty outputs, size-1 axes).
SPATIAL = {1: ((5,), (1,), (4,), (2,)), 2: ((5, 4), (1, 2), (4, 3), (2, 5)),
           3: ((5, 4, 3), (1, 2, 3), (4, 3, 2), (2, 5, 1))}


@dataclass(frozen=True)
class Case:
    config: dict = field(hash=False)
    input_shape: tuple
    reference: str = "keras"
    dtype: str = "float32"
    label: str = ""  # a name that replaces the generated id (a model's layer path)

    @property
    def id(self) -> str:
        if self.label:
            return self.label
        c = self.config
        op = c.get("output_padding")
        parts = [
            self.reference, f"{self.rank}d", c.get("padding", "valid"), "k" + _x(c["kernel_size"]),
            "s" + _x(c.get("strides", 1)), "d" + _x(c.get("dilation_rate", 1)), "op" + ("None" if op is None else _x(op)),
            "in" + _x(self.spatial), "cf" if self.channels_first else "cl",
        ]
        if self.dtype != "float32":
            parts.append(self.dtype)
        return "-".join(parts)

    @property
    def rank(self) -> int:
        return len(self.input_shape) - 2

    @property
    def channels_first(self) -> bool:
        return self.config.get("data_format") == "channels_first"

    @property
    def spatial(self) -> tuple:
        return tuple(self.input_shape[2:] if self.channels_first else self.input_shape[1:-1])

    def with_config(self, **changes):
        return replace(self, config={**self.config, **changes})


def _x(value):
    return "x".join(map(str, value)) if isinstance(value, (tuple, list)) else str(value)


def _input_shape(spatial, channels, data_format, batch=BATCH):
    return (batch, channels, *spatial) if data_format == "channels_first" else (batch, *spatial, channels)


def axis_options():
    """Per-axis ``(kernel, stride, dilation, output_padding)``: kernel 1-5 x stride 1-3 x every
    output_padding (``None`` and each value below the stride), plus dilations 2-3 at stride 1."""
    options = [(k, s, 1, op) for s in (1, 2, 3) for k in (1, 2, 3, 4, 5) for op in (None, *range(s))]
    options += [(k, 1, d, op) for d in (2, 3) for k in (2, 3) for op in (None, 0)]
    return options


def combine_axes(*axes):
    """The layer arguments of per-axis options (one per spatial axis, in order); ``None`` where
    Keras refuses them at construction (strides > 1 together with dilation > 1)."""
    kernels, strides, dilations, paddings = zip(*axes)
    if max(strides) > 1 and max(dilations) > 1:
        return None
    if any(op is None for op in paddings) and not all(op is None for op in paddings):
        paddings = tuple(op or 0 for op in paddings)  # output_padding is given for every axis or none
    return {"kernel_size": kernels, "strides": strides, "dilation_rate": dilations,
            "output_padding": None if paddings[0] is None else paddings}


def _config(padding, axes, index, data_format, reference):
    combined = combine_axes(*axes)
    if combined is None:
        return None
    dilations = combined["dilation_rate"]
    if len(set(dilations)) > 1:
        return None  # Keras 2 refuses unequal dilation rates; kept out of the shared grid
    if reference == "tf_keras" and len(axes) == 3 and max(dilations) > 1:
        return None  # Keras 2's Conv3DTranspose ignores dilation_rate (kcompat follows Keras 3)
    return {
        "filters": 2 + index % 3, **combined, "padding": padding, "data_format": data_format,
        "activation": ACTIVATIONS[index % len(ACTIVATIONS)], "use_bias": index % 4 != 3,
    }


def _axes(options, i, rank):
    """Option ``i`` on every axis, and option ``i`` beside different options on the others."""
    n = len(options)
    a = options[i]
    mixed = [a] + [options[(m * i + c) % n] for m, c in ((7, 3), (5, 1))][:rank - 1]
    return [(a,) * rank] if rank == 1 else [(a,) * rank, tuple(mixed)]


def default_grid(references=REFERENCES, dtype="float32", data_formats=("channels_last", "channels_first"),
                 ranks=(1, 2, 3)):
    """Every padding x per-axis option, on every axis and beside different options on the
    others, in both data formats, for every reference generation and each of its ``ranks``;
    the input lengths and activations taken in turn."""
    cases = []
    options = axis_options()
    for rank in ranks:
        for reference in references:
            if rank not in RANKS[reference]:
                continue
            for data_format in data_formats:
                index = 0
                for padding in ("valid", "same"):
                    for i in range(len(options)):
                        for axes in _axes(options, i, rank):
                            config = _config(padding, axes, index, data_format, reference)
                            spatial = SPATIAL[rank][index // 3 % len(SPATIAL[rank])]
                            index += 1
                            if config is not None:
                                shape = _input_shape(spatial, IN_CHANNELS, data_format)
                                cases.append(Case(config, shape, reference, dtype))
    return cases


def random_case(rng: random.Random, references=("keras",), dtype="float32", ranks=(1, 2, 3)) -> Case:
    """One random configuration: any kernel/stride/dilation/output_padding/padding/format/size,
    on one of ``ranks`` spatial axes (drawn only when there is a choice).

    Arguments are drawn independently, so some cases are ones TensorFlow refuses; those must
    be refused by kcompat too.
    """
    def axis():
        k = rng.randint(1, 7)
        if rng.random() < 0.25:
            s, d = 1, rng.randint(2, 4)
        else:
            s, d = rng.randint(1, 4), 1
        op = None if rng.random() < 0.5 else rng.randint(0, max(s, d) - 1)
        return k, s, d, op

    usable = [r for r in ranks if any(r in RANKS[ref] for ref in references)]
    if not usable:
        raise ValueError(f"no reference of {references} has a layer of rank {tuple(ranks)}")
    rank = rng.choice(usable) if len(usable) > 1 else usable[0]
    axes = [axis() for _ in range(rank)]
    if rank > 1 and rng.random() < 0.5:
        axes = [axes[0]] * rank
    kernels, strides, dilations, paddings = (list(v) for v in zip(*axes))
    if max(strides) > 1 and max(dilations) > 1:
        dilations = [1] * rank
    reference = rng.choice([ref for ref in references if rank in RANKS[ref]])
    if reference == "tf_keras":
        # Keras 2 refuses unequal dilation rates and its Conv3DTranspose ignores dilation;
        # kcompat's layers follow Keras 3 there.
        dilations = [1 if rank == 3 else dilations[0]] * rank
    if any(op is None for op in paddings) and not all(op is None for op in paddings):
        paddings = [op or 0 for op in paddings]
    data_format = rng.choice(("channels_last", "channels_first"))
    config = {
        "filters": rng.randint(1, 6), "kernel_size": tuple(kernels), "strides": tuple(strides),
        "padding": rng.choice(("valid", "same")),
        "output_padding": None if paddings[0] is None else tuple(paddings), "data_format": data_format,
        "dilation_rate": tuple(dilations), "activation": rng.choice(ACTIVATIONS), "use_bias": rng.random() < 0.8,
    }
    spatial = tuple(rng.randint(1, 9 if rank < 3 else 6) for _ in range(rank))
    shape = _input_shape(spatial, rng.randint(1, 5), data_format, batch=rng.randint(1, 3))
    return Case(config, shape, reference, dtype)
