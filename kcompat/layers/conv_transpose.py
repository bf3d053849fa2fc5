"""Keras 3's transposed convolution layers as ``torch.nn.Module`` s."""

from __future__ import annotations

import itertools
from collections import defaultdict

import numpy as np
import torch

from .. import activations, constraints, dtype_policy, initializers, regularizers
from ..functional import _call as functional_call, _run as run_call, check_allocatable, keras_output_size
from ..serialization import to_snake_case
from ..validation import standardize_data_format, standardize_int, standardize_padding, standardize_tuple

__all__ = ["BaseConvTranspose", "Conv2DTranspose", "Convolution2DTranspose"]

_name_counters = defaultdict(itertools.count)


def unique_name(base: str) -> str:
    """``base``, ``base_1``, ``base_2``, ... per process, as Keras names layers."""
    n = next(_name_counters[base])
    return base if n == 0 else f"{base}_{n}"


class BaseConvTranspose(torch.nn.Module):
    """N-D transposed convolution with Keras 3's arguments, numbers from TensorFlow.

    Parameters are stored in torch layout so that ``state_dict()`` reads like
    ``nn.ConvTranspose{rank}d``'s: ``weight`` ``(in_channels, filters, *kernel_size)`` and
    ``bias`` ``(filters,)``. ``kernel`` is the Keras-layout view
    ``(*kernel_size, filters, in_channels)``; ``get_weights``/``set_weights`` speak Keras layout.
    Weights are created by ``build(input_shape)``, on the first call, or at construction when
    ``in_channels`` or ``input_shape`` is given (needed before handing ``parameters()`` to an
    optimizer).
    """

    rank = None  # set by subclasses
    _nested_names = False  # Keras 3 refuses '/' in a layer name; tf_keras and TF1 take it

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        output_padding=None,
        data_format=None,
        dilation_rate=1,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        *,
        trainable=True,
        name=None,
        dtype=None,
        input_shape=None,
        in_channels=None,
        device=None,
        **kwargs,
    ):
        super().__init__()
        rank = self.rank
        if "batch_input_shape" in kwargs:  # Keras 2 configs
            batch_input_shape = kwargs.pop("batch_input_shape")
            if input_shape is None and batch_input_shape is not None:
                input_shape = tuple(batch_input_shape)[1:]
        kwargs.pop("batch_size", None)
        groups = kwargs.pop("groups", 1)
        if groups != 1:
            raise ValueError(
                f"kcompat reproduces Keras's transposed convolution without groups. Received: groups={groups!r}"
            )
        if kwargs:
            raise ValueError(f"Unrecognized keyword arguments passed to {type(self).__name__}: {kwargs}")
        self.filters = standardize_int(filters, "filters")
        self.kernel_size = standardize_tuple(kernel_size, rank, "kernel_size")
        self.strides = standardize_tuple(strides, rank, "strides")
        self.dilation_rate = standardize_tuple(dilation_rate, rank, "dilation_rate")
        self.padding = standardize_padding(padding)
        self.output_padding = (
            None if output_padding is None
            else standardize_tuple(output_padding, rank, "output_padding", allow_zero=True)
        )
        self.data_format = standardize_data_format(data_format)
        if self.output_padding is not None:
            for i, (op, s) in enumerate(zip(self.output_padding, self.strides)):
                if op >= s:
                    raise ValueError(
                        "`output_padding` must be strictly less than `strides` for all dimensions. "
                        f"At dimension {i}, `output_padding` is {op} but `strides` is {s}. "
                        f"Received: output_padding={self.output_padding}, strides={self.strides}"
                    )
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(
                "`strides > 1` not supported in conjunction with `dilation_rate > 1`. "
                f"Received: strides={self.strides} and dilation_rate={self.dilation_rate}"
            )
        if not isinstance(use_bias, bool):
            raise TypeError(f"The `use_bias` argument must be a bool. Received: use_bias={use_bias!r}")
        if not isinstance(trainable, bool):
            raise TypeError(f"The `trainable` argument must be a bool. Received: trainable={trainable!r}")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"The `name` argument must be a string. Received: name={name!r}")
        if name is not None and "/" in name and not self._nested_names:
            raise ValueError("Argument `name` must be a string and cannot contain character `/`. "
                             f"Received: name={name} (of type {type(name)})")
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer, "kernel_initializer")
        self.bias_initializer = initializers.get(bias_initializer, "bias_initializer")
        self.kernel_regularizer = regularizers.get(kernel_regularizer, "kernel_regularizer")
        self.bias_regularizer = regularizers.get(bias_regularizer, "bias_regularizer")
        self.activity_regularizer = regularizers.get(activity_regularizer, "activity_regularizer")
        self.kernel_constraint = constraints.get(kernel_constraint, "kernel_constraint")
        self.bias_constraint = constraints.get(bias_constraint, "bias_constraint")
        self.dtype_policy = dtype_policy.get(dtype)
        self.name = name or unique_name(to_snake_case(type(self).__name__))
        self._trainable = trainable
        self._device = device
        self._activity_losses = []
        self._call_record = None  # (input signature, output size, functional._Call, channels_last): one tuple, so threads see all or none
        self._init_variables()
        if input_shape is not None:
            input_shape = tuple(input_shape)
            if len(input_shape) != rank + 1:
                raise ValueError(
                    f"The `input_shape` argument must have {rank + 1} entries (no batch axis). "
                    f"Received: input_shape={input_shape}"
                )
            self._input_shape_arg = input_shape
            self.build((None, *input_shape))
        if in_channels is not None:
            in_channels = standardize_int(in_channels, "in_channels")
            if self.built and self.in_channels != in_channels:
                raise ValueError(
                    f"`in_channels` and `input_shape` disagree. Received: in_channels={in_channels}, "
                    f"input_shape={input_shape}"
                )
            self._build_weights(in_channels)

    # ----------------------------------------------------------------- weights
    # Storage hooks: Keras-generation layers keep ``weight`` in torch layout with ``kernel`` as
    # its Keras-layout view; TF1 layers (kcompat.compat.v1) keep ``kernel`` with ``weight`` as
    # the view. Everything else reads ``weight``/``kernel``/``bias`` through these.
    def _init_variables(self):
        self.register_parameter("weight", None)
        self.register_parameter("bias", None)

    @property
    def _kernel_variable(self):
        """The kernel's ``Parameter`` (whatever its layout), ``None`` before the build."""
        return self.weight

    def _set_variables(self, kernel, bias):
        """Install initial values: ``kernel`` in Keras layout, ``bias`` or ``None``."""
        self.weight = torch.nn.Parameter(
            _to_torch_layout(kernel).contiguous().to(self._device), requires_grad=self._trainable
        )
        if bias is not None:
            self.bias = torch.nn.Parameter(bias.to(self._device), requires_grad=self._trainable)

    def _move_variables(self, device):
        for p in (self._kernel_variable, self.bias):
            if p is not None and p.device != device:
                p.data = p.data.to(device)

    @property
    def built(self) -> bool:
        return self._kernel_variable is not None

    @property
    def in_channels(self):
        return None if self.weight is None else self.weight.shape[0]

    @property
    def dtype(self) -> torch.dtype:
        """Dtype of the weights (Keras's ``variable_dtype``)."""
        return self.dtype_policy.variable_dtype

    @property
    def compute_dtype(self) -> torch.dtype:
        return self.dtype_policy.compute_dtype

    def _channel_axis(self):
        return -1 if self.data_format == "channels_last" else 1

    def _checked_shape(self, input_shape, method):
        input_shape = tuple(input_shape)
        if len(input_shape) != self.rank + 2:
            raise ValueError(
                f"`{method}` expects an input shape of rank {self.rank + 2} (batch axis included). "
                f"Received: input_shape={input_shape}"
            )
        return input_shape

    def _output_size(self, input_shape):
        """Spatial output size for a full input shape, as Keras computes it."""
        spatial = input_shape[1:-1] if self.data_format == "channels_last" else input_shape[2:]
        return keras_output_size(tuple(spatial), self.kernel_size, self.strides, self.padding,
                                 self.output_padding, self.dilation_rate)

    def build(self, input_shape):
        """Create the weights for inputs of ``input_shape`` (batch axis included), as Keras builds."""
        input_shape = self._checked_shape(input_shape, "build")
        channels = input_shape[self._channel_axis()]
        if channels is None:
            raise ValueError(
                f"The channel dimension of the inputs should be defined. Received: input_shape={input_shape}"
            )
        if self.built:
            return
        self._build_weights(standardize_int(channels, "input channels"))

    def _build_weights(self, in_channels):
        if self.built:
            return
        self._set_variables(*self._initial_values(in_channels))

    def _initial_values(self, in_channels):
        """Fresh ``(kernel, bias)`` from the initializers: Keras layout, ``bias`` ``None`` without bias."""
        shape = (*self.kernel_size, self.filters, in_channels)
        check_allocatable(shape, self.dtype, self._device or "cpu",
                          f"The kernel for filters={self.filters}, kernel_size={self.kernel_size} and "
                          f"{in_channels} input channels")
        kernel = _initial_value(self.kernel_initializer, shape, self.dtype, "kernel_initializer")
        bias = None
        if self.use_bias:
            bias = _initial_value(self.bias_initializer, (self.filters,), self.dtype, "bias_initializer")
        return kernel, bias

    def reset_parameters(self) -> None:
        """Draw the weights again from the initializers."""
        if not self.built:
            return
        kernel, bias = self._initial_values(self.in_channels)
        with torch.no_grad():
            self.kernel.copy_(kernel)
            if self.bias is not None and bias is not None:
                self.bias.copy_(bias)

    @property
    def kernel(self):
        """The kernel in Keras layout ``(*kernel_size, filters, in_channels)`` (a view of ``weight``)."""
        return None if self.weight is None else _to_keras_layout(self.weight)

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)
        for p in (self._kernel_variable, self.bias):
            if p is not None:
                p.requires_grad_(self._trainable)

    def _require_built(self, what):
        if not self.built:
            raise ValueError(
                f"You tried to call `{what}` on layer '{self.name}', but the layer isn't built. "
                "Build it by calling it on data, with `build(input_shape)`, or by giving "
                "`in_channels`/`input_shape`."
            )

    def get_weights(self):
        """``[kernel, bias]`` as numpy arrays in Keras layout (``[kernel]`` without bias).

        bfloat16 weights come back as ``ml_dtypes.bfloat16`` arrays, as Keras returns them
        (float32, which holds them exactly, where ``ml_dtypes`` is not installed).
        """
        if not self.built:
            return []
        weights = [_to_numpy(self.kernel)]
        if self.bias is not None:
            weights.append(_to_numpy(self.bias))
        return weights

    def set_weights(self, weights):
        """Load ``[kernel, bias]`` in Keras layout, from ``keras_layer.get_weights()`` for example.

        Builds the layer from the kernel's shape if it is not built yet; an empty list on an
        unbuilt layer (its own ``get_weights()``) is a no-op, as in Keras.
        """
        weights = list(weights)
        if not weights and not self.built:
            return
        expected = 2 if self.use_bias else 1
        if len(weights) != expected:
            raise ValueError(
                f"Layer {self.name} weight list length mismatch: expected {expected} arrays "
                f"({'kernel, bias' if self.use_bias else 'kernel'}), received {len(weights)}."
            )
        kernel = np.asarray(weights[0].detach().cpu() if isinstance(weights[0], torch.Tensor) else weights[0])
        if not self.built and kernel.ndim == self.rank + 2:
            self._build_weights(int(kernel.shape[-1]))
        targets = [("kernel", self.kernel)] + ([("bias", self.bias)] if self.use_bias else [])
        arrays = [kernel] + [np.asarray(w.detach().cpu() if isinstance(w, torch.Tensor) else w) for w in weights[1:]]
        for (label, target), array in zip(targets, arrays):
            if tuple(array.shape) != tuple(target.shape):
                raise ValueError(
                    f"Layer {self.name} weight shape mismatch for `{label}`: expected "
                    f"{tuple(target.shape)} (Keras layout), received {tuple(array.shape)}."
                )
        with torch.no_grad():
            for (_, target), array in zip(targets, arrays):
                # ml_dtypes' bfloat16 (Keras's) is unknown to torch; float32 holds it exactly.
                target.copy_(torch.as_tensor(array.astype(np.float32) if array.dtype.name == "bfloat16" else array))

    def count_params(self) -> int:
        self._require_built("count_params")
        return sum(p.numel() for p in (self._kernel_variable, self.bias) if p is not None)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """Build from a saved ``weight`` before loading it, so an unbuilt layer accepts a state dict."""
        saved = state_dict.get(prefix + "weight")
        if not self.built and saved is not None and saved.dim() == self.rank + 2:
            self._build_weights(int(saved.shape[0]))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    # ----------------------------------------------------------- constraints
    @torch.no_grad()
    def apply_constraints(self) -> None:
        """Project the weights onto ``kernel_constraint``/``bias_constraint``.

        Keras applies constraints inside the optimizer; call this after ``optimizer.step()``.
        ``kcompat.apply_constraints(model)`` does it for every kcompat layer of a model.
        """
        self._apply_own_constraints()

    @torch.no_grad()
    def _apply_own_constraints(self):
        if self.built and self.kernel_constraint is not None:
            self.kernel.copy_(self.kernel_constraint(self.kernel.clone()))
        if self.bias is not None and self.bias_constraint is not None:
            self.bias.copy_(self.bias_constraint(self.bias.clone()))

    # ---------------------------------------------------------------- losses
    @property
    def losses(self):
        """Activity penalty of the last call, then the kernel and bias penalties, as in Keras."""
        losses = list(self._activity_losses)
        if self._trainable:
            if self.built and self.kernel_regularizer is not None:
                losses.append(self.kernel_regularizer(self.kernel))
            if self.bias is not None and self.bias_regularizer is not None:
                losses.append(self.bias_regularizer(self.bias))
        return losses

    # --------------------------------------------------------------- forward
    def _check_input(self, inputs):
        if inputs.dim() != self.rank + 2:
            raise ValueError(
                f'Input 0 of layer "{self.name}" is incompatible with the layer: expected '
                f"ndim={self.rank + 2}, found ndim={inputs.dim()}. "
                f"Full shape received: {tuple(inputs.shape)}"
            )
        if inputs.is_complex():
            raise TypeError(f'Input 0 of layer "{self.name}" must be real. Received dtype {inputs.dtype}.')
        axis = self._channel_axis()
        if self.built and inputs.shape[axis] != self.in_channels:
            raise ValueError(
                f'Input 0 of layer "{self.name}" is incompatible with the layer: expected axis '
                f"{axis} of input shape to have value {self.in_channels}, but received input with "
                f"shape {tuple(inputs.shape)}"
            )

    def forward(self, inputs):
        if not isinstance(inputs, torch.Tensor):
            inputs = torch.as_tensor(np.asarray(inputs))
        # Checks and output size depend only on these: worked out once per input signature.
        weight, bias = self.weight, self.bias
        signature = (inputs.shape, inputs.dtype, inputs.device, None if weight is None else weight.shape)
        record = self._call_record  # read once: another thread may replace it meanwhile
        if record is None or record[0] != signature:
            self._check_input(inputs)
            if not self.built:
                self.build(tuple(inputs.shape))
                self._move_variables(inputs.device)
                weight, bias = self.weight, self.bias
                signature = signature[:3] + (weight.shape,)
            size = self._output_size(inputs.shape)
            check_allocatable((inputs.shape[0], self.filters, *size), inputs.dtype, inputs.device,
                              f"The output for strides={self.strides}, kernel_size={self.kernel_size}, "
                              f"filters={self.filters} and input shape {tuple(inputs.shape)}")
            channels_last = self.data_format == "channels_last"
            x = inputs.movedim(-1, 1) if channels_last else inputs
            call = functional_call(x.shape, size, weight.shape, self.strides, self.padding, self.dilation_rate,
                                   channels_last)
            record = self._call_record = (signature, size, call, channels_last)
        # A mixed policy computes in half precision over float32 weights; otherwise the weights'
        # own dtype rules, so that ``layer.double()`` computes in float64 as torch users expect.
        compute = self.compute_dtype if self.dtype_policy.name.startswith("mixed_") else weight.dtype
        autocasting = torch.is_autocast_enabled(signature[2].type)
        if not autocasting and inputs.dtype != compute:
            inputs = inputs.to(compute)
        if not autocasting and weight.dtype != compute:  # mixed policies: float32 weights
            weight = weight.to(compute)
            bias = None if bias is None else bias.to(compute)
        # The geometry's torch call, worked out with the record (functional.conv_transpose's checks
        # hold by construction here).
        _, _, call, channels_last = record
        outputs = run_call(inputs, inputs.movedim(-1, 1) if channels_last else inputs, weight, bias, call,
                           channels_last)
        outputs = self.activation(outputs)
        if self._activity_losses:
            self._activity_losses.clear()
        if self.activity_regularizer is not None:
            penalty = self.activity_regularizer(outputs)
            batch = outputs.shape[0]
            self._activity_losses.append(penalty / batch if batch else torch.zeros_like(penalty))
        return outputs

    # ------------------------------------------------------------- shapes/config
    def compute_output_shape(self, input_shape):
        """Output shape for ``input_shape`` (``None`` for unknown sizes), as Keras computes it."""
        input_shape = self._checked_shape(input_shape, "compute_output_shape")
        size = self._output_size(input_shape)
        if self.data_format == "channels_last":
            return (input_shape[0], *size, self.filters)
        return (input_shape[0], self.filters, *size)

    def get_config(self):
        """What Keras 3's ``get_config()`` returns for the same layer (JSON-safe)."""
        return {
            "name": self.name,
            "trainable": self._trainable,
            "dtype": dtype_policy.serialize(self.dtype_policy),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "output_padding": self.output_padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "activity_regularizer": regularizers.serialize(self.activity_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
        }

    @classmethod
    def from_config(cls, config):
        """A layer from a config written by Keras 3 or Keras 2 (``tf.keras``), or by kcompat."""
        return cls(**dict(config))

    def extra_repr(self):
        defaults = {"strides": (1,) * self.rank, "padding": "valid", "output_padding": None,
                    "dilation_rate": (1,) * self.rank, "use_bias": True}
        parts = [f"{self.filters}", f"kernel_size={self.kernel_size}"]
        for key, default in defaults.items():
            if getattr(self, key) != default:
                parts.append(f"{key}={getattr(self, key)!r}")
        parts.append(f"data_format={self.data_format!r}")
        if self.activation is not activations.linear:
            parts.append(f"activation={activations.serialize(self.activation)!r}")
        if self.built:
            parts.append(f"in_channels={self.in_channels}")
        if self.dtype_policy.name != "float32":
            parts.append(f"dtype={self.dtype_policy.name!r}")
        return ", ".join(parts)


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


def torch_order(rank):
    """Axes of a Keras/TF kernel ``(*k, filters, in)`` in torch's order ``(in, filters, *k)``."""
    return (rank + 1, rank, *range(rank))


def keras_order(rank):
    """Axes of a torch weight ``(in, filters, *k)`` in Keras/TF's order ``(*k, filters, in)``."""
    return (*range(2, rank + 2), 1, 0)


def _to_torch_layout(kernel):
    """Keras ``(*k, filters, in)`` -> torch ``(in, filters, *k)``: the last two axes to the front."""
    return kernel.permute(*torch_order(kernel.dim() - 2))


def _to_keras_layout(weight):
    """Torch ``(in, filters, *k)`` -> Keras ``(*k, filters, in)``."""
    return weight.permute(*keras_order(weight.dim() - 2))


def _initial_value(initializer, shape, dtype, argument):
    value = initializer(shape, dtype=dtype)
    if not isinstance(value, torch.Tensor):
        value = torch.as_tensor(np.asarray(value))
    if tuple(value.shape) != tuple(shape):
        raise ValueError(
            f"`{argument}` returned a tensor of shape {tuple(value.shape)}; expected {tuple(shape)} "
            "(Keras layout)."
        )
    return value.to(dtype)


class Conv2DTranspose(BaseConvTranspose):
    """2D transposed convolution, Keras 3's ``keras.layers.Conv2DTranspose`` on PyTorch.

    Same arguments, defaults, output shapes, numbers and errors as TensorFlow's; see
    :class:`BaseConvTranspose` for the weights and the build.

    Args:
        filters: number of output channels.
        kernel_size: int or 2 ints.
        strides: int or 2 ints. ``strides > 1`` is incompatible with ``dilation_rate > 1``.
        padding: ``"valid"`` or ``"same"``, case-insensitive.
        output_padding: ``None`` (inferred) or int / 2 ints, each below the stride.
        data_format: ``"channels_last"`` (NHWC) or ``"channels_first"``; ``None`` reads
            ``image_data_format`` from keras.json (``KERAS_HOME`` or ``~/.keras``).
        dilation_rate: int or 2 ints.
        activation: a Keras activation name, config or any callable.
        use_bias: add a bias.
        kernel_initializer, bias_initializer: Keras names, configs or callables.
        kernel_regularizer, bias_regularizer, activity_regularizer: penalties in ``losses``.
        kernel_constraint, bias_constraint: applied by ``apply_constraints()``.
        trainable: ``False`` freezes the weights.
        name: the layer's name (unique Keras-style default).
        dtype: ``"float32"`` (default), ``"float64"``, ``"float16"``, ``"bfloat16"``,
            ``"mixed_float16"``, ``"mixed_bfloat16"`` or a torch dtype.
        input_shape: ``(H, W, C)`` (or ``(C, H, W)``) to build at once; ``in_channels``: likewise.
        device: where to create the weights.

    Shape:
        Per spatial axis with ``k' = (k - 1) * d + 1``:

        - ``valid``: ``(I - 1) * s + k' + output_padding``, ``output_padding=None`` meaning
          ``max(k' - s, 0)``.
        - ``same``: ``I * s`` when ``output_padding`` is ``None``, else
          ``(I - 1) * s + k' % 2 + output_padding``.

    Note:
        Keras 3 on the TensorFlow backend adds the bias on the wrong axis for
        ``channels_first`` when the output width equals ``filters``; kcompat follows Keras 2
        and Keras 3's other backends there (bias on the channel axis).

    Example:
        >>> layer = Conv2DTranspose(32, 2, 2, activation="relu")
        >>> layer(torch.rand(4, 10, 8, 128)).shape
        torch.Size([4, 20, 16, 32])
    """

    rank = 2

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", output_padding=None,
                 data_format=None, dilation_rate=(1, 1), activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, **kwargs):
        super().__init__(
            filters=filters, kernel_size=kernel_size, strides=strides, padding=padding,
            output_padding=output_padding, data_format=data_format, dilation_rate=dilation_rate,
            activation=activation, use_bias=use_bias, kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer, activity_regularizer=activity_regularizer,
            kernel_constraint=kernel_constraint, bias_constraint=bias_constraint, **kwargs,
        )


