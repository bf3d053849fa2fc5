"""The configurations the parity command sweeps: the built-in grid and random (fuzz) cases.

A :class:`Case` is one comparison: a Keras config, an input shape (batch axis included), a
reference generation and a dtype. Pure Python: nothing here runs a layer.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace

__all__ = ["Case", "default_grid", "random_case"]

REFERENCES = ("keras", "tf_keras", "tf1", "tf.nn")
ACTIVATIONS = ("linear", "relu", "tanh", "sigmoid")
BATCH, IN_CHANNELS = 2, 3
# Odd height, even width: every configuration sees both parities.
SPATIAL = (5, 4)


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
            self.reference, c.get("padding", "valid"), "k" + _x(c["kernel_size"]), "s" + _x(c.get("strides", 1)),
            "d" + _x(c.get("dilation_rate", 1)), "op" + ("None" if op is None else _x(op)),
            "in" + _x(self.spatial), "cf" if self.channels_first else "cl",
        ]
        if self.dtype != "float32":
            parts.append(self.dtype)
        return "-".join(parts)

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


def _config(padding, a, b, index, data_format):
    axes = combine_axes(a, b)
    if axes is None or len(set(axes["dilation_rate"])) > 1:
        return None  # Keras 2 refuses unequal dilation rates; kept out of the shared grid
    return {
        "filters": 2 + index % 3, **axes, "padding": padding, "data_format": data_format,
        "activation": ACTIVATIONS[index % len(ACTIVATIONS)], "use_bias": index % 4 != 3,
    }


def default_grid(references=REFERENCES, dtype="float32", data_formats=("channels_last", "channels_first")):
    """Every padding x per-axis option, square and paired with a different option on the other
    axis, in both data formats, for every reference generation."""
    cases = []
    options = axis_options()
    n = len(options)
    for reference in references:
        for data_format in data_formats:
            index = 0
            for padding in ("valid", "same"):
                for i, a in enumerate(options):
                    for b in (a, options[(7 * i + 3) % n]):
                        config = _config(padding, a, b, index, data_format)
                        index += 1
                        if config is not None:
                            shape = _input_shape(SPATIAL, IN_CHANNELS, data_format)
                            cases.append(Case(config, shape, reference, dtype))
    return cases


def random_case(rng: random.Random, references=("keras",), dtype="float32") -> Case:
    """One random configuration: any kernel/stride/dilation/output_padding/padding/format/size.

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

    (k1, s1, d1, op1), (k2, s2, d2, op2) = axis(), axis()
    if rng.random() < 0.5:
        k2, s2, d2, op2 = k1, s1, d1, op1
    if max(s1, s2) > 1 and max(d1, d2) > 1:
        d1 = d2 = 1
    reference = rng.choice(references)
    if reference == "tf_keras":
        d2 = d1  # Keras 2 refuses unequal dilation rates; kcompat's layer follows Keras 3 there
    if (op1 is None) != (op2 is None):
        op1, op2 = op1 or 0, op2 or 0
    data_format = rng.choice(("channels_last", "channels_first"))
    config = {
        "filters": rng.randint(1, 6), "kernel_size": (k1, k2), "strides": (s1, s2),
        "padding": rng.choice(("valid", "same")),
        "output_padding": None if op1 is None else (op1, op2), "data_format": data_format,
        "dilation_rate": (d1, d2), "activation": rng.choice(ACTIVATIONS), "use_bias": rng.random() < 0.8,
    }
    spatial = (rng.randint(1, 9), rng.randint(1, 9))
    shape = _input_shape(spatial, rng.randint(1, 5), data_format, batch=rng.randint(1, 3))
    return Case(config, shape, reference, dtype)
