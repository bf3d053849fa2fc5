"""Keras 3's ``BatchNormalization``, ``LayerNormalization`` and ``GroupNormalization``.

Keras's defaults, not torch's: ``epsilon=1e-3``; ``momentum=0.99`` in Keras's sense
(``moving = moving * momentum + batch * (1 - momentum)``, torch's ``momentum=0.01``); the moving
variance is updated with the batch's *biased* variance (torch: unbiased). ``training`` is
Keras's: the call's ``training=`` where given, else the module's mode (``model.eval()`` is
``training=False``); a BatchNormalization with ``trainable=False`` always uses its moving
statistics, as in Keras. Parameters and buffers are named as torch names them (``weight``,
``bias``, ``running_mean``, ``running_var``); ``get_weights`` gives Keras's
``[gamma, beta, moving_mean, moving_variance]``.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
import torch.nn.functional as F

from .. import initializers
from .._types import Identifier, IntOrSequence, OptionalInt
from ..validation import is_int
from .base import Layer, Weight, WeightlessLayer, as_tensor, building_keras2, construct
from .registry import keras_layer

__all__ = ["BatchNormalization", "LayerNormalization", "GroupNormalization", "UnitNormalization", "assign_moving_average",
           "l2_normalize"]


@torch.no_grad()
def assign_moving_average(moving, value, momentum):
    """TF's ``assign_moving_average`` in place: ``moving -= (moving - value) * decay``, the decay
    ``1 - momentum`` a float32 (Keras 2's BatchNormalization, TF1's and contrib's batch norm)."""
    decay = float(np.float32(1.0 - momentum))
    moving.sub_((moving - value.to(moving.dtype)) * decay)


def _axes(axis, name="axis"):
    axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
    if not axes or any(not is_int(a) for a in axes):
        raise TypeError(f"Expected an int or a list/tuple of ints for the argument '{name}', but received: {axis}")
    return [int(a) for a in axes]


def _float_dtype(inputs):
    """At least float32, as Keras computes normalizations."""
    return inputs.dtype if inputs.dtype in (torch.float32, torch.float64) else torch.float32


class _Normalization(Layer):
    """``gamma``/``beta`` (``center``/``scale``), their initializers, regularizers and constraints."""

    def __init__(self, epsilon: float, center: bool, scale: float, beta_initializer: Identifier,
                 gamma_initializer: Identifier, beta_regularizer: Identifier, gamma_regularizer: Identifier,
                 beta_constraint: Identifier, gamma_constraint: Identifier, **kwargs) -> None:
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self._with_beta, self._with_gamma = self.center, self.scale
        self._weight_arguments(beta_initializer=beta_initializer, gamma_initializer=gamma_initializer,
                               beta_regularizer=beta_regularizer, gamma_regularizer=gamma_regularizer,
                               beta_constraint=beta_constraint, gamma_constraint=gamma_constraint)

    def _add_affine(self, shape):
        self._built_without_weights = not (self._with_gamma or self._with_beta)
        if self._with_gamma:
            self.add_weight("gamma", shape, self.gamma_initializer, regularizer=self.gamma_regularizer,
                            constraint=self.gamma_constraint)
        if self._with_beta:
            self.add_weight("beta", shape, self.beta_initializer, regularizer=self.beta_regularizer,
                            constraint=self.beta_constraint)

    def _affine_names(self):
        return (["gamma"] if self._with_gamma else []) + (["beta"] if self._with_beta else [])

    def _affine_config(self):
        return {
            "epsilon": self.epsilon, "center": self.center, "scale": self.scale,
            **self._weight_config("beta_initializer", "gamma_initializer", "beta_regularizer", "gamma_regularizer",
                                  "beta_constraint", "gamma_constraint"),
        }

    def _finish(self, outputs, dtype):
        if outputs.dtype != dtype:
            outputs = outputs.to(dtype)
        if self._activity_losses or self.activity_regularizer is not None:
            self._add_activity_loss(outputs)
        return outputs

    def _out_dtype(self, inputs):
        """Keras casts to the compute dtype; under the default policy kcompat keeps the input's
        float dtype (``model.double()``)."""
        if self.dtype_policy.name == "float32" and inputs.is_floating_point():
            return inputs.dtype
        return self.compute_dtype

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


_KERAS3 = object()  # no `fused` argument: Keras 3's semantics


@keras_layer()
class BatchNormalization(_Normalization):
    """``keras.layers.BatchNormalization`` over ``axis`` (the channels; -1 for channels_last)."""

    WEIGHTS = (Weight("gamma", "weight"), Weight("beta", "bias"),
               Weight("moving_mean", "running_mean", trainable=False),
               Weight("moving_variance", "running_var", trainable=False),
               # batch renormalization's (renorm=True), in Keras 3's order
               Weight("moving_stddev", "moving_stddev", trainable=False),
               Weight("renorm_mean", "renorm_mean", trainable=False),
               Weight("renorm_stddev", "renorm_stddev", trainable=False))

    def __init__(self, axis: IntOrSequence = -1, momentum: float = 0.99, epsilon: float = 1e-3, center: bool = True,
                 scale: bool = True, beta_initializer: Identifier = "zeros", gamma_initializer: Identifier = "ones",
                 moving_mean_initializer: Identifier = "zeros", moving_variance_initializer: Identifier = "ones",
                 beta_regularizer: Identifier = None, gamma_regularizer: Identifier = None,
                 beta_constraint: Identifier = None, gamma_constraint: Identifier = None, synchronized: bool = False, *,
                 num_features: OptionalInt = None, **kwargs) -> None:
        renorm = bool(kwargs.pop("renorm", False))
        renorm_clipping = kwargs.pop("renorm_clipping", None)
        renorm_momentum = kwargs.pop("renorm_momentum", 0.99)
        # Keras 2's `fused` (the argument, or a Keras 2 config: see from_config): its fused kernel
        # (4-D/5-D inputs normalized on the channel axis, float32 or half) updates the moving
        # variance with the batch's unbiased variance, where Keras 3 uses the biased one.
        fused = kwargs.pop("fused", _KERAS3)
        for unsupported in ("virtual_batch_size", "adjustment"):  # Keras 2 only
            if kwargs.pop(unsupported, None) is not None:
                self._refuse(unsupported)
        super().__init__(epsilon, center, scale, beta_initializer, gamma_initializer, beta_regularizer,
                         gamma_regularizer, beta_constraint, gamma_constraint, **kwargs)
        self._fused = fused
        self._keras2 = fused is not _KERAS3
        self._keras2_fused = self._keras2 and fused is not False
        if renorm and self._keras2:
            raise ValueError("kcompat reproduces Keras 3's batch renormalization; a Keras 2 model's "
                             "BatchNormalization(renorm=True) is not reproduced.")
        self.renorm, self.renorm_clipping, self.renorm_momentum = renorm, None, 0.99
        if renorm:  # Keras 3's checks, in its words
            renorm_clipping = dict(renorm_clipping or {})
            keys = ["rmax", "rmin", "dmax"]
            if set(renorm_clipping) - set(keys):
                raise ValueError(f"Received invalid keys for `renorm_clipping` argument: {renorm_clipping}. "
                                 f"Supported values: {keys}.")
            rmax, rmin, dmax = (renorm_clipping.get(k) for k in ("rmax", "rmin", "dmax"))
            if rmax is not None and rmin is not None and rmax < rmin:
                raise ValueError("rmax should be greater than rmin in the `renorm_clipping` argument. "
                                 f"Received: rmax={rmax}, rmin={rmin}.")
            if dmax is not None and dmax < 0:
                raise ValueError(f"dmax should be non-negative in the `renorm_clipping` argument. Received: dmax={dmax}.")
            self.renorm_clipping, self.renorm_momentum = renorm_clipping, float(renorm_momentum)
        axes = _axes(axis)
        if len(axes) != 1:
            raise ValueError(f"kcompat's BatchNormalization normalizes over one axis. Received: axis={axis}")
        self.axis = axes[0]
        self.momentum = float(momentum)
        self.synchronized = bool(synchronized)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer, "moving_mean_initializer")
        self.moving_variance_initializer = initializers.get(moving_variance_initializer,
                                                            "moving_variance_initializer")
        self._num_features_arg = num_features

    @classmethod
    def from_config(cls, config):
        """Keras 3 configs, and Keras 2 configs (no ``synchronized`` key) with Keras 2's semantics."""
        config = dict(config)
        if "synchronized" not in config and "fused" not in config:
            config["fused"] = None
        return construct(cls, config)

    def _constructor_arguments(self):
        """get_config, plus Keras 2's ``fused`` where the layer has Keras 2's semantics (its config
        does not say so: Keras 2 writes no ``fused``)."""
        config = super()._constructor_arguments()
        if self._keras2:
            config["fused"] = self._fused
        return config

    def _unbiased_update(self, x, axis):
        """Whether Keras 2's fused kernel would run (and update with the unbiased variance)."""
        return (self._keras2_fused and x.dim() in (4, 5) and axis in (1, x.dim() - 1)
                and x.dtype != torch.float64)

    def _update_moving(self, moving, batch):
        """Keras 3: ``moving * momentum + batch * (1 - momentum)``; Keras 2's (non-fused):
        ``moving - (moving - batch) * decay``, its decay a float32 ``1 - momentum``."""
        if self._keras2:
            assign_moving_average(moving, batch, self.momentum)
        else:
            batch = batch.to(moving.dtype)
            moving.copy_(moving * self.momentum + batch * (1.0 - self.momentum))

    @staticmethod
    def _refuse(what):
        raise ValueError(f"kcompat does not reproduce BatchNormalization's `{what}`.")

    def _build_at_init(self):
        super()._build_at_init()
        if self._num_features_arg is not None:
            self._build_weights(int(self._num_features_arg))

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        if not -len(input_shape) <= self.axis < len(input_shape):
            raise ValueError("Invalid value for `axis` argument. Expected 0 <= axis < inputs.rank (with "
                             f"inputs.rank={len(input_shape)}). Received: axis={self.axis}")
        dim = input_shape[self.axis]
        if dim is None:
            raise ValueError(f"Axis {self.axis} of input tensor should have a defined dimension but the layer "
                             f"received an input with shape {input_shape}.")
        self._build_weights(int(dim))

    def _build_weights(self, dim):
        if self.built:
            return
        self._add_affine((dim,))
        self.add_weight("moving_mean", (dim,), self.moving_mean_initializer)
        self.add_weight("moving_variance", (dim,), self.moving_variance_initializer)
        if self.renorm:  # Keras 3: the stddevs start at the square root of the variance initializer's values
            self.add_weight("moving_stddev", (dim,), self.moving_variance_initializer)
            self.add_weight("renorm_mean", (dim,), self.moving_mean_initializer)
            self.add_weight("renorm_stddev", (dim,), self.moving_variance_initializer)
            with torch.no_grad():
                self.moving_stddev.sqrt_()
                self.renorm_stddev.sqrt_()

    def _build_from_weights(self, shapes):
        shape = shapes.get("moving_mean")
        if shape is not None and len(shape) == 1:
            self._build_weights(int(shape[0]))

    def weight_names(self):
        renorm = ["moving_stddev", "renorm_mean", "renorm_stddev"] if self.renorm else []
        return self._affine_names() + ["moving_mean", "moving_variance"] + renorm

    def _renormalized(self, x, gamma, beta):
        """Keras 3's batch renormalization in training (channels on axis 1): the batch's moments,
        corrected by ``r = stddev / renorm_stddev`` and ``d = (mean - renorm_mean) / renorm_stddev``
        (clipped, no gradient through them), then the renorm and moving statistics updated."""
        reduce = [d for d in range(x.dim()) if d != 1]
        variance, mean = torch.var_mean(x, dim=reduce, unbiased=False)
        stddev = torch.sqrt(variance + self.epsilon)
        with torch.no_grad():
            renorm_mean = self.renorm_mean.to(x.dtype)
            renorm_stddev = torch.clamp_min(self.renorm_stddev.to(x.dtype), math.sqrt(self.epsilon))
            r = stddev / renorm_stddev
            d = (mean - renorm_mean) / renorm_stddev
            clip = self.renorm_clipping
            if clip.get("rmin") is not None:
                r = torch.clamp_min(r, clip["rmin"])
            if clip.get("rmax") is not None:
                r = torch.clamp_max(r, clip["rmax"])
            if clip.get("dmax") is not None:
                d = torch.clamp(d, -clip["dmax"], clip["dmax"])
        # (x r + d) gamma + beta: the gradient reaches gamma and beta, not r and d
        gamma_r = r if gamma is None else r * gamma
        beta_d = d if gamma is None else d * gamma
        beta_d = beta_d if beta is None else beta_d + beta
        shape = (1, -1) + (1,) * (x.dim() - 2)
        y = (x - mean.reshape(shape)) * torch.rsqrt(variance.reshape(shape) + self.epsilon)
        y = y * gamma_r.reshape(shape) + beta_d.reshape(shape)
        with torch.no_grad():
            rm, m = self.renorm_momentum, self.momentum
            mean, stddev = mean.detach(), stddev.detach()
            self.renorm_mean.copy_(self.renorm_mean * rm + mean * (1.0 - rm))
            self.renorm_stddev.copy_(self.renorm_stddev * rm + stddev * (1.0 - rm))
            self.running_mean.copy_(self.running_mean * m + mean * (1.0 - m))
            self.moving_stddev.copy_(self.moving_stddev * m + stddev * (1.0 - m))
            self.running_var.copy_(torch.relu(self.moving_stddev * self.moving_stddev - self.epsilon))
        return y

    def forward(self, inputs, training=None):
        inputs = as_tensor(inputs)
        self._build_on_call(inputs)
        axis = self.axis % inputs.dim()
        running_mean, running_var = self.running_mean, self.running_var
        if inputs.shape[axis] != running_mean.shape[0]:
            raise ValueError(f'Input 0 of layer "{self.name}" is incompatible with the layer: expected axis '
                             f"{self.axis} of input shape to have value {running_mean.shape[0]}, but "
                             f"received input with shape {tuple(inputs.shape)}")
        out_dtype = self._out_dtype(inputs)
        compute = _float_dtype(inputs)
        if inputs.requires_grad and not inputs.is_contiguous():
            # A strided view (a transposed convolution's crop): torch's batch-norm backward takes a
            # slow generic path on it (19 ms against 2.7 ms with the copy, 64x14x14x64, training;
            # forward alone is faster without the copy).
            inputs = inputs.contiguous()
        x = inputs.movedim(axis, 1) if axis != 1 else inputs
        if x.dtype != compute:
            x = x.to(compute)
        gamma, beta = self.weight, self.bias
        if gamma is not None and gamma.dtype != compute:
            gamma = gamma.to(compute)
        if beta is not None and beta.dtype != compute:
            beta = beta.to(compute)
        if self.renorm and self._is_training(training) and self._trainable:
            y = self._renormalized(x, gamma, beta)
        elif self._is_training(training) and self._trainable and x.dtype in (torch.float32, torch.float64) \
                and x.numel() > x.shape[1]:
            # One pass for the output and the batch's statistics (its mean, and its variance from
            # the 1 / sqrt(var + eps) the kernel keeps: off by ~1e-7 * (var + eps), float32 rounding).
            y, batch_mean, inverse = torch.native_batch_norm(x, gamma, beta, None, None, True, 0.0, self.epsilon)
            with torch.no_grad():
                variance = inverse.double().pow(-2).sub_(self.epsilon).clamp_(min=0)
                if self._unbiased_update(inputs, axis):
                    count = x.numel() // x.shape[1]
                    variance.mul_(count / (count - 1))
                self._update_moving(running_mean, batch_mean)
                self._update_moving(running_var, variance.to(running_var.dtype))
        elif self._is_training(training) and self._trainable:
            reduce = [d for d in range(x.dim()) if d != 1]
            with torch.no_grad():
                unbiased = self._unbiased_update(inputs, axis) and x.numel() > x.shape[1]
                batch_variance, batch_mean = torch.var_mean(x, dim=reduce, unbiased=unbiased)
                self._update_moving(running_mean, batch_mean)
                self._update_moving(running_var, batch_variance)
            if x.numel() == x.shape[1]:  # one value per channel: torch refuses, TF normalizes it to beta
                variance, mean = torch.var_mean(x, dim=reduce, unbiased=False)
                shape = (1, -1) + (1,) * (x.dim() - 2)
                y = (x - mean.reshape(shape)) * torch.rsqrt(variance.reshape(shape) + self.epsilon)
                y = y if gamma is None else y * gamma.reshape(shape)
                y = y if beta is None else y + beta.reshape(shape)
            else:
                y = F.batch_norm(x, None, None, gamma, beta, True, 0.0, self.epsilon)
        else:
            if running_mean.dtype != compute:
                running_mean, running_var = running_mean.to(compute), running_var.to(compute)
            y = F.batch_norm(x, running_mean, running_var, gamma, beta, False, 0.0, self.epsilon)
        return self._finish(y.movedim(1, axis) if axis != 1 else y, out_dtype)

    def get_config(self):
        config = super().get_config()
        config.update({"axis": self.axis, "momentum": self.momentum})
        config.update(self._affine_config())
        config.update({
            "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
            "moving_variance_initializer": initializers.serialize(self.moving_variance_initializer),
        })
        order = ["name", "trainable", "dtype", "axis", "momentum", "epsilon", "center", "scale", "beta_initializer",
                 "gamma_initializer", "moving_mean_initializer", "moving_variance_initializer", "beta_regularizer",
                 "gamma_regularizer", "beta_constraint", "gamma_constraint"]
        config = {k: config[k] for k in order}
        config.update({"synchronized": self.synchronized, "renorm": self.renorm,
                       "renorm_clipping": self.renorm_clipping, "renorm_momentum": self.renorm_momentum})
        return config

    def extra_repr(self):
        return f"axis={self.axis}, momentum={self.momentum}, epsilon={self.epsilon}"


