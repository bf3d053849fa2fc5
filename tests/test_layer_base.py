"""The Keras layer base and the layouts module: what any layer built on them gets.

A small Dense written by the recipe in kcompat.layers.base's docstring (with Keras-layout
``(in, out)`` kernel, torch-layout ``(out, in)`` weight) checks the base's surface generically;
the transposed convolution's own behaviour is tested in test_layer.py and test_parity.py.
"""

import copy

import numpy as np
import pytest
import torch

import kcompat
from kcompat import constraints, initializers, layouts, regularizers
from kcompat.layers import Layer, Weight


class TinyDense(Layer):
    WEIGHTS = (Weight("kernel", "weight", layouts.KERNEL), Weight("bias", "bias"))

    def __init__(self, units, use_bias=True, kernel_initializer="glorot_uniform", kernel_regularizer=None,
                 kernel_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer, "kernel_regularizer")
        self.kernel_constraint = constraints.get(kernel_constraint)

    def weight_names(self):
        return ["kernel", "bias"] if self.use_bias else ["kernel"]

    def build(self, input_shape):
        self._build_from_weights({"kernel": (input_shape[-1], self.units)})

    def _build_from_weights(self, shapes):
        if not self.built and len(shapes.get("kernel", ())) == 2:
            self.add_weight("kernel", shapes["kernel"], self.kernel_initializer,
                            regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
            if self.use_bias:
                self.add_weight("bias", (self.units,), initializers.get("zeros"))

    def forward(self, x):
        self._build_on_call(x)
        y = torch.nn.functional.linear(x, self.weight, self.bias)
        self._add_activity_loss(y)
        return y

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units, "use_bias": self.use_bias})
        return config


@pytest.mark.parametrize("rank", [0, 1, 2, 3])
@pytest.mark.parametrize("layout", [layouts.KERNEL, layouts.SAME], ids=lambda layout: layout.name)
def test_layouts_round_trip_in_torch_and_numpy(rank, layout):
    keras = np.arange(np.prod(range(2, rank + 4)), dtype=np.float32).reshape(range(2, rank + 4))
    as_torch = layout.to_torch(torch.tensor(keras))
    np.testing.assert_array_equal(layout.to_torch(keras), as_torch.numpy())  # numpy and torch agree
    np.testing.assert_array_equal(layout.to_keras(as_torch).numpy(), keras)
    assert layout.torch_shape(keras.shape) == tuple(as_torch.shape)
    assert layout.keras_shape(tuple(as_torch.shape)) == keras.shape
    stored = layout.keras_view_of_torch_memory(torch.tensor(keras))
    np.testing.assert_array_equal(stored.numpy(), keras)
    assert layout.to_torch(stored).is_contiguous()


def test_kernel_layout_is_torch_modules_layout():
    """The one rule (last two axes reversed, to the front) is each torch module's layout."""
    for module, keras_shape in [(torch.nn.Linear(3, 5), (3, 5)), (torch.nn.Conv2d(3, 5, (2, 4)), (2, 4, 3, 5)),
                                (torch.nn.ConvTranspose3d(3, 5, (1, 2, 4)), (1, 2, 4, 5, 3))]:
        assert layouts.KERNEL.torch_shape(keras_shape) == tuple(module.weight.shape)


def test_weights_stored_in_torch_layout_with_keras_views():
    layer = TinyDense(4, input_shape=(3,))
    assert [name for name, _ in layer.named_parameters()] == ["weight", "bias"]
    assert layer.weight.shape == (4, 3) and layer.kernel.shape == (3, 4)
    assert layer.kernel.data_ptr() == layer.weight.data_ptr()  # a view, not a copy
    x = torch.rand(2, 3)
    torch.testing.assert_close(layer(x), x @ layer.kernel + layer.bias)


def test_unbuilt_layer_has_none_weights_and_builds_on_call_or_load():
    layer = TinyDense(2, use_bias=False)
    assert layer.weight is None and layer.kernel is None and layer.bias is None and not layer.built
    assert layer.get_weights() == [] and list(layer.parameters()) == []
    source = TinyDense(2, use_bias=False, input_shape=(5,))
    layer.load_state_dict(source.state_dict())
    np.testing.assert_array_equal(layer.get_weights()[0], source.get_weights()[0])
    fresh = TinyDense(2, use_bias=False)
    fresh.set_weights(source.get_weights())
    assert fresh.weight.shape == (2, 5)


def test_set_weights_errors_name_the_weights():
    layer = TinyDense(2, input_shape=(3,))
    with pytest.raises(ValueError, match=r"expected 2 arrays \(kernel, bias\), received 1"):
        layer.set_weights([np.zeros((3, 2))])
    with pytest.raises(ValueError, match=r"mismatch for `kernel`: expected \(3, 2\) \(Keras layout\), received \(2, 3\)"):
        layer.set_weights([np.zeros((2, 3)), np.zeros(2)])
    with pytest.raises(ValueError, match="cannot be built from weights of shapes"):
        TinyDense(2).set_weights([np.zeros(3), np.zeros(2)])


