"""Other ways a user might port a transposed convolution, judged beside kcompat on the same inputs.

- ``keras3-torch``: Keras 3's own layer on its torch backend (run in a ``KERAS_BACKEND=torch``
  worker process).
- ``torch-recipe``: ``torch.nn.ConvTranspose1d/2d/3d`` with the padding recipe most hand ports
  use: ``padding = dilation * (kernel - 1) // 2`` and ``output_padding = stride - 1`` for
  ``"same"``, ``padding = 0`` for ``"valid"``, Keras's ``output_padding`` when one is given;
  the input moved to channels-first and back for channels_last.

Each takes ``(tf_config, x, weights, upstream)`` and returns the output and, when ``upstream``
fits it, the gradients (see :func:`kcompat.testing.parity.compare_implementations`).
"""

from __future__ import annotations

import numpy as np
import torch

from .. import activations
from ..testing import tf_calls
from ..layouts import keras_order, torch_order

__all__ = ["keras3_torch", "peers", "torch_recipe"]


_MODULES = {1: torch.nn.ConvTranspose1d, 2: torch.nn.ConvTranspose2d, 3: torch.nn.ConvTranspose3d}


def torch_recipe(tf_config, x, weights, upstream):
    c = tf_config
    rank = x.ndim - 2
    k, s, d = c["kernel_size"], c["strides"], c["dilation_rate"]
    same = c["padding"] == "same"
    padding = tuple(di * (ki - 1) // 2 if same else 0 for ki, di in zip(k, d))
    if c["output_padding"] is not None:
        output_padding = tuple(c["output_padding"])
    else:
        output_padding = tuple(si - 1 if same else 0 for si in s)
    channels_last = c["data_format"] == "channels_last"
    conv = _MODULES[rank](x.shape[-1 if channels_last else 1], c["filters"], k, stride=s, padding=padding,
                          output_padding=output_padding, dilation=d, bias=c["use_bias"],
                          dtype=torch.float64 if x.dtype == np.float64 else torch.float32)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor(weights[0]).permute(*torch_order(rank)))
        if c["use_bias"]:
            conv.bias.copy_(torch.tensor(weights[1]))
    xt = torch.tensor(x, requires_grad=upstream is not None)
    y = conv(xt.movedim(-1, 1) if channels_last else xt)
    y = y.movedim(1, -1) if channels_last else y
    y = activations.get(c["activation"])(y)
    out = {"output": y.detach().numpy()}
    if upstream is not None and tuple(y.shape) == upstream.shape:
        (y * torch.tensor(upstream)).sum().backward()
        out["grads"] = [xt.grad.numpy(), conv.weight.grad.permute(*keras_order(rank)).numpy()] + (
            [conv.bias.grad.numpy()] if c["use_bias"] else [])
    return out


def keras3_torch(oracle):
    def run(tf_config, x, weights, upstream):
        return oracle.call("keras-torch", tf_calls.keras_torch_call, config=tf_config, x=x, weights=weights,
                           upstream=upstream)

    return run


def peers(oracle):
    """``{name: implementation}`` of every peer."""
    return {"keras3-torch": keras3_torch(oracle), "torch-recipe": torch_recipe}