@keras_layer()
class LayerNormalization(_Normalization):
    """``keras.layers.LayerNormalization`` over ``axis`` (an int or a list), per sample;
    ``rms_scaling`` as Keras defines it (``x * rsqrt(var + epsilon) * gamma``)."""

    WEIGHTS = (Weight("gamma", "weight"), Weight("beta", "bias"))

    def __init__(self, axis: IntOrSequence = -1, epsilon: float = 1e-3, center: bool = True, scale: bool = True,
                 rms_scaling: bool = False, beta_initializer: Identifier = "zeros",
                 gamma_initializer: Identifier = "ones", beta_regularizer: Identifier = None,
                 gamma_regularizer: Identifier = None, beta_constraint: Identifier = None,
                 gamma_constraint: Identifier = None, **kwargs) -> None:
        super().__init__(epsilon, center, scale, beta_initializer, gamma_initializer, beta_regularizer,
                         gamma_regularizer, beta_constraint, gamma_constraint, **kwargs)
        self.axis = list(axis) if isinstance(axis, (list, tuple)) else axis
        _axes(self.axis)
        self.rms_scaling = bool(rms_scaling)
        # Keras: rms_scaling always scales and never centres (and is deprecated: it divides by the variance).
        self._with_beta = self.center and not self.rms_scaling
        self._with_gamma = self.scale or self.rms_scaling
        if self.rms_scaling:
            warnings.warn("You passed `rms_scaling=True`, which is deprecated. This argument incorrectly scales the "
                          "input by the variance, not the root mean square. To correctly use RMS Normalization, "
                          "please use `keras.layers.RMSNormalization` instead.", stacklevel=2)

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        axes = self._normalized_axes(len(input_shape))
        shape = tuple(int(input_shape[a]) for a in axes) if len(axes) > 1 else (int(input_shape[axes[0]]),)
        if not self.built:
            self._add_affine(shape)

    def _normalized_axes(self, rank):
        """``axis`` as sorted non-negative axes of a rank-``rank`` input; an axis the input lacks is
        refused (``axis=3`` on a rank-3 input is not axis 0; Keras fails on it too)."""
        axes = _axes(self.axis)
        if any(not -rank <= a < rank for a in axes):
            raise ValueError(f"LayerNormalization: axis={self.axis} is out of range for an input of rank {rank} "
                             f"(axes -{rank} to {rank - 1})")
        return sorted(a % rank for a in axes)

    def _build_from_weights(self, shapes):
        shape = shapes.get("gamma", shapes.get("beta"))
        if shape is not None and not self.built:
            self._add_affine(tuple(shape))

    def weight_names(self):
        return self._affine_names()

    def forward(self, inputs):
        inputs = as_tensor(inputs)
        self._build_on_call(inputs)
        out_dtype = self._out_dtype(inputs)
        x = inputs.to(_float_dtype(inputs))
        n = x.dim()
        axes = self._normalized_axes(n)
        gamma = None if self.weight is None else self.weight.to(x.dtype)
        beta = None if self.bias is None else self.bias.to(x.dtype)
        shape = [1] * n
        for a in axes:
            shape[a] = x.shape[a]
        trailing = axes == list(range(n - len(axes), n))
        if not self.rms_scaling and trailing:
            normalized = tuple(x.shape[a] for a in axes)
            y = F.layer_norm(x, normalized, None if gamma is None else gamma.reshape(normalized),
                             None if beta is None else beta.reshape(normalized), self.epsilon)
            return self._finish(y, out_dtype)
        variance, mean = torch.var_mean(x, dim=axes, unbiased=False, keepdim=True)
        inv = torch.rsqrt(variance + self.epsilon)
        if self.rms_scaling:
            y = x * inv
            return self._finish(y if gamma is None else y * gamma.reshape(shape), out_dtype)
        if gamma is not None:
            inv = inv * gamma.reshape(shape)
        res = -mean * inv
        if beta is not None:
            res = res + beta.reshape(shape)
        return self._finish(x * inv + res, out_dtype)

    def get_config(self):
        config = super().get_config()
        affine = self._affine_config()
        config.update({"axis": self.axis, "epsilon": self.epsilon, "center": self.center, "scale": self.scale,
                       "rms_scaling": self.rms_scaling})
        config.update({k: affine[k] for k in ("beta_initializer", "gamma_initializer", "beta_regularizer",
                                              "gamma_regularizer", "beta_constraint", "gamma_constraint")})
        return config