def test_trainable_losses_constraints_and_reset():
    layer = TinyDense(3, kernel_regularizer="l2", kernel_constraint="non_neg", activity_regularizer="l1",
                      input_shape=(4,))
    with torch.no_grad():
        layer.kernel.fill_(-1.0)
    layer.apply_constraints()
    assert (layer.kernel == 0).all()
    kcompat.apply_constraints(torch.nn.Sequential(layer))
    y = layer(torch.ones(2, 4))
    assert len(layer.losses) == 2  # the activity penalty of the call, then the kernel's
    torch.testing.assert_close(layer.losses[0], y.abs().sum() * 0.01 / 2)
    layer.trainable = False
    assert not any(p.requires_grad for p in layer.parameters()) and len(layer.losses) == 1
    torch.manual_seed(0)
    layer.reset_parameters()
    assert (layer.kernel != 0).any() and layer.count_params() == 4 * 3 + 3
    assert layer.keras_grads() == [None, None]


def test_base_config_and_argument_errors():
    layer = TinyDense(3, name="head", dtype="float64")
    dtype = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float64"}, "registered_name": None}
    assert layer.get_config() == {"name": "head", "trainable": True, "dtype": dtype, "units": 3, "use_bias": True}
    assert TinyDense.from_config(layer.get_config()).get_config() == layer.get_config()
    assert TinyDense(1).name.startswith("tiny_dense")
    with pytest.raises(ValueError, match=r"Unrecognized keyword arguments passed to TinyDense: \{'units_': 2\}"):
        TinyDense(3, units_=2)
    with pytest.raises(TypeError, match="The `trainable` argument must be a bool. Received: trainable=1"):
        TinyDense(3, trainable=1)
    with pytest.raises(ValueError, match="cannot contain character `/`"):
        TinyDense(3, name="a/b")


def _kernel_copies(layer, x):
    """The copies of ``layer``'s kernel a training step makes, and the gradients it gives."""
    from torch.profiler import profile

    x.grad = None
    with profile(record_shapes=True) as prof:
        layer(x).square().sum().backward()
    kernel = list(layer.weight.shape)
    copies = [e.name for e in prof.events() if e.name == "aten::copy_" and e.input_shapes
              and list(e.input_shapes[0]) == kernel]
    return len(copies), (x.grad.clone(), layer.weight.grad.clone(), layer.bias.grad.clone())


@pytest.mark.parametrize("rank,data_format", [(2, "channels_last"), (3, "channels_last"), (2, "channels_first")])
def test_a_convolution_keeps_its_kernel_in_the_memory_format_it_computes_in(rank, data_format):
    """A channels_last Conv2D/Conv3D stores its kernel channels_last, as torch's oneDNN convolution
    takes it: a contiguous kernel was copied in the forward and the backward and its gradient
    copied into the parameter's layout (4 copies per training step; now torch's backward converts
    the kernel's gradient once), the numbers the same as with a contiguous kernel."""
    layer = {2: kcompat.layers.Conv2D, 3: kcompat.layers.Conv3D}[rank](6, 3, padding="same", data_format=data_format)
    shape = (2, *(7,) * rank, 5) if data_format == "channels_last" else (2, 5, *(7,) * rank)
    x = torch.randn(shape, requires_grad=True)
    layer(x)
    formats = {(2, "channels_last"): torch.channels_last, (3, "channels_last"): torch.channels_last_3d}
    expected = formats.get((rank, data_format), torch.contiguous_format)
    assert layer.weight.is_contiguous(memory_format=expected)
    assert layer.weight.is_contiguous() == (expected == torch.contiguous_format)
    contiguous = copy.deepcopy(layer)
    contiguous.weight.data = contiguous.weight.data.contiguous()
    copies, grads = _kernel_copies(layer, x)
    before, reference = _kernel_copies(contiguous, x)
    if expected == torch.contiguous_format:
        assert copies == before
    else:
        assert copies <= 1 < before, (copies, before)
    for mine, theirs in zip(grads, reference):
        torch.testing.assert_close(mine, theirs, rtol=1e-5, atol=1e-5)


def test_a_one_channel_kernel_keeps_plain_strides():
    """One input channel: channels_last strides on the kernel would send torch 2.13 down its wrong
    one-channel path (the thin-geometry defect :func:`~kcompat.layers.conv.plain_strides` avoids)."""
    grayscale = kcompat.layers.Conv2D(6, 3, strides=(1, 2))
    grayscale(torch.randn(2, 7, 7, 1))
    assert grayscale.weight.stride() == torch.empty(grayscale.weight.shape).stride()  # canonical, size-1 axis too
