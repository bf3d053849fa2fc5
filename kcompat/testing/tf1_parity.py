"""TF1 graph code against TensorFlow 1: one source text, run by TF and by kcompat.

``build(tf1, **inputs)`` is run by TensorFlow as graph code in a ``tf.compat.v1`` graph and
session (``TF_USE_LEGACY_KERAS=1``), and by kcompat as the ``forward`` of a ``torch.nn.Module``
(:class:`Program`) with ``tf1 = kcompat.compat.v1``. :func:`check_program` compares the variable
names (TF's ``a/b/kernel`` is kcompat's ``a.b.kernel``) and trainability, then, kcompat given
TF's variable values by name: the output, the gradients for every input and every trainable
variable, and the variables after the pass (moving statistics that TF's ``UPDATE_OPS`` update).
"""

from __future__ import annotations

import textwrap

import numpy as np
import torch

from .tolerance import assert_close

__all__ = ["Program", "check_program", "tf_names"]


class Program(torch.nn.Module):
    """A TF1 graph-building function ``build(tf1, **inputs)``, ported as a module's forward."""

    def __init__(self, source, namespace=None):
        super().__init__()
        from .. import regularizers
        from ..compat import v1

        self._tf1 = v1
        scope = {"regularizers": regularizers, **(namespace or {})}
        exec(textwrap.dedent(source), scope)  # noqa: S102 - programs the caller wrote
        self._build = scope["build"]

    def forward(self, **inputs):
        return self._build(self._tf1, **inputs)


def tf_names(module):
    """The module's parameters under their TF names, in creation order."""
    return [name.replace(".", "/") for name, _ in module.named_parameters()]


def check_program(oracle, source, inputs, *, upstream=True, tf_source=None, kernel_size=1, strides=1, rtol=None,
                  seed=0):
    """Run ``source`` in TF and in kcompat (TF's variable values loaded by name) and compare all.

    ``inputs``: name -> numpy array; ``upstream``: the output's cotangent (``True``: drawn from
    ``seed``; ``None``: forward only). ``tf_source``: what TF runs where it needs another
    spelling (its CPU kernels refuse channels_first). Returns ``(program, reference, output)``.
    """
    source = textwrap.dedent(source)
    dtype = next(iter(inputs.values())).dtype
    probe = Program(source)
    first = probe(**{k: torch.tensor(v) for k, v in inputs.items()})  # creates the variables
    if upstream is True:  # in the output's dtype (a resize gives float32 whatever its input)
        upstream = np.random.default_rng(seed).standard_normal(tuple(first.shape)).astype(
            first.detach().numpy().dtype)
    ref = oracle.tf1_graph(textwrap.dedent(tf_source or source), inputs, kernel_size=kernel_size, strides=strides,
                           upstream=upstream)
    assert tf_names(probe) == list(ref["variables"]), "variable names"
    trainable = [n.replace(".", "/") for n, p in probe.named_parameters() if p.requires_grad]
    assert trainable == ref["trainable"], "trainable variables"
    program = probe  # its variables exist; TF's values replace them (moving statistics included)
    tensors = {k: torch.tensor(v, requires_grad=upstream is not None and v.dtype.kind == "f")
               for k, v in inputs.items()}
    program.load_state_dict({k.replace("/", "."): torch.tensor(v) for k, v in ref["variables"].items()})
    y = program(**tensors)  # a later pass: replays, creates nothing
    assert tf_names(program) == list(ref["variables"]), "a second forward pass changed the variables"
    assert tuple(y.shape) == ref["output"].shape, f"output shape {tuple(y.shape)} != {ref['output'].shape}"
    assert y.dtype == first.dtype and str(y.detach().numpy().dtype) == str(ref["output"].dtype), "output dtype"
    assert_close(y.detach().numpy(), ref["output"], dtype, "output", rtol)
    if upstream is not None:
        (y * torch.tensor(upstream)).sum().backward()
        for k, t in tensors.items():
            if t.requires_grad:
                assert_close(t.grad.numpy(), ref["grads"][k], dtype, f"d_{k}", rtol)
        for name, param in program.named_parameters():
            if param.requires_grad:
                theirs = ref["grads"][name.replace(".", "/")]
                ours = torch.zeros_like(param) if param.grad is None else param.grad
                assert_close(ours.numpy(), np.zeros(ours.shape) if theirs is None else theirs, dtype,
                             f"d_{name}", rtol)
    for name, value in program.state_dict().items():
        assert_close(value.numpy(), ref["after"][name.replace(".", "/")], dtype, f"{name} after the pass", rtol)
    return program, ref, y
