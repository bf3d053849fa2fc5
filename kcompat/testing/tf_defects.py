"""Where TensorFlow, the oracle, is known to be wrong, and what stands in for it there.

Each defect was seen and pinned by a test; the parity engine routes around it and says so in
the result's notes.
"""

from __future__ import annotations

import numpy as np

from . import numpy_reference, tf_calls

__all__ = ["default_kernel", "float64_reference", "keras3_bias_defect", "tensorflow_unreliable"]


def tensorflow_unreliable(config, rank):
    """3-D with a kernel axis smaller than its stride: TensorFlow's oneDNN kernel corrupts its
    heap there and its default CPU kernel returns wrong input gradients for some shapes (seen:
    kernel (1, 4, 3), strides 3, 'same', output_padding (2, 2, 1) on a 2x3x5 input: d_input
    off by O(1) against finite differences). Such cases are judged by :func:`float64_reference`."""
    return rank == 3 and any(k < s for k, s in zip(config["kernel_size"], config["strides"]))


def float64_reference(oracle, reference, config, x, weights, upstream, output_shape):
    """What TensorFlow's layer would return (``layer_call``'s output and gradients) where it
    cannot be trusted: the transposed convolution and its gradients from the float64 numpy
    reference, the activation (and its gradient) from TensorFlow, in float64."""
    geometry = numpy_reference.geometry(config)
    bias = weights[1] if config["use_bias"] else None
    linear = numpy_reference.conv_transpose(x, weights[0], bias,
                                            output_size=numpy_reference.spatial_size(config, output_shape), **geometry)
    upstream = None if upstream is None else upstream.astype(np.float64)
    activated = oracle.run(tf_calls.activation_vjp, reference="tf_keras" if reference == "tf_keras" else "keras",
                            name=config["activation"], x=linear, upstream=upstream)
    out = {"output": activated["output"]}
    if upstream is not None:
        d_x, d_kernel, d_bias = numpy_reference.conv_transpose_vjp(x, weights[0], activated["grad"], **geometry)
        out["grads"] = [d_x, d_kernel] + ([d_bias] if bias is not None else [])
    return out


def keras3_bias_defect(reference, config, output_shape, flavour):
    """Keras 3 on TF's oneDNN path adds the bias on the wrong axis for channels_first when the
    output width equals ``filters``: compare against its default kernel (channels_last inside)."""
    return (reference == "keras" and config["data_format"] == "channels_first" and config["use_bias"]
            and output_shape[-1] == config["filters"] and flavour == "onednn")


def default_kernel(flavour):
    """TF's default (non-oneDNN) CPU kernel beside the oneDNN ``flavour``; ``None`` if it is one."""
    return "eigen" + flavour[len("onednn"):] if flavour.startswith("onednn") else None