@keras_layer()
class GroupNormalization(_Normalization):
    """``keras.layers.GroupNormalization``: ``groups`` groups of consecutive channels on ``axis``
    (-1: channels_last), each normalized per sample (``F.group_norm`` on the channels moved first)."""

    WEIGHTS = (Weight("gamma", "weight"), Weight("beta", "bias"))

    def __init__(self, groups: int = 32, axis: IntOrSequence = -1, epsilon: float = 1e-3, center: bool = True,
                 scale: bool = True, beta_initializer: Identifier = "zeros", gamma_initializer: Identifier = "ones",
                 beta_regularizer: Identifier = None, gamma_regularizer: Identifier = None,
                 beta_constraint: Identifier = None, gamma_constraint: Identifier = None, **kwargs) -> None:
        super().__init__(epsilon, center, scale, beta_initializer, gamma_initializer, beta_regularizer,
                         gamma_regularizer, beta_constraint, gamma_constraint, **kwargs)
        if not is_int(groups) or (groups <= 0 and groups != -1):
            raise ValueError("Received an invalid value for argument `groups`, expected a positive integer (or `-1` "
                             f"for instance normalization). Received: groups={groups}")
        self.groups = int(groups)
        self.axis = int(axis)

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        if not -len(input_shape) <= self.axis < len(input_shape):
            raise ValueError("Invalid value for `axis` argument. Expected 0 <= axis < inputs.rank (with "
                             f"inputs.rank={len(input_shape)}). Received: axis={self.axis}")
        dim = input_shape[self.axis]
        if dim is None:
            raise ValueError(f"Axis {self.axis} of input tensor should have a defined dimension but the layer "
                             f"received an input with shape {input_shape}.")
        if self.groups == -1:
            self.groups = dim
        if dim < self.groups:
            raise ValueError(f"Number of groups ({self.groups}) cannot be more than the number of channels ({dim}).")
        if dim % self.groups:
            raise ValueError(f"Number of groups ({self.groups}) must be a multiple of the number of channels "
                             f"({dim}).")
        if not self.built:
            self._add_affine((int(dim),))

    def _build_from_weights(self, shapes):
        shape = shapes.get("gamma", shapes.get("beta"))
        if shape is not None and len(shape) == 1 and not self.built:
            if self.groups == -1:
                self.groups = int(shape[0])
            self._add_affine(tuple(shape))

    def weight_names(self):
        return self._affine_names()

    def forward(self, inputs):
        inputs = as_tensor(inputs)
        self._build_on_call(inputs)
        out_dtype = self._out_dtype(inputs)
        # Keras computes the groups' statistics in float32 at least (float16 overflows on them).
        x = inputs.to(torch.promote_types(_float_dtype(inputs), torch.float32))
        axis = self.axis % x.dim()
        gamma = None if self.weight is None else self.weight.to(x.dtype)
        beta = None if self.bias is None else self.bias.to(x.dtype)
        x = x.movedim(axis, 1)
        shape = [1, -1] + [1] * (x.dim() - 2)
        if x.numel() == x.shape[0] * self.groups:
            # One value per group: x - mean is 0 and Keras gives beta; torch's group_norm refuses it.
            y = x - x
            y = y if gamma is None else y * gamma.reshape(shape)
            y = y if beta is None else y + beta.reshape(shape)
        elif gamma is None and beta is not None:
            # torch 2.13's group_norm backward fails ("tensor does not have a device") on a bias
            # without a weight: the bias is added here instead.
            y = F.group_norm(x, self.groups, None, None, self.epsilon) + beta.reshape(shape)
        else:
            y = F.group_norm(x, self.groups, gamma, beta, self.epsilon)
        return self._finish(y.movedim(1, axis), out_dtype)

    def get_config(self):
        config = super().get_config()
        config.update({"groups": self.groups, "axis": self.axis})
        affine = self._affine_config()
        config.update({k: affine[k] for k in ("epsilon", "center", "scale", "beta_initializer", "gamma_initializer",
                                              "beta_regularizer", "gamma_regularizer", "beta_constraint",
                                              "gamma_constraint")})
        return config


