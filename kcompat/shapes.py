"""Shape arithmetic of TensorFlow's transposed convolution, one spatial axis at a time.

Pure integer Python (no torch, no numpy) so that every API generation and every rank
(1-D, 2-D, 3-D) shares one definition, and so that it can be tested by exhaustive sweeps.

TensorFlow defines ``conv_transpose`` as the gradient of a forward convolution whose
*input* has the requested output length ``O``. The forward convolution pads ``O`` with
``pad_before`` rows in front (``total // 2`` for ``SAME``, 0 for ``VALID``); so output row
``o`` of the transposed convolution is row ``o + pad_before`` of the *full* transposed
convolution, whose length is ``F = (I - 1) * s + (k - 1) * d + 1``. Rows of the full result
outside ``[pad_before, pad_before + O)`` are cropped, and output rows past ``F`` are zeros.
``torch.nn.functional.conv_transpose*d`` can only crop symmetrically (``padding``) and
extend at the end by less than the stride (``output_padding``); :func:`plan_axis` picks the
torch arguments that compute the least waste and the slice that finishes the job.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "AxisPlan",
    "effective_kernel_size",
    "keras_output_length",
    "tf1_output_length",
    "forward_conv_length",
    "tf_padding_before",
    "conv_padding",
    "conv_output_length",
    "check_tf_accepts",
    "plan_axis",
    "tap_ranges",
]


def effective_kernel_size(kernel_size: int, dilation: int = 1) -> int:
    """Extent of a dilated kernel: ``(k - 1) * d + 1``."""
    return (kernel_size - 1) * dilation + 1


def keras_output_length(input_length, kernel_size, stride, padding, output_padding=None, dilation=1):
    """Output length Keras 3 (and Keras 2) asks TensorFlow for.

    ``padding`` is ``"valid"`` or ``"same"``; ``output_padding=None`` lets it be inferred.
    ``None`` input length (an unknown dimension) gives ``None``.
    """
    if input_length is None:
        return None
    k = effective_kernel_size(kernel_size, dilation)
    if padding == "valid":
        if output_padding is None:
            output_padding = max(k, stride) - k
        return (input_length - 1) * stride + k + output_padding
    if padding == "same":
        if output_padding is None:
            return input_length * stride
        return (input_length - 1) * stride + k % 2 + output_padding
    raise ValueError(f"padding must be 'valid' or 'same'. Received: padding={padding!r}")


def tf1_output_length(input_length, kernel_size, stride, padding):
    """Output length of TF1's ``tf.layers.conv2d_transpose`` (no output_padding, no dilation)."""
    if input_length is None:
        return None
    if padding == "valid":
        return input_length * stride + max(kernel_size - stride, 0)
    if padding == "same":
        return input_length * stride
    raise ValueError(f"padding must be 'valid' or 'same'. Received: padding={padding!r}")


