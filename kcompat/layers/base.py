"""The Keras layer surface, once, for every kcompat layer.

A kcompat layer is a ``torch.nn.Module`` that a Keras user recognises: Keras's arguments,
naming, ``trainable``, dtype policy, ``build``, ``losses``, ``get_weights``/``set_weights``,
``get_config``/``from_config``; and that a torch user recognises: parameters under torch's
names and in torch's layout (``weight``, ``bias``), so ``state_dict()`` reads like the torch
module's. Each weight is also readable under its Keras name in Keras layout (``kernel``), a view.

Adding a layer (its class in a module of ``kcompat/layers/``, a family's or a new one, plus its
tests; nothing else is edited):

1. Subclass :class:`Layer` and declare it with ``@keras_layer()``
   (:mod:`kcompat.layers.registry`: loading, the converter, ``kcompat-port`` and
   ``kcompat.<Name>`` find it by Keras's class name); declare the weights, Keras name, torch
   name, layout (:mod:`kcompat.layouts`), in Keras's order::

       WEIGHTS = (Weight("kernel", "weight", layouts.KERNEL), Weight("bias", "bias"))

2. ``__init__`` takes Keras's arguments with Keras's defaults (in Keras's positional order) and
   ``**kwargs``; it calls ``super().__init__(**kwargs)`` first (name, trainable, dtype,
   activity_regularizer, input_shape, device), then checks each argument with
   :mod:`kcompat.validation`, so errors read as Keras words them.
3. ``build(input_shape)`` creates each weight with ``self.add_weight(name, keras_shape,
   initializer, regularizer=..., constraint=...)``; ``_build_from_weights(shapes)`` says how to
   build from Keras-layout weight shapes (``set_weights``/``load_state_dict`` on an unbuilt layer);
   ``weight_names()`` lists the weights a built layer has where some are optional (no bias).
4. ``forward`` computes (build on first call with ``self._build_on_call(inputs)``, then
   ``self._add_activity_loss(outputs)``); ``compute_output_shape``.
5. ``get_config``: ``config = super().get_config()``, then ``config.update({...})``.
6. Tests: parity against TensorFlow over the harness's grid (``kcompat.harness.grid``), config
   round trips against Keras's ``get_config()``, errors against Keras's messages.

A layer given ``input_shape`` is built once its whole ``__init__`` has run, so that its
parameters exist before they are handed to an optimizer.

Another storage is a class attribute, not an override: TF1's layers (:mod:`kcompat.compat.v1`)
set ``_keras_storage = True`` (parameters under TF's names in TF's layout, the torch names the
views) and hook ``_create_variable`` to take shared variables from the variable scope.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from typing import Any, NamedTuple, Optional

import numpy as np
import torch

from .. import activations, constraints, dtype_policy, initializers, layouts, regularizers
from .._building import building_keras2, building_shapes_only, keras2_names, shapes_only
from .._malloc import keep_freed_memory
from .._types import Identifier, Shape
from ..serialization import to_snake_case

__all__ = ["DeserializationError", "Layer", "Weight", "WeightlessLayer", "as_tensor", "building_keras2",
           "construct", "constructor_error", "keras2_names", "shapes_only", "unique_name"]

_name_counters = defaultdict(itertools.count)
_WEIGHT_ARGUMENTS = {"initializer": initializers, "regularizer": regularizers, "constraint": constraints}


def as_tensor(inputs):
    """``inputs`` as a torch tensor (numpy arrays and nested lists too), a tensor unchanged."""
    return inputs if isinstance(inputs, torch.Tensor) else torch.as_tensor(np.asarray(inputs))


def unique_name(base: str) -> str:
    """``base``, ``base_1``, ``base_2``, ... per process, as Keras names layers."""
    n = next(_name_counters[base])
    return base if n == 0 else f"{base}_{n}"


class DeserializationError(TypeError):
    """``from_config`` refused a config: Keras's ``TypeError("Error when deserializing class ...")``;
    ``__cause__`` is the constructor's own error (the argument, the value, what is allowed)."""


def constructor_error(exc):
    """The constructor's own error behind a :class:`DeserializationError` (else ``exc``): one line
    that names the argument, for kcompat's own messages."""
    return exc.__cause__ if isinstance(exc, DeserializationError) and exc.__cause__ is not None else exc


