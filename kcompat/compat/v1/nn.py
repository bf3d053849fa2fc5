"""``tf.compat.v1.nn.conv2d_transpose``: TF1's spelling of :func:`kcompat.nn.conv2d_transpose`."""

from __future__ import annotations

from ... import nn as _nn

__all__ = ["bias_add", "conv2d_transpose"]

bias_add = _nn.bias_add


def conv2d_transpose(value=None, filter=None, output_shape=None, strides=None, padding="SAME",  # noqa: A002
                     data_format="NHWC", name=None, input=None, filters=None, dilations=None):  # noqa: A002
    """TF1's ``conv2d_transpose(value, filter, output_shape, strides, ...)``.

    ``input``/``filters`` are TF2's names for ``value``/``filter``; giving both spellings of one
    argument is an error, as in TensorFlow.
    """
    value = _lookup("input", input, "value", value)
    filter = _lookup("filters", filters, "filter", filter)  # noqa: A001
    return _nn.conv2d_transpose(value, filter, output_shape, strides, padding=padding, data_format=data_format,
                                dilations=dilations, name=name)


def _lookup(new_name, new_value, old_name, old_value):
    if new_value is not None and old_value is not None:
        raise ValueError(f"Cannot specify both '{new_name}' and '{old_name}'.")
    return new_value if new_value is not None else old_value