def _c_div(a: int, b: int) -> int:
    """Integer division truncating toward zero, as TensorFlow's C++ does."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def forward_conv_length(length, kernel_size, stride, padding, dilation=1):
    """``(out_length, pad_before)`` of TF's forward convolution over ``length`` rows.

    ``padding`` is ``"valid"``, ``"same"`` or an explicit ``(before, after)`` pair; this is
    ``GetWindowedOutputSizeVerbose`` in TensorFlow, including its C++ rounding.
    """
    k = effective_kernel_size(kernel_size, dilation)
    if padding == "valid":
        return _c_div(length - k + stride, stride), 0
    if padding == "same":
        out = _c_div(length + stride - 1, stride)
        needed = max(0, (out - 1) * stride + k - length)
        return out, needed // 2
    before, after = padding
    return _c_div(length + before + after - k + stride, stride), before


def tf_padding_before(output_length, kernel_size, stride, padding, dilation=1):
    """Rows TensorFlow crops from the front of the full transposed convolution."""
    return forward_conv_length(output_length, kernel_size, stride, padding, dilation)[1]


def conv_padding(length, kernel_size, stride, padding, dilation=1):
    """``(before, after)`` rows TensorFlow pads one axis of a forward convolution or pooling with.

    ``"same"`` pads ``total // 2`` before and the rest after (one more row after than before
    when the total is odd, where torch's symmetric ``padding`` cannot follow); ``"causal"``
    pads ``(k - 1) * d`` before; ``"valid"`` nothing.
    """
    k = effective_kernel_size(kernel_size, dilation)
    if padding == "valid":
        return 0, 0
    if padding == "causal":
        return k - 1, 0
    out = _c_div(length + stride - 1, stride)
    total = max(0, (out - 1) * stride + k - length)
    return total // 2, total - total // 2


def conv_output_length(length, kernel_size, stride, padding, dilation=1):
    """Output length Keras computes for a forward convolution or pooling (``None`` stays ``None``)."""
    if length is None:
        return None
    if padding == "valid":
        return (length - effective_kernel_size(kernel_size, dilation)) // stride + 1
    return (length - 1) // stride + 1


def check_tf_accepts(input_length, output_length, kernel_size, stride, padding, dilation=1, axis=None):
    """Raise ``ValueError`` where TensorFlow's op refuses this combination.

    TensorFlow accepts an output length only if the forward convolution of that length
    gives back the input length; Keras's ``padding="same"`` with an explicit
    ``output_padding`` of 0 and an even effective kernel is the common way to fall foul of it.
    """
    where = "" if axis is None else f" on spatial axis {axis}"
    if output_length < 0:
        raise ValueError(
            f"The transposed convolution's output length would be negative{where}: "
            f"{output_length} (input length {input_length}, kernel_size {kernel_size}, "
            f"strides {stride}, dilation_rate {dilation}, padding {padding!r})."
        )
    computed, _ = forward_conv_length(output_length, kernel_size, stride, padding, dilation)
    if computed < 0 or computed != input_length:
        raise ValueError(
            f"TensorFlow rejects this configuration{where}: an output of length "
            f"{output_length} does not convolve back to the input length {input_length} "
            f"(it gives {computed}) with kernel_size={kernel_size}, strides={stride}, "
            f"dilation_rate={dilation}, padding={padding!r}. With padding='same' and an "
            f"explicit output_padding, an even effective kernel (k - 1) * d + 1 needs "
            f"output_padding >= 1 on that axis."
        )


@dataclass(frozen=True)
class AxisPlan:
    """How one spatial axis is computed with torch.

    ``F.conv_transpose*d`` runs with ``padding`` and ``output_padding``; its result is then
    sliced from ``start`` for ``output_length`` rows, after ``extend`` zero rows are appended
    (only when torch's ``output_padding`` cannot reach that far).
    """

    output_length: int
    crop_before: int
    crop_after: int
    padding: int
    output_padding: int
    start: int
    extend: int

    @property
    def is_identity(self) -> bool:
        """True when torch's output is already the answer (no slice, no extension)."""
        return self.start == 0 and self.torch_length == self.output_length

    @property
    def torch_length(self) -> int:
        """Length of torch's result before the slice."""
        full = self.output_length + self.crop_before + self.crop_after
        return full - 2 * self.padding + self.output_padding


def plan_axis(input_length, output_length, kernel_size, stride, padding, dilation=1):
    """Torch call and slice reproducing TF's ``conv_transpose`` on one axis.

    ``padding`` is ``"valid"``, ``"same"`` or explicit ``(before, after)``; the lengths must
    already be accepted by :func:`check_tf_accepts`. Uses the largest symmetric torch padding
    that TF's crop allows, so that torch computes as few discarded rows as possible.
    """
    full = (input_length - 1) * stride + effective_kernel_size(kernel_size, dilation)
    before = tf_padding_before(output_length, kernel_size, stride, padding, dilation)
    after = full - before - output_length  # negative: rows past the end, zeros
    max_output_padding = max(stride, dilation) - 1  # torch requires output_padding < max(s, d)
    if after >= 0:
        pad, out_pad = min(before, after), 0
    else:
        pad = max(0, min(before, max_output_padding + after))
        out_pad = pad - after
        if out_pad > max_output_padding:
            pad, out_pad = 0, 0
    torch_length = full - 2 * pad + out_pad
    start = before - pad
    extend = max(0, start + output_length - torch_length)
    return AxisPlan(
        output_length=output_length,
        crop_before=before,
        crop_after=after,
        padding=pad,
        output_padding=out_pad,
        start=start,
        extend=extend,
    )


def tap_ranges(input_length, output_length, kernel_size, stride, crop_before, dilation=1):
    """Where each kernel tap's rows land in TF's output, for the GEMM + col2im formulation.

    Input row ``i`` through tap ``t`` lands on full-result row ``i * s + t * d``, so on output
    row ``i * s + t * d - crop_before``. Returns ``(t, i_start, i_stop, o_start)`` for every
    tap that reaches ``[0, output_length)``: input rows ``i_start:i_stop`` land on output rows
    ``o_start, o_start + s, ...``. Taps that land nowhere (cropped away) are left out.
    """
    ranges = []
    for t in range(kernel_size):
        offset = t * dilation - crop_before
        i_start = max(0, -(offset // stride))  # first i with i * s + offset >= 0
        i_stop = min(input_length, (output_length - 1 - offset) // stride + 1)
        if i_stop > i_start:
            ranges.append((t, i_start, i_stop, i_start * stride + offset))
    return tuple(ranges)