def construct(cls, config):
    """``cls(**config)``, a refusal raised as Keras's ``from_config`` raises it."""
    config = dict(config)
    try:
        return cls(**config)
    except Exception as e:
        raise DeserializationError(f"Error when deserializing class '{cls.__name__}' using config={config}.\n\n"
                                   f"Exception encountered: {e}") from e


class Weight(NamedTuple):
    """One weight of a layer: its Keras name, its torch name, how the layouts differ, and whether
    training updates it by gradient (a ``torch.nn.Parameter``) or not (a buffer, as torch keeps
    BatchNorm's running statistics; Keras's non-trainable weights)."""

    keras: str
    torch: str
    layout: layouts.Layout = layouts.SAME
    trainable: bool = True
    dtype: object = None  # a torch dtype of its own (Normalization's int64 ``count``); None: the layer's


class _BuildsAfterInit(type):
    """Builds a layer given ``input_shape`` once its whole ``__init__`` (subclasses' too) has run."""

    def __call__(cls, *args, **kwargs):
        layer = super().__call__(*args, **kwargs)
        layer._build_at_init()
        return layer


class Layer(torch.nn.Module, metaclass=_BuildsAfterInit):
    """Base of every kcompat layer: the Keras layer surface over torch-layout parameters."""

    WEIGHTS: tuple = ()  # Weight(...) per weight, in Keras's order
    _nested_names = False  # Keras 3 refuses '/' in a layer name; tf_keras and TF1 take it
    # Where the parameter lives: under its torch name in torch layout (False), or under its Keras
    # name in Keras layout with memory in torch order (True: TF1 variables, as TensorFlow names
    # them). The other name is a view either way.
    _keras_storage = False

    def __setattr__(self, name, value):
        if name == "activation" and not isinstance(value, torch.nn.Module):
            # Keras's layers call their activation unless it is None: ``layer.activation = None``
            # after build is linear, as a name or a config is its function.
            from .. import activations

            value = activations.get(value)
        super().__setattr__(name, value)

    def __init__(self, *, trainable: bool = True, name: Optional[str] = None, dtype: Any = None,
                 activity_regularizer: Identifier = None, input_shape: Shape = None, device: Any = None,
                 autocast: bool = True, **kwargs) -> None:
        super().__init__()
        keep_freed_memory()  # once per process, on the first layer made (kcompat._malloc)
        if "batch_input_shape" in kwargs:  # Keras 2 configs
            batch_input_shape = kwargs.pop("batch_input_shape")
            if input_shape is None and batch_input_shape is not None:
                input_shape = tuple(batch_input_shape)[1:]
        kwargs.pop("batch_size", None)
        if kwargs:
            raise ValueError(f"Unrecognized keyword arguments passed to {type(self).__name__}: {kwargs}")
        if not isinstance(trainable, bool):
            raise TypeError(f"The `trainable` argument must be a bool. Received: trainable={trainable!r}")
        if not isinstance(autocast, bool):
            raise TypeError(f"The `autocast` argument must be a bool. Received: autocast={autocast!r}")
        self.autocast = autocast  # False: a mixed policy leaves the inputs' dtype as it is (Keras 3)
        if name is not None and not isinstance(name, str):
            raise TypeError(f"The `name` argument must be a string. Received: name={name!r}")
        if name is not None and "/" in name and not self._nested_names and not building_keras2():
            raise ValueError("Argument `name` must be a string and cannot contain character `/`. "
                             f"Received: name={name} (of type {type(name)})")
        self.dtype_policy = dtype_policy.get(dtype)
        self.activity_regularizer = regularizers.get(activity_regularizer, "activity_regularizer")
        self.name = name or unique_name(to_snake_case(type(self).__name__))
        self._trainable = trainable
        self._device = device
        self._activity_losses = []
        self._input_shape_arg = None if input_shape is None else tuple(input_shape)
        self._created = {}  # Keras name -> (Keras shape, initializer, regularizer, constraint), in build order
        self._built_without_weights = False  # built, and its configuration has no weights (see built)
        views = {}
        for w in self.WEIGHTS:
            stored, other = (w.keras, w.torch) if self._keras_storage else (w.torch, w.keras)
            if w.trainable:
                self.register_parameter(stored, None)
            else:
                self.register_buffer(stored, None)
            if other != stored:
                views[other] = (stored, w.layout.to_torch if self._keras_storage else w.layout.to_keras)
        self._views = views

    def _build_at_init(self):
        """Build from ``input_shape`` (no batch axis), as Keras builds a layer given one."""
        if self._input_shape_arg is not None:
            self.build((None, *self._input_shape_arg))

    # ----------------------------------------------------------------- weights
    def __getattr__(self, name):
        # Parameters and buffers first (every forward reads them): torch's own __getattr__ is
        # one more Python frame per read.
        d = self.__dict__
        for store in ("_parameters", "_buffers"):
            values = d.get(store)
            if values is not None and name in values:
                return values[name]
        views = d.get("_views")
        if views is not None and name in views:
            stored, view = views[name]
            parameter = self._stored(stored)
            return None if parameter is None else view(parameter)
        try:
            return super().__getattr__(name)  # parameters, buffers, submodules
        except AttributeError:
            # A property that raised AttributeError lands here (torch's Module.__getattr__ would
            # replace its message with "no attribute"): raise it again with its own message.
            prop = getattr(type(self), name, None)
            if isinstance(prop, property):
                return prop.fget(self)
            raise

    def _spec(self, name):
        for w in self.WEIGHTS:
            if w.keras == name:
                return w
        raise ValueError(f"{type(self).__name__} has no weight {name!r}; it has {[w.keras for w in self.WEIGHTS]}")

    def _stored_name(self, w):
        return w.keras if self._keras_storage else w.torch

    def _stored(self, name):
        """The parameter or buffer stored under ``name`` (``None`` before the build)."""
        parameter = self._parameters.get(name)
        return self._buffers.get(name) if parameter is None else parameter

    def _variables(self):
        """The created parameters (as stored), in Keras's order."""
        return [self._stored(self._stored_name(self._spec(name))) for name in self._created]

    def weight_names(self):
        """The Keras names of the weights this layer has once built, in Keras's order."""
        return [w.keras for w in self.WEIGHTS]

    def keras_weight(self, name):
        """Weight ``name`` in Keras layout (a view of the parameter), ``None`` before the build."""
        w = self._spec(name)
        parameter = self._stored(self._stored_name(w))
        if parameter is None or self._keras_storage:
            return parameter
        return w.layout.to_keras(parameter)

    def add_weight(self, name, shape, initializer, *, regularizer=None, constraint=None):
        """Create weight ``name`` of Keras-layout ``shape`` from ``initializer``, as Keras's ``add_weight``.

        ``initializer``, ``regularizer`` and ``constraint`` are objects or what Keras takes for
        them (``"ones"``, a config). ``regularizer`` adds its penalty to ``losses``;
        ``constraint`` is applied by ``apply_constraints()``. Returns the parameter as stored.
        """
        w = self._spec(name)
        shape = tuple(int(n) for n in shape)
        initializer, regularizer, constraint = (
            _WEIGHT_ARGUMENTS[kind].get(value, f"{w.keras}_{kind}") if isinstance(value, (str, dict)) else value
            for kind, value in (("initializer", initializer), ("regularizer", regularizer),
                                ("constraint", constraint)))
        parameter = self._create_variable(w, shape, initializer, regularizer)
        (self._parameters if w.trainable else self._buffers)[self._stored_name(w)] = parameter
        self._created[name] = (shape, initializer, regularizer, constraint)
        return parameter

    def _create_variable(self, w, shape, initializer, regularizer):
        """A fresh parameter for weight ``w`` drawn from ``initializer`` (Keras layout ``shape``)."""
        dtype = w.dtype or self.dtype
        if building_shapes_only() and not self._keras_storage:
            value = w.layout.to_torch(torch.empty(shape, dtype=dtype, device="meta"))
            return torch.nn.Parameter(value, requires_grad=self._trainable) if w.trainable else value
        value = initializers.initial_value(initializer, shape, dtype, f"{w.keras}_initializer")
        if self._keras_storage:
            value = w.layout.keras_view_of_torch_memory(value.to(self._device))
        else:
            value = w.layout.to_torch(value).contiguous(memory_format=self._memory_format(w, shape))
            value = value.to(self._device)
        return torch.nn.Parameter(value, requires_grad=self._trainable) if w.trainable else value

    def _memory_format(self, w, shape):
        """The memory format weight ``w`` (of Keras-layout ``shape``) is stored in: contiguous; a
        layer whose computation takes the weight in another one (a channels_last convolution's)
        says so."""
        return torch.contiguous_format

    def _materialize(self):
        """Draw the weights that :func:`shapes_only` left on the meta device from their initializers."""
        for name, (shape, initializer, regularizer, _) in self._created.items():
            w = self._spec(name)
            stored = self._stored_name(w)
            if self._stored(stored) is not None and self._stored(stored).is_meta:
                value = self._create_variable(w, shape, initializer, regularizer)
                (self._parameters if w.trainable else self._buffers)[stored] = value

    def _weight_arguments(self, **arguments):
        """Keep Keras's ``<weight>_initializer``/``_regularizer``/``_constraint`` arguments under
        their names, each read as Keras reads it (and refused as Keras words it)."""
        for argument, value in arguments.items():
            setattr(self, argument, _WEIGHT_ARGUMENTS[argument.rsplit("_", 1)[1]].get(value, argument))

    def _weight_config(self, *arguments):
        """Those arguments serialized for ``get_config``, in the order given (Keras's key order)."""
        return {argument: _WEIGHT_ARGUMENTS[argument.rsplit("_", 1)[1]].serialize(getattr(self, argument))
                for argument in arguments}

    def _build_from_weights(self, shapes):
        """Build from Keras-layout weight ``shapes`` (``{name: shape}``); leave unbuilt if they do not fit."""

    def _move_variables(self, device):
        for name in self._created:
            stored = self._stored_name(self._spec(name))
            if stored in self._parameters and self._parameters[stored].device != device:
                self._parameters[stored].data = self._parameters[stored].data.to(device)
            elif stored in self._buffers and self._buffers[stored].device != device:
                self._buffers[stored] = self._buffers[stored].to(device)

    @property
    def built(self) -> bool:
        """Whether ``build`` ran: its weights exist, or it made none (``LayerNormalization(center=False,
        scale=False)``: Keras says built, and builds no second time)."""
        return bool(self._created) or self._built_without_weights

    def build(self, input_shape):
        """Create the weights for inputs of ``input_shape`` (batch axis included)."""
        raise NotImplementedError(f"{type(self).__name__} must define build(input_shape)")

    def _build_on_call(self, inputs):
        """Build for the first ``inputs``, the weights on their device, as Keras builds on first call."""
        if not self.built:
            self.build(tuple(inputs.shape))
            self._move_variables(inputs.device)

    @property
    def dtype(self) -> torch.dtype:
        """Dtype of the weights (Keras's ``variable_dtype``)."""
        return self.dtype_policy.variable_dtype

    @property
    def compute_dtype(self) -> torch.dtype:
        return self.dtype_policy.compute_dtype

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)
        for p in self._variables():
            if isinstance(p, torch.nn.Parameter):
                p.requires_grad_(self._trainable)

    def reset_parameters(self) -> None:
        """Draw the weights again from their initializers."""
        with torch.no_grad():
            for name, (shape, initializer, _, _) in self._created.items():
                self.keras_weight(name).copy_(
                    initializers.initial_value(initializer, shape, self.dtype, f"{name}_initializer"))

    def _require_built(self, what):
        if not self.built:
            raise ValueError(
                f"You tried to call `{what}` on layer '{self.name}', but the layer isn't built. "
                "Build it by calling it on data, with `build(input_shape)`, or by giving "
                "`in_channels`/`input_shape`."
            )

    def get_weights(self):
        """The weights as numpy arrays in Keras layout and order (``[]`` before the build).

        bfloat16 weights come back as ``ml_dtypes.bfloat16`` arrays, as Keras returns them
        (float32, which holds them exactly, where ``ml_dtypes`` is not installed).
        """
        return [_to_numpy(self.keras_weight(name)) for name in self._created]

    def keras_grads(self):
        """Each weight's ``.grad`` in Keras layout (``None`` where there is none), as ``get_weights`` orders them."""
        grads = []
        for name in self._created:
            w = self._spec(name)
            grad = self._stored(self._stored_name(w)).grad
            grads.append(grad if grad is None or self._keras_storage else w.layout.to_keras(grad))
        return grads

    def set_weights(self, weights):
        """Load the weights in Keras layout and order, from ``keras_layer.get_weights()`` for example.

        Builds the layer from the weights' shapes if it is not built yet; an empty list on an
        unbuilt layer (its own ``get_weights()``) is a no-op, as in Keras.
        """
        weights = list(weights)
        if not weights and not self.built:
            return
        names = list(self._created) if self.built else self.weight_names()
        if len(weights) != len(names):
            raise ValueError(
                f"Layer {self.name} weight list length mismatch: expected {len(names)} arrays "
                f"({', '.join(names)}), received {len(weights)}."
            )
        arrays = [np.asarray(w.detach().cpu() if isinstance(w, torch.Tensor) else w) for w in weights]
        if not self.built:
            shapes = {name: tuple(a.shape) for name, a in zip(names, arrays)}
            self._build_from_weights(shapes)
            if not self.built:
                raise ValueError(f"Layer {self.name} is not built and cannot be built from weights of shapes "
                                 f"{shapes} (Keras layout).")
        for name, array in zip(names, arrays):
            expected = tuple(self.keras_weight(name).shape)
            if tuple(array.shape) != expected:
                raise ValueError(
                    f"Layer {self.name} weight shape mismatch for `{name}`: expected "
                    f"{expected} (Keras layout), received {tuple(array.shape)}."
                )
        with torch.no_grad():
            for name, array in zip(names, arrays):
                # ml_dtypes' bfloat16 (Keras's) is unknown to torch; float32 holds it exactly.
                self.keras_weight(name).copy_(
                    torch.as_tensor(array.astype(np.float32) if array.dtype.name == "bfloat16" else array))

    def count_params(self) -> int:
        self._require_built("count_params")
        return sum(p.numel() for p in self._variables())

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """Build from the saved weights' shapes first, so an unbuilt layer accepts a state dict."""
        if not self.built:
            shapes = {}
            for w in self.WEIGHTS:
                saved = state_dict.get(prefix + self._stored_name(w))
                if isinstance(saved, torch.Tensor):
                    shape = tuple(saved.shape)
                    shapes[w.keras] = shape if self._keras_storage else w.layout.keras_shape(shape)
            if shapes:
                self._build_from_weights(shapes)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    # ----------------------------------------------------------- constraints
    @torch.no_grad()
    def apply_constraints(self) -> None:
        """Project the weights onto their constraints.

        Keras applies constraints inside the optimizer; call this after ``optimizer.step()``.
        ``kcompat.apply_constraints(model)`` does it for every kcompat layer of a model.
        """
        self._apply_own_constraints()

    @torch.no_grad()
    def _apply_own_constraints(self):
        for name, (_, _, _, constraint) in self._created.items():
            if constraint is not None:
                weight = self.keras_weight(name)
                weight.copy_(constraint(weight.clone()))

    # ---------------------------------------------------------------- losses
    @property
    def losses(self):
        """Activity penalty of the last call, then each weight's penalty, as in Keras."""
        losses = list(self._activity_losses)
        if self._trainable:
            for name, (_, _, regularizer, _) in self._created.items():
                if regularizer is not None:
                    losses.append(regularizer(self.keras_weight(name)))
        return losses

    def _in_compute_dtype(self, inputs, *weights):
        """``inputs`` and ``weights`` in the dtype the layer computes in: a mixed policy's compute
        dtype, else the weights' own (so ``layer.double()`` computes in float64 as torch users
        expect), unless autocast decides."""
        mixed = self.dtype_policy.name.startswith("mixed_") and self.autocast
        compute = self.compute_dtype if mixed else weights[0].dtype
        if inputs.dtype == compute and all(w is None or w.dtype == compute for w in weights):
            return (inputs, *weights)  # nothing to cast (the common case): no further checks
        if torch.is_autocast_enabled(inputs.device.type):
            return (inputs, *weights)
        if inputs.dtype != compute:
            inputs = inputs.to(compute)
        return (inputs, *(w if w is None or w.dtype == compute else w.to(compute) for w in weights))

    def _is_training(self, training):
        """Keras's ``training`` flag: the call's where given, else the module's mode
        (``train()``/``eval()``), so that ``model.eval()`` means Keras's ``training=False``."""
        return self.training if training is None else bool(training)

    def _add_activity_loss(self, outputs):
        """Replace the last call's activity penalty (per sample, as Keras divides it by the batch)."""
        if self._activity_losses:
            self._activity_losses.clear()
        if self.activity_regularizer is not None:
            penalty = self.activity_regularizer(outputs)
            batch = outputs.shape[0]
            self._activity_losses.append(penalty / batch if batch else torch.zeros_like(penalty))

    # ---------------------------------------------------------------- config
    def get_config(self):
        """Keras 3's base of every layer's config: name, trainable, dtype (JSON-safe), and
        ``autocast`` where it is off."""
        config = {"name": self.name, "trainable": self._trainable, "dtype": dtype_policy.serialize(self.dtype_policy)}
        if not self.autocast:
            config["autocast"] = False
        return config

    def _constructor_arguments(self):
        """The keyword arguments that construct this layer again (``kcompat-port`` writes them):
        its config, and what a layer keeps beyond it (Keras 2's ``hard_sigmoid``, which its
        config names as Keras 3's is named)."""
        config = self.get_config()
        if self.__dict__.get("activation") is activations.keras2_hard_sigmoid and "activation" in config:
            config["activation"] = "keras2_hard_sigmoid"
        return config

    @classmethod
    def from_config(cls, config):
        """A layer from a config written by Keras 3 or Keras 2 (``tf.keras``), or by kcompat. A
        config the constructor refuses raises :class:`DeserializationError` (a ``TypeError``, in
        Keras's words), the constructor's error its cause."""
        return construct(cls, config)


