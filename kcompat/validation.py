"""Argument checks worded as Keras words them, stricter where Keras lets nonsense through.

Every message names the argument in backticks, says what is allowed, then
``Received: name=value``. Unlike Keras and ``torch.nn.modules.utils._ntuple``, bools are not
taken for integers.
"""

from __future__ import annotations

import json
import numbers
import os

__all__ = [
    "is_int",
    "standardize_int",
    "standardize_tuple",
    "standardize_padding",
    "standardize_data_format",
    "image_data_format",
    "floatx",
]


def is_int(value) -> bool:
    """A plain integer: Python's or numpy's, not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def standardize_int(value, name, minimum=1):
    """A plain integer ``>= minimum`` (``TypeError`` for non-integers, ``ValueError`` below).

    Below 1 the message is Keras 3's for ``filters``: "Expected a strictly positive value".
    """
    if not is_int(value):
        raise TypeError(
            f"The `{name}` argument must be an integer. "
            f"Received: {name}={value!r} of type {type(value).__name__}"
        )
    if value < minimum:
        expected = "a strictly positive value" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"Invalid value for argument `{name}`. Expected {expected}. Received {name}={value}.")
    return int(value)


def standardize_tuple(value, n, name, allow_zero=False):
    """An int or an iterable of ``n`` ints, as an ``n``-tuple of positive ints (``ValueError``
    otherwise, in Keras 3's words: ``keras.src.utils.argument_validation``).

    ``allow_zero`` admits 0 (``output_padding``). Unlike Keras, floats and bools are refused.
    """
    message = f"The `{name}` argument must be a tuple of {n} integers. Received {name}={value}"
    if is_int(value):
        values = (int(value),) * n
    else:
        if isinstance(value, (str, bytes, bool)) or value is None:
            raise ValueError(message)
        try:
            values = tuple(value)
        except TypeError:
            raise ValueError(message) from None
        if len(values) != n:
            raise ValueError(message)
        for v in values:
            if not is_int(v):
                raise ValueError(f"{message}including element {v} of type {type(v)}")
        values = tuple(int(v) for v in values)
    requirement = ">= 0" if allow_zero else "> 0"
    bad = {v for v in values if v < 0 or (v == 0 and not allow_zero)}
    if bad:
        raise ValueError(f"{message}, including values {bad} that do not satisfy `value {requirement}`")
    return values


def standardize_padding(value, allowed=("valid", "same")):
    """Lower-cased ``padding``, one of ``allowed``."""
    if not isinstance(value, str) or value.lower() not in allowed:
        raise ValueError(
            f"The `padding` argument must be one of {set(allowed)} (case-insensitive). "
            f"Received: padding={value!r}"
        )
    return value.lower()


def _keras_config():
    """keras.json under ``KERAS_HOME`` or ``~/.keras``, read the way Keras reads it.

    A missing or unreadable file gives ``{}``. Read on each call so that a changed config is
    seen by layers created afterwards.
    """
    if "KERAS_HOME" in os.environ:
        keras_dir = os.environ["KERAS_HOME"]
    else:
        base = os.path.expanduser("~")
        if not os.access(base, os.W_OK):
            base = "/tmp"
        keras_dir = os.path.join(base, ".keras")
    path = os.path.expanduser(os.path.join(keras_dir, "keras.json"))
    try:
        with open(path) as f:
            config = json.load(f)
    except (OSError, ValueError):
        return {}
    return config if isinstance(config, dict) else {}


def image_data_format():
    """Keras's configured ``image_data_format``, else ``"channels_last"``."""
    value = _keras_config().get("image_data_format")
    return value if value in ("channels_last", "channels_first") else "channels_last"


def floatx():
    """Keras's configured ``floatx``, else ``"float32"``."""
    value = _keras_config().get("floatx")
    return value if value in ("float16", "bfloat16", "float32", "float64") else "float32"


def standardize_data_format(value):
    """``channels_last``/``channels_first``; ``None`` means Keras's configured default."""
    if value is None:
        return image_data_format()
    fmt = str(value).lower() if isinstance(value, str) else value
    if fmt not in ("channels_first", "channels_last"):
        raise ValueError(
            "The `data_format` argument must be one of "
            "{'channels_first', 'channels_last'}. "
            f"Received: data_format={value!r}"
        )
    return fmt