def l2_normalize(x, axis, keras2, epsilon):
    """``x`` over its L2 norm on ``axis`` (an int or a list), as each Keras computes it: Keras 3's
    ``ops.normalize`` ``x * min(rsqrt(sum(x**2)), 1 / epsilon)``; Keras 2's
    ``tf.linalg.l2_normalize`` ``x * rsqrt(max(sum(x**2), 1e-12))``."""
    # An empty axis list reduces nothing (torch's sum over dim=() would reduce every axis).
    axis = [axis] if isinstance(axis, int) else list(axis)
    square_sum = torch.square(x) if not axis else torch.sum(torch.square(x), dim=axis, keepdim=True)
    if keras2:
        return x * torch.rsqrt(torch.clamp_min(square_sum, 1e-12))
    # 1 / epsilon in x's dtype, as Keras casts it: inf in float16, where min() keeps the rsqrt.
    cap = torch.tensor(1.0 / epsilon, dtype=torch.float32).to(x.dtype)
    return x * torch.minimum(torch.rsqrt(square_sum), cap)


@keras_layer()
class UnitNormalization(WeightlessLayer):
    """``keras.layers.UnitNormalization``: ``x`` over its L2 norm on ``axis``. Keras 3 computes
    ``x * min(rsqrt(sum(x**2)), 1e12)``; Keras 2 (``tf.linalg.l2_normalize``)
    ``x * rsqrt(max(sum(x**2), 1e-12))``: they differ where the norm is below 1e-6, and a layer
    of a Keras 2 model keeps Keras 2's."""

    def __init__(self, axis: IntOrSequence = -1, **kwargs) -> None:
        super().__init__(**kwargs)
        if isinstance(axis, (list, tuple)) and all(isinstance(a, int) and not isinstance(a, bool) for a in axis):
            self.axis = list(axis)
        elif isinstance(axis, int) and not isinstance(axis, bool):
            self.axis = axis
        else:
            raise TypeError("Invalid value for `axis` argument: expected an int or a list/tuple of ints. "
                            f"Received: axis={axis}")
        self._keras2 = building_keras2()

    def _input(self, inputs):
        inputs = super()._input(inputs)
        return inputs if inputs.is_floating_point() else inputs.to(self.compute_dtype)

    def call(self, inputs):
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        for a in axes:
            if a >= inputs.dim() or a < -inputs.dim():
                raise ValueError(f"Axis {self.axis} is out of bounds for input shape {tuple(inputs.shape)}.")
        return l2_normalize(inputs, axes, self._keras2, epsilon=1e-12)

    def compute_output_shape(self, input_shape):
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        for a in axes:
            if a >= len(input_shape) or a < -len(input_shape):
                raise ValueError(f"Axis {self.axis} is out of bounds for input shape {tuple(input_shape)}.")
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"axis": self.axis})
        return config