class WeightlessLayer(Layer):
    """A layer with no weights (activations, reshaping, pooling, merging): built at construction.

    It computes in its input's floating dtype (so ``model.double()`` computes in float64, as it
    does for layers with weights), except under a dtype policy other than the default float32
    (an explicit ``dtype`` or a mixed policy), where it computes in the policy's compute dtype,
    as Keras does. Subclasses define ``call(inputs, ...)`` and ``compute_output_shape``.
    """

    @property
    def built(self) -> bool:
        return True

    def build(self, input_shape):
        """Nothing to create (Keras builds weightless layers at construction)."""

    def _input(self, inputs):
        inputs = as_tensor(inputs)
        if inputs.is_complex():
            raise TypeError(f'Input 0 of layer "{self.name}" must be real. Received dtype {inputs.dtype}.')
        if (inputs.is_floating_point() and self.dtype_policy.name != "float32" and self.autocast
                and not torch.is_autocast_enabled(inputs.device.type)):
            inputs = inputs.to(self.compute_dtype)
        return inputs

    def _check_rank(self, inputs, ndim):
        """Keras's input-spec error where ``inputs`` does not have ``ndim`` axes."""
        if inputs.dim() != ndim:
            raise ValueError(f'Input 0 of layer "{self.name}" is incompatible with the layer: expected '
                             f"ndim={ndim}, found ndim={inputs.dim()}. Full shape received: {tuple(inputs.shape)}")

    def _inputs(self, inputs):
        """The call's input as a tensor (a list of tensors for layers that take several)."""
        return self._input(inputs)

    def forward(self, inputs, **kwargs):
        outputs = self.call(self._inputs(inputs), **kwargs)
        if self._activity_losses or self.activity_regularizer is not None:
            self._add_activity_loss(outputs)
        return outputs


def _to_numpy(tensor):
    tensor = tensor.detach().cpu()
    if tensor.dtype != torch.bfloat16:
        return tensor.numpy()
    array = tensor.float().numpy()
    try:
        import ml_dtypes  # numpy has no bfloat16; Keras and TensorFlow use ml_dtypes'
    except ImportError:
        return array
    return array.astype(ml_dtypes.bfloat16)
