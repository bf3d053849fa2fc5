"""``keras.layers.Attention`` (Luong-style) and ``keras.layers.MultiHeadAttention`` on sequences
``(batch, steps, features)``: Keras's four projections (``query``/``key``/``value`` kernels
``(features, num_heads, key_dim)``, the output's ``(num_heads, value_dim, output_dim)``, kept in
Keras's layout), scores ``softmax(q k / sqrt(key_dim))`` over the key steps (masked positions at
-1e9), dropout on them in training, as Keras computes them."""

from __future__ import annotations

import math
import numbers
from typing import Any, Optional

import torch

from .._types import Identifier, IntOrSequence, OptionalInt
from .base import Layer, Weight, as_tensor
from .registry import keras_layer

__all__ = ["Attention", "MultiHeadAttention"]

_PROJECTIONS = ("query", "key", "gate", "value", "output")  # Keras's build order (gate with use_gate)


@keras_layer()
class MultiHeadAttention(Layer):
    """Keras's multi-head attention, called as Keras calls it: ``layer(query, value, key=None,
    attention_mask=None, return_attention_scores=False, training=None, use_causal_mask=False)``."""

    WEIGHTS = tuple(Weight(f"{p}_{w}", f"{p}_{w}") for p in _PROJECTIONS for w in ("kernel", "bias"))
    takes_call_arguments = True  # a node's keyword arguments (Keras 2's value=, attention_mask=) reach the call
    unpacks_arguments = True  # a Keras 3 node's args are (query, value[, key])

    def __init__(self, num_heads: int, key_dim: int, value_dim: OptionalInt = None, dropout: float = 0.0,
                 use_bias: bool = True, output_shape: Any = None, attention_axes: Optional[IntOrSequence] = None,
                 kernel_initializer: Identifier = "glorot_uniform", bias_initializer: Identifier = "zeros",
                 kernel_regularizer: Identifier = None, bias_regularizer: Identifier = None,
                 activity_regularizer: Identifier = None, kernel_constraint: Identifier = None,
                 bias_constraint: Identifier = None, seed: OptionalInt = None, use_gate: bool = False,
                 sliding_window: Any = None, flash_attention: Optional[bool] = None, query_shape: Any = None,
                 key_shape: Any = None, value_shape: Any = None, softmax_robust_masking: bool = False, **kwargs) -> None:
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        if softmax_robust_masking:
            raise ValueError("kcompat's MultiHeadAttention has no softmax_robust_masking")
        for name, value in (("num_heads", num_heads), ("key_dim", key_dim), ("value_dim", value_dim)):
            if (value is not None or name != "value_dim") and (
                    not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1):
                raise ValueError(f"Received an invalid value for argument `{name}`, expected a positive integer"
                                 f"{' or `None`' if name == 'value_dim' else ''}. Received: {name}={value}")
        if output_shape:
            try:
                output_shape = (output_shape,) if isinstance(output_shape, numbers.Integral) else tuple(output_shape)
            except TypeError:
                raise ValueError(f"Invalid `output_shape`: {output_shape}. When specified, the `output_shape` should "
                                 "be of type tuple, list, or int.") from None
        if sliding_window is not None and (not isinstance(sliding_window, numbers.Integral) or sliding_window <= 0):
            raise ValueError("`sliding_window` must be `None` or a positive integer. Received: "
                             f"sliding_window={sliding_window}")
        if attention_axes is not None and not isinstance(attention_axes, (int, list, tuple)):
            raise ValueError(f"`attention_axes` must be an int, list, or tuple.Received: "
                             f"attention_axes={attention_axes}")
        axes = None if attention_axes is None else list(attention_axes) if isinstance(
            attention_axes, (list, tuple)) else [attention_axes]
        if not 0 <= dropout <= 1:
            raise ValueError(f"`dropout` must be in [0, 1]. Received: dropout={dropout!r}")
        self.num_heads, self.key_dim = int(num_heads), int(key_dim)
        self.value_dim = int(value_dim) if value_dim else self.key_dim
        self.dropout, self.use_bias, self.seed = float(dropout), bool(use_bias), seed
        self.use_gate, self.sliding_window = bool(use_gate), sliding_window
        self.output_shape_arg = output_shape or None
        self.attention_axes = axes
        self._weight_arguments(kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
                               kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer,
                               kernel_constraint=kernel_constraint, bias_constraint=bias_constraint)
        self._build_shapes = (query_shape, value_shape, key_shape)  # Keras 2's config keeps them

    def _build_at_init(self):
        super()._build_at_init()
        query, value, key = self._build_shapes
        if query is not None and not self.built:
            self.build(tuple(query), None if value is None else tuple(value), None if key is None else tuple(key))

    def weight_names(self):
        return [f"{p}_{w}" for p in _PROJECTIONS if p != "gate" or self.use_gate
                for w in (("kernel", "bias") if self.use_bias else ("kernel",))]

    def _output_dims(self, query_dim):
        """The output's trailing axes: ``output_shape`` (one or several axes), else the query's features."""
        return (query_dim,) if self.output_shape_arg is None else tuple(int(d) for d in self.output_shape_arg)

    @staticmethod
    def _check_key(value_shape, key_shape):
        if tuple(value_shape[1:-1]) != tuple(key_shape[1:-1]):
            raise ValueError("All dimensions of `value` and `key`, except the last one, must be equal. Received: "
                             f"value_shape={tuple(value_shape)} and key_shape={tuple(key_shape)}")

    def build(self, query_shape, value_shape=None, key_shape=None):
        if self.built:
            return
        value_shape = query_shape if value_shape is None else value_shape
        key_shape = value_shape if key_shape is None else key_shape
        self._check_key(value_shape, key_shape)
        dims = {"query": query_shape[-1], "key": key_shape[-1], "value": value_shape[-1]}
        for name, dim in dims.items():
            if dim is None:
                raise ValueError(f"MultiHeadAttention: the {name}'s last axis must be known; received {dim}")
        self._build_weights(int(dims["query"]), int(dims["key"]), int(dims["value"]))

    def _build_weights(self, query_dim, key_dim, value_dim):
        for name, dim, size in (("query", query_dim, self.key_dim), ("key", key_dim, self.key_dim),
                                ("gate", query_dim, self.value_dim), ("value", value_dim, self.value_dim)):
            if name == "gate" and not self.use_gate:
                continue
            self.add_weight(f"{name}_kernel", (dim, self.num_heads, size), self.kernel_initializer,
                            regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
            if self.use_bias:
                self.add_weight(f"{name}_bias", (self.num_heads, size), self.bias_initializer,
                                regularizer=self.bias_regularizer, constraint=self.bias_constraint)
        out = self._output_dims(query_dim)
        self.add_weight("output_kernel", (self.num_heads, self.value_dim, *out), self.kernel_initializer,
                        regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        if self.use_bias:
            self.add_weight("output_bias", out, self.bias_initializer, regularizer=self.bias_regularizer,
                            constraint=self.bias_constraint)

    def _build_from_weights(self, shapes):
        q, k, v = (shapes.get(f"{n}_kernel") for n in ("query", "key", "value"))
        if all(s is not None and len(s) == 3 for s in (q, k, v)) and (shapes.get("gate_kernel") is not None) == \
                self.use_gate:
            self._build_weights(q[0], k[0], v[0])

    def _project(self, x, name):
        kernel = self.keras_weight(f"{name}_kernel")
        x, kernel = self._in_compute_dtype(x, kernel)
        y = torch.tensordot(x, kernel, dims=([-1], [0]))  # (batch, positions..., heads, size)
        return y + self.keras_weight(f"{name}_bias").to(y.dtype) if self.use_bias else y

    def _axes(self, rank):
        """``(attention axes, other position axes)`` of an input of ``rank`` (batch and features
        aside): Keras's default attends over every position axis."""
        positions = list(range(1, rank - 1))
        if self.attention_axes is None:
            return positions, []
        axes = sorted({a % rank if a < 0 else a for a in self.attention_axes})
        if not all(a in positions for a in axes):
            raise ValueError(f"MultiHeadAttention: attention_axes={self.attention_axes} must name position axes "
                             f"of the rank-{rank} inputs (1 to {rank - 2})")
        return axes, [a for a in positions if a not in axes]

    @staticmethod
    def _heads_first(x, axes, others):
        """(batch, positions..., heads, size) -> (batch, others..., heads, attended positions (one axis), size)."""
        rank = x.dim()
        x = x.permute(0, *others, rank - 2, *axes, rank - 1)
        return x.reshape(*x.shape[:len(others) + 2], -1, x.shape[-1])

    def forward(self, query, value=None, key=None, attention_mask=None, return_attention_scores=False,
                training=None, use_causal_mask=False, **unused):
        query = as_tensor(query)
        value = query if value is None else as_tensor(value)
        key = value if key is None else as_tensor(key)
        self._check_key(value.shape, key.shape)
        rank = query.dim()
        if rank < 3 or value.dim() != rank or key.dim() != rank:
            raise ValueError("MultiHeadAttention takes query, key and value of one rank, 3 or more (batch, "
                             f"positions..., features); received {tuple(query.shape)}, {tuple(key.shape)}, "
                             f"{tuple(value.shape)}")
        if not self.built:
            self.build(tuple(query.shape), tuple(value.shape), tuple(key.shape))
        axes, others = self._axes(rank)
        q = self._project(query, "query") * (1.0 / math.sqrt(float(self.key_dim)))
        k, v = self._project(key, "key"), self._project(value, "value")
        qq, kk, vv = (self._heads_first(t, axes, others) for t in (q, k, v))
        scores = torch.matmul(qq, kk.transpose(-1, -2))  # (batch, others..., heads, query positions, key positions)
        # Keras's scores: the attended axes unflattened, (batch, others..., heads, query's..., key's...)
        lead = tuple(qq.shape[:-2])
        full = lead + tuple(query.shape[a] for a in axes) + tuple(key.shape[a] for a in axes)
        mask = None if attention_mask is None else as_tensor(attention_mask).to(torch.bool)
        if use_causal_mask or self.sliding_window is not None:
            if rank != 3:
                raise ValueError("kcompat's MultiHeadAttention takes use_causal_mask and sliding_window for "
                                 f"(batch, steps, features) inputs; received rank {rank}")
            rows = torch.arange(q.shape[1], device=q.device).unsqueeze(1)
            cols = torch.arange(k.shape[1], device=q.device).unsqueeze(0)
            if use_causal_mask:  # Keras: row >= column, from the first positions of both
                mask = rows >= cols if mask is None else mask & (rows >= cols)
            if self.sliding_window is not None:  # Keras: |row - column| < window
                band = (rows - cols).abs() < self.sliding_window
                mask = band if mask is None else mask & band
        if mask is not None:
            while mask.dim() < len(full):  # Keras: the missing axes from the heads' on
                mask = mask.unsqueeze(-2 * len(axes) - 1)
            adder = (~mask).to(scores.dtype) * -1e9  # Keras's Softmax with a mask
            scores = (scores.reshape(full) + adder).reshape(scores.shape)
        probabilities = torch.softmax(scores, dim=-1)  # over every attended key position at once, as Keras
        if self.dropout and self._is_training(training):
            keep = 1.0 - self.dropout
            probabilities = probabilities * (torch.rand_like(probabilities) < keep).to(probabilities.dtype) / keep
        attended = torch.matmul(probabilities, vv)  # (batch, others..., heads, query positions, size)
        attended = attended.reshape(*lead, *(query.shape[a] for a in axes), attended.shape[-1])
        order = [0, *others, *axes]  # back to (batch, positions..., heads, size)
        inverse = [order.index(i) for i in range(rank - 1)]
        n = len(others) + 1
        attended = attended.permute(*[i if i < n else i + 1 for i in inverse], n, rank)
        if self.use_gate:  # Keras: sigmoid of the query's own projection, times the heads' outputs
            attended = attended * torch.sigmoid(self._project(query, "gate")).to(attended.dtype)
        kernel = self.keras_weight("output_kernel").to(attended.dtype)
        output = torch.tensordot(attended, kernel, dims=([-2, -1], [0, 1]))
        if self.use_bias:
            output = output + self.keras_weight("output_bias").to(output.dtype)
        if self._activity_losses or self.activity_regularizer is not None:
            self._add_activity_loss(output)
        return (output, probabilities.reshape(full)) if return_attention_scores else output

    def compute_output_shape(self, query_shape, value_shape=None, key_shape=None):
        query_shape = tuple(query_shape)
        if isinstance(query_shape[0], (list, tuple)):  # called on [query, value]
            query_shape, value_shape = tuple(query_shape[0]), tuple(query_shape[1])
        value_shape = query_shape if value_shape is None else tuple(value_shape)
        self._check_key(value_shape, value_shape if key_shape is None else key_shape)
        return (*query_shape[:-1], *self._output_dims(query_shape[-1]))

    def get_config(self):
        config = super().get_config()
        config.update({"num_heads": self.num_heads, "key_dim": self.key_dim, "value_dim": self.value_dim,
                       "dropout": self.dropout, "use_bias": self.use_bias, "output_shape": self.output_shape_arg,
                       "attention_axes": self.attention_axes, "seed": self.seed, "use_gate": self.use_gate,
                       "sliding_window": self.sliding_window,
                       **self._weight_config("kernel_initializer", "bias_initializer", "kernel_regularizer",
                                             "bias_regularizer", "kernel_constraint", "bias_constraint")})
        return config


@keras_layer()
class Attention(Layer):
    """``keras.layers.Attention`` (Luong-style): called on ``[query, value]`` or ``[query, value,
    key]``; scores ``query @ key^T`` (``score_mode="dot"``, times ``scale`` with ``use_scale``) or
    ``concat_score_weight * sum(tanh(scale * (q + k)))`` (``"concat"``), masked at -1e9 where
    ``use_causal_mask`` hides a step, softmax, dropout in training, then ``@ value``."""

    WEIGHTS = (Weight("scale", "scale"), Weight("concat_score_weight", "concat_score_weight"))
    takes_call_arguments = True  # the node's use_causal_mask=, mask=, return_attention_scores=

    def __init__(self, use_scale: bool = False, score_mode: str = "dot", dropout: float = 0.0, seed: OptionalInt = None,
                 causal: Any = None, **kwargs) -> None:
        super().__init__(**kwargs)
        if score_mode not in ("dot", "concat"):
            raise ValueError(f"Invalid value for argument score_mode. Expected one of {{'dot', 'concat'}}. "
                             f"Received: score_mode={score_mode}")
        if causal:
            raise ValueError("kcompat's Attention takes use_causal_mask= at call, as Keras 3 does, not causal=")
        self.use_scale, self.score_mode, self.dropout, self.seed = bool(use_scale), score_mode, float(dropout), seed

    def weight_names(self):
        return ["scale"] * self.use_scale + ["concat_score_weight"] * (self.score_mode == "concat")

    def build(self, input_shape=None):
        from .. import initializers

        if self.built:
            return
        for name in self.weight_names():
            self.add_weight(name, (), initializers.get("ones"))
        self._built_without_weights = not self.weight_names()  # Keras: built, with no weights

    def _build_from_weights(self, shapes):
        if all(shapes.get(n) == () for n in self.weight_names()):
            self.build()

    def forward(self, inputs, mask=None, training=None, return_attention_scores=False, use_causal_mask=False,
                **unused):
        if not isinstance(inputs, (list, tuple)):
            raise ValueError("Attention layer must be called on a list of inputs, namely [query, value] or "
                             f"[query, value, key]. Received: inputs={inputs}.")
        if len(inputs) not in (2, 3):
            raise ValueError("Attention layer accepts inputs list of length 2 or 3, namely [query, value] or "
                             f"[query, value, key]. Received length: {len(inputs)}.")
        query, value = as_tensor(inputs[0]), as_tensor(inputs[1])
        key = as_tensor(inputs[2]) if len(inputs) > 2 else value
        if not self.built:
            self.build()
        query, key, value = (t if t.dtype == query.dtype else t.to(query.dtype) for t in (query, key, value))
        if self.score_mode == "dot":
            scores = torch.matmul(query, key.transpose(-2, -1))
            if self.use_scale:
                scores = scores * self.keras_weight("scale").to(scores.dtype)
        else:
            total = query.unsqueeze(-2) + key.unsqueeze(-3)
            if self.use_scale:
                total = self.keras_weight("scale").to(total.dtype) * total
            scores = self.keras_weight("concat_score_weight").to(total.dtype) * torch.sum(torch.tanh(total), dim=-1)
        masks = list(mask) if isinstance(mask, (list, tuple)) else [None, None]
        query_mask, value_mask = (None if m is None else as_tensor(m).to(torch.bool) for m in masks[:2])
        scores_mask = value_mask
        if use_causal_mask:
            causal = torch.ones(scores.shape[-2], scores.shape[-1], dtype=torch.bool, device=scores.device).tril()
            scores_mask = causal if value_mask is None else value_mask.unsqueeze(-2) & causal
        if scores_mask is not None:
            padding = ~(scores_mask if scores_mask.dim() > 2 else scores_mask.unsqueeze(-2))
            scores = torch.where(padding, scores - (65504.0 if scores.dtype == torch.float16 else 1.0e9), scores)
        weights = torch.softmax(scores, dim=-1)
        if self.dropout and self._is_training(training):
            keep = 1.0 - self.dropout
            weights = weights * (torch.rand_like(weights) < keep).to(weights.dtype) / keep
        output = torch.matmul(weights, value)
        if query_mask is not None:
            output = torch.where(query_mask.unsqueeze(-1), output, torch.zeros((), dtype=output.dtype))
        return (output, weights) if return_attention_scores else output

    def compute_output_shape(self, input_shape):
        query, value = tuple(input_shape[0]), tuple(input_shape[1])
        return (*query[:-1], value[-1])

    def get_config(self):
        config = super().get_config()
        config.update({"use_scale": self.use_scale, "score_mode": self.score_mode, "dropout": self.dropout,
                       "seed": self.seed})
        return config
