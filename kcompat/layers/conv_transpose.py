"""Keras 3's transposed convolution layers as ``torch.nn.Module`` s."""

from __future__ import annotations

from typing import Optional

import torch

from .. import activations, layouts
from .._types import Identifier, IntOrSequence, OptionalInt
from ..functional import check_allocatable, keras_output_size, prepare_call, run_call
from ..validation import standardize_data_format, standardize_int, standardize_padding, standardize_tuple
from .base import Layer, Weight, as_tensor
from .registry import keras_layer

__all__ = ["BaseConvTranspose", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose", "Convolution1DTranspose",
           "Convolution2DTranspose", "Convolution3DTranspose", "BY_RANK"]


class BaseConvTranspose(Layer):
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
    WEIGHTS = (Weight("kernel", "weight", layouts.KERNEL), Weight("bias", "bias"))

    def __init__(self, filters: int, kernel_size: IntOrSequence, strides: IntOrSequence = 1, padding: str = "valid",
                 output_padding: Optional[IntOrSequence] = None, data_format: Optional[str] = None,
                 dilation_rate: IntOrSequence = 1, activation: Identifier = None, use_bias: bool = True,
                 kernel_initializer: Identifier = "glorot_uniform", bias_initializer: Identifier = "zeros",
                 kernel_regularizer: Identifier = None, bias_regularizer: Identifier = None,
                 activity_regularizer: Identifier = None, kernel_constraint: Identifier = None,
                 bias_constraint: Identifier = None, *, in_channels: OptionalInt = None, **kwargs) -> None:
        groups = kwargs.pop("groups", 1)
        if groups != 1:
            raise ValueError(
                f"kcompat reproduces Keras's transposed convolution without groups. Received: groups={groups!r}"
            )
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        rank = self.rank
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
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self._weight_arguments(kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
                               kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer,
                               kernel_constraint=kernel_constraint, bias_constraint=bias_constraint)
        # (input signature, output size, functional.Call, channels_last): one tuple, so threads see all or none
        self._call_record = None
        if self._input_shape_arg is not None and len(self._input_shape_arg) != rank + 1:
            raise ValueError(
                f"The `input_shape` argument must have {rank + 1} entries (no batch axis). "
                f"Received: input_shape={self._input_shape_arg}"
            )
        self._in_channels_arg = None if in_channels is None else standardize_int(in_channels, "in_channels")

    def _build_at_init(self):
        super()._build_at_init()
        in_channels = self._in_channels_arg
        if in_channels is not None:
            if self.built and self.in_channels != in_channels:
                raise ValueError(
                    f"`in_channels` and `input_shape` disagree. Received: in_channels={in_channels}, "
                    f"input_shape={self._input_shape_arg}"
                )
            self._build_weights(in_channels)

    # ----------------------------------------------------------------- weights
    @property
    def in_channels(self):
        weight = self.weight
        return None if weight is None else weight.shape[0]

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
        shape = (*self.kernel_size, self.filters, in_channels)
        check_allocatable(shape, self.dtype, self._device or "cpu",
                          f"The kernel for filters={self.filters}, kernel_size={self.kernel_size} and "
                          f"{in_channels} input channels")
        self.add_weight("kernel", shape, self.kernel_initializer, regularizer=self.kernel_regularizer,
                        constraint=self.kernel_constraint)
        if self.use_bias:
            self.add_weight("bias", (self.filters,), self.bias_initializer, regularizer=self.bias_regularizer,
                            constraint=self.bias_constraint)

    def _build_from_weights(self, shapes):
        kernel = shapes.get("kernel")
        if kernel is not None and len(kernel) == self.rank + 2:
            self._build_weights(int(kernel[-1]))

    def weight_names(self):
        return ["kernel", "bias"] if self.use_bias else ["kernel"]

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
        inputs = as_tensor(inputs)
        # Checks and output size depend only on these: worked out once per input signature.
        weight, bias = self.weight, self.bias
        signature = (inputs.shape, inputs.dtype, inputs.device, None if weight is None else weight.shape)
        record = self._call_record  # read once: another thread may replace it meanwhile
        if record is None or record[0] != signature:
            self._check_input(inputs)
            if not self.built:
                self._build_on_call(inputs)
                weight, bias = self.weight, self.bias
                signature = signature[:3] + (weight.shape,)
            size = self._output_size(inputs.shape)
            check_allocatable((inputs.shape[0], self.filters, *size), inputs.dtype, inputs.device,
                              f"The output for strides={self.strides}, kernel_size={self.kernel_size}, "
                              f"filters={self.filters} and input shape {tuple(inputs.shape)}")
            channels_last = self.data_format == "channels_last"
            x = inputs.movedim(-1, 1) if channels_last else inputs
            call = prepare_call(x.shape, size, weight.shape, self.strides, self.padding, self.dilation_rate,
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
        if self._activity_losses or self.activity_regularizer is not None:
            self._add_activity_loss(outputs)
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
        config = super().get_config()
        config.update({
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "output_padding": self.output_padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            **self._weight_config("kernel_initializer", "bias_initializer", "kernel_regularizer", "bias_regularizer",
                                  "activity_regularizer", "kernel_constraint", "bias_constraint"),
        })
        return config

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


@keras_layer("Convolution2DTranspose")
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

    def __init__(self, filters: int, kernel_size: IntOrSequence, strides: IntOrSequence = (1, 1),
                 padding: str = "valid", output_padding: Optional[IntOrSequence] = None,
                 data_format: Optional[str] = None, dilation_rate: IntOrSequence = (1, 1),
                 activation: Identifier = None, use_bias: bool = True,
                 kernel_initializer: Identifier = "glorot_uniform", bias_initializer: Identifier = "zeros",
                 kernel_regularizer: Identifier = None, bias_regularizer: Identifier = None,
                 activity_regularizer: Identifier = None, kernel_constraint: Identifier = None,
                 bias_constraint: Identifier = None, **kwargs) -> None:
        super().__init__(
            filters=filters, kernel_size=kernel_size, strides=strides, padding=padding,
            output_padding=output_padding, data_format=data_format, dilation_rate=dilation_rate,
            activation=activation, use_bias=use_bias, kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer, activity_regularizer=activity_regularizer,
            kernel_constraint=kernel_constraint, bias_constraint=bias_constraint, **kwargs,
        )


Convolution2DTranspose = Conv2DTranspose


@keras_layer("Convolution1DTranspose")
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


@keras_layer("Convolution3DTranspose")
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

    def __init__(self, filters: int, kernel_size: IntOrSequence, strides: IntOrSequence = (1, 1, 1),
                 padding: str = "valid", data_format: Optional[str] = None,
                 output_padding: Optional[IntOrSequence] = None, dilation_rate: IntOrSequence = (1, 1, 1),
                 activation: Identifier = None, use_bias: bool = True,
                 kernel_initializer: Identifier = "glorot_uniform", bias_initializer: Identifier = "zeros",
                 kernel_regularizer: Identifier = None, bias_regularizer: Identifier = None,
                 activity_regularizer: Identifier = None, kernel_constraint: Identifier = None,
                 bias_constraint: Identifier = None, **kwargs) -> None:
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