Convolution2DTranspose = Conv2DTranspose


class Conv1DTranspose(BaseConvTranspose):
    """1D transposed convolution, Keras 3's ``keras.layers.Conv1DTranspose`` on PyTorch.

    As :class:`Conv2DTranspose` on one spatial axis: inputs ``(batch, steps, channels)``
    (``channels_last``) or ``(batch, channels, steps)``; ``weight`` is
    ``(in_channels, filters, k)`` as in ``nn.ConvTranspose1d``, ``kernel`` is Keras's
    ``(k, filters, in_channels)``.

    Example:
        >>> layer = Conv1DTranspose(32, 3, 2, activation="relu")
        >>> layer(torch.rand(4, 10, 128)).shape
        torch.Size([4, 21, 32])
    """

    rank = 1  # Keras 3's signature and defaults are the base class's


class Conv3DTranspose(BaseConvTranspose):
    """3D transposed convolution, Keras 3's ``keras.layers.Conv3DTranspose`` on PyTorch.

    As :class:`Conv2DTranspose` on three spatial axes: inputs ``(batch, depth, height, width,
    channels)`` (``channels_last``) or ``(batch, channels, depth, height, width)``; ``weight`` is
    ``(in_channels, filters, kd, kh, kw)`` as in ``nn.ConvTranspose3d``.

    Note:
        Keras 3 puts ``data_format`` before ``output_padding`` in this layer's positional
        arguments (unlike its 1D and 2D layers and Keras 2); kcompat follows Keras 3. Keras 2's
        ``Conv3DTranspose`` ignores ``dilation_rate`` (and leaves it out of its config); kcompat
        dilates, as Keras 3 does.

    Example:
        >>> layer = Conv3DTranspose(8, 2, 2)
        >>> layer(torch.rand(1, 4, 4, 4, 16)).shape
        torch.Size([1, 8, 8, 8, 8])
    """

    rank = 3

    def __init__(self, filters, kernel_size, strides=(1, 1, 1), padding="valid", data_format=None,
                 output_padding=None, dilation_rate=(1, 1, 1), activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, **kwargs):
        super().__init__(
            filters=filters, kernel_size=kernel_size, strides=strides, padding=padding,
            output_padding=output_padding, data_format=data_format, dilation_rate=dilation_rate,
            activation=activation, use_bias=use_bias, kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer, activity_regularizer=activity_regularizer,
            kernel_constraint=kernel_constraint, bias_constraint=bias_constraint, **kwargs,
        )


Convolution1DTranspose = Conv1DTranspose
Convolution3DTranspose = Conv3DTranspose

# The layer class for each number of spatial axes.
BY_RANK = {1: Conv1DTranspose, 2: Conv2DTranspose, 3: Conv3DTranspose}
