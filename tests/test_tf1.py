"""The TF1 generation against real TensorFlow 1 graphs, run in the test.

Each TF1 program below is the *same source text* run twice: by TensorFlow, as graph code in
a ``tf.compat.v1`` graph and session (``TF_USE_LEGACY_KERAS=1``, tf_keras), and by kcompat,
as the ``forward`` of a ``torch.nn.Module`` with ``tf1 = kcompat.compat.v1``. Compared:
variable names (TF's ``a/b/kernel`` is kcompat's ``a.b.kernel``) and trainability, errors
and their messages, outputs and gradients once kcompat is given TF's variable values by name.
"""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
import torch

import kcompat
from kcompat.harness.grid import default_grid
from kcompat.compat import v1 as tf1
from kcompat.testing import numpy_reference
from kcompat.testing.tf_oracle import TFError

from kcompat.testing.tolerance import assert_close
from kcompat.testing import tf_calls


class Program(torch.nn.Module):
    """A TF1 graph-building function ``build(tf1, **inputs)``, ported as a module's forward."""

    def __init__(self, source):
        super().__init__()
        namespace = {"regularizers": kcompat.regularizers}
        exec(textwrap.dedent(source), namespace)  # noqa: S102 - the test's own programs
        self._build = namespace["build"]

    def forward(self, **inputs):
        return self._build(tf1, **inputs)


def _tf_names(module):
    return [name.replace(".", "/") for name, _ in module.named_parameters()]


def run_both(oracle, source, inputs, *, kernel_size=1, strides=1, upstream=None, tf_source=None, assign=True):
    """Run ``source`` in TF and in kcompat; kcompat gets TF's variable values. Returns both sides."""
    source = textwrap.dedent(source)
    try:
        ref = oracle.tf1_graph(tf_source or source, inputs, kernel_size=kernel_size, strides=strides,
                               upstream=upstream)
    except TFError as theirs:
        program = Program(source)
        with pytest.raises(ValueError) as ours:
            program(**{k: torch.tensor(v) for k, v in inputs.items()})
        assert str(ours.value) == theirs.message
        return None, None, None
    program = Program(source)
    program(**{k: torch.tensor(v) for k, v in inputs.items()})  # first pass: creates the variables
    assert _tf_names(program) == list(ref["variables"]), "variable names"
    trainable = [n.replace(".", "/") for n, p in program.named_parameters() if p.requires_grad]
    assert trainable == ref["trainable"], "trainable variables"
    if assign:
        program.load_state_dict({k.replace("/", "."): torch.tensor(v) for k, v in ref["variables"].items()})
    tensors = {k: torch.tensor(v, requires_grad=True) for k, v in inputs.items()}
    y = program(**tensors)  # a later pass: replays, creates nothing
    assert _tf_names(program) == list(ref["variables"]), "a second forward pass changed the variables"
    if upstream is not None:
        (y * torch.tensor(upstream)).sum().backward()
    return program, ref, (y, tensors)


def _layer_source(config, data_format, via_channels_last):
    """One ``tf.layers.conv2d_transpose`` call; ``via_channels_last`` for TF's non-oneDNN kernel."""
    if not via_channels_last:
        args = ", ".join(f"{k}={v!r}" for k, v in dict(config, data_format=data_format).items())
        return f"def build(tf1, x):\n    return tf1.layers.conv2d_transpose(x, name='deconv', {args})\n"
    args = ", ".join(f"{k}={v!r}" for k, v in dict(config, activation=None).items())
    return (
        "def build(tf1, x):\n"
        "    x = tf.transpose(x, [0, 2, 3, 1])\n"
        f"    y = tf1.layers.conv2d_transpose(x, name='deconv', {args})\n"
        "    y = tf.transpose(y, [0, 3, 1, 2])\n"
        f"    return tf.keras.activations.get({config['activation']!r})(y)\n"
    )


def _functional_space():
    """The grid's TF1 cases that ``tf.layers.conv2d_transpose`` can express (it takes no
    output_padding or dilation), padding in TF1's spellings (case-insensitive) in turn."""
    cases, seen = [], set()
    for case in default_grid(("tf1",), data_formats=("channels_last",)):
        key = (case.config["kernel_size"], case.config["strides"], case.config["padding"])
        if max(case.config["dilation_rate"]) == 1 and key not in seen:  # output_padding left out
            seen.add(key)
            cases.append(case)
    out = []
    x = lambda values: "x".join(map(str, values))  # noqa: E731
    for i, case in enumerate(cases):
        config = {k: case.config[k] for k in ("filters", "kernel_size", "strides", "padding", "activation", "use_bias")}
        config["padding"] = config["padding"] if i % 5 else config["padding"].upper()
        dtype = "float64" if i % 2 else "float32"  # in turn
        for fmt in ("channels_last", "channels_first"):
            cid = (f"tf1-2d-{case.config['padding']}-k{x(config['kernel_size'])}-s{x(config['strides'])}"
                   f"-in{x(case.spatial)}-{fmt[9:]}-{dtype}")
            out.append(pytest.param(config, case.spatial, dtype, fmt, id=cid))
    return out


@pytest.mark.parametrize("config,spatial,dtype,data_format", _functional_space())
def test_functional_parity(oracle, config, spatial, dtype, data_format):
    """``tf.layers.conv2d_transpose``: outputs, gradients and variables over the TF1 configuration space."""
    rng = np.random.default_rng(sum(spatial) + len(str(config)))
    shape = (2, *spatial, 3) if data_format == "channels_last" else (2, 3, *spatial)
    x = rng.standard_normal(shape).astype(dtype)
    layer = tf1.layers.Conv2DTranspose(**dict(config, data_format=data_format))
    out_shape = layer.compute_output_shape(shape)
    upstream = rng.standard_normal(out_shape).astype(dtype)
    kernel_size, strides = config["kernel_size"], config["strides"]
    covered = all(k >= s for k, s in zip(kernel_size, strides))
    tf_source = _layer_source(config, data_format, data_format == "channels_first" and not (
        covered and dtype == "float32"))
    program, ref, (y, tensors) = run_both(
        oracle, _layer_source(config, data_format, False), {"x": x}, kernel_size=min(kernel_size),
        strides=max(strides), upstream=upstream, tf_source=tf_source,
    )
    assert y.dtype == getattr(torch, dtype), "TF1 layers take the dtype of their input"
    assert tuple(y.shape) == out_shape == ref["output"].shape
    assert_close(y.detach().numpy(), ref["output"], dtype, "output")
    assert_close(tensors["x"].grad.numpy(), ref["grads"]["x"], dtype, "d_input")
    for name, param in program.named_parameters():
        assert_close(param.grad.numpy(), ref["grads"][name.replace(".", "/")], dtype, f"d_{name}")
    # The pre-activation result in float64 against the independent numpy transposed convolution.
    variables = ref["variables"]
    linear = numpy_reference.conv_transpose(
        x.astype(np.float64), variables["deconv/kernel"], variables.get("deconv/bias"), strides,
        config["padding"].lower(), out_shape[1:3] if data_format == "channels_last" else out_shape[2:],
        (1, 1), data_format == "channels_last")
    with torch.no_grad():
        ours = kcompat.tf_nn.conv2d_transpose(
            torch.tensor(x, dtype=torch.float64), torch.tensor(variables["deconv/kernel"], dtype=torch.float64),
            out_shape, strides, config["padding"].upper(), "NHWC" if data_format == "channels_last" else "NCHW")
        if config["use_bias"]:
            axis = -1 if data_format == "channels_last" else 1
            ours = ours + torch.tensor(variables["deconv/bias"], dtype=torch.float64).view(
                [-1 if a == axis % 4 else 1 for a in range(4)])
    assert_close(ours.numpy(), linear, "float64", "float64 numpy reference")


# ------------------------------------------------------------------ names, scopes, reuse
PROGRAMS = {
    "auto-names-and-reentered-scopes": """
        def build(tf1, x):
            y = tf1.layers.conv2d_transpose(x, 4, 3)
            y = tf1.layers.conv2d_transpose(y, 4, 3)
            with tf1.variable_scope("gen"):
                y = tf1.layers.conv2d_transpose(y, 4, 3, strides=2, padding="same")
                y = tf1.layers.conv2d_transpose(y, 4, 3, name="deconv1")
                with tf1.variable_scope("inner"):
                    y = tf1.layers.conv2d_transpose(y, 4, 1)
            with tf1.variable_scope("gen", reuse=True):
                y = tf1.layers.conv2d_transpose(y, 4, 3, strides=2, padding="same")
                y = tf1.layers.conv2d_transpose(y, 4, 3, name="deconv1")
                with tf1.variable_scope("inner"):
                    y = tf1.layers.conv2d_transpose(y, 4, 1)
            return y
    """,
    "duplicate-name-fails": """
        def build(tf1, x):
            with tf1.variable_scope("gen"):
                y = tf1.layers.conv2d_transpose(x, 4, 3, name="deconv1")
                return tf1.layers.conv2d_transpose(y, 4, 3, name="deconv1")
    """,
    "duplicate-path-fails": """
        def build(tf1, x):
            with tf1.variable_scope("gen"):
                y = tf1.layers.conv2d_transpose(x, 4, 3, name="deconv1")
            return tf1.layers.conv2d_transpose(y, 4, 3, name="gen/deconv1")
    """,
    "reuse-of-nothing-fails": """
        def build(tf1, x):
            with tf1.variable_scope("gen"):
                return tf1.layers.conv2d_transpose(x, 4, 3, name="nope", reuse=True)
    """,
    "reuse-with-other-filters-fails": """
        def build(tf1, x):
            y = tf1.layers.conv2d_transpose(x, 4, 3, name="d")
            return tf1.layers.conv2d_transpose(x, 5, 3, name="d", reuse=True)
    """,
    "reuse-with-other-input-channels-fails": """
        def build(tf1, x):
            y = tf1.layers.conv2d_transpose(x, 5, 3, name="d")
            return tf1.layers.conv2d_transpose(y, 5, 3, name="d", reuse=True)
    """,
    "reuse-without-bias-shares-kernel": """
        def build(tf1, x):
            y = tf1.layers.conv2d_transpose(x, 4, 3, name="d")
            return y + tf1.layers.conv2d_transpose(x, 4, 3, strides=1, padding="valid", name="d", reuse=True,
                                                   use_bias=False, activation="relu")
    """,
    "auto-reuse": """
        def build(tf1, x):
            for _ in range(2):
                with tf1.variable_scope("auto", reuse=tf1.AUTO_REUSE):
                    y = tf1.layers.conv2d_transpose(x, 4, 3, name="a")
                    y = tf1.layers.conv2d_transpose(y, 4, 3, name="a", strides=2)
                    y = tf1.layers.conv2d_transpose(x, 4, 3)
                    x = tf1.layers.conv2d_transpose(y, 4, 3, padding="same")
            return x
    """,
    "default-name-scopes-and-nested-names": """
        def build(tf1, x):
            for _ in range(2):
                with tf1.variable_scope(None, default_name="block"):
                    x = tf1.layers.conv2d_transpose(x, 4, 2, strides=2)
            x = tf1.layers.conv2d_transpose(x, 4, 1, name="a/b")
            with tf1.variable_scope("gen/sub"):
                x = tf1.layers.conv2d_transpose(x, 4, 1)
            return x
    """,
    "reuse-argument-without-name": """
        def build(tf1, x):
            with tf1.variable_scope("gen"):
                y = tf1.layers.conv2d_transpose(x, 4, 3)
            with tf1.variable_scope("gen", reuse=True):
                return tf1.layers.conv2d_transpose(x, 4, 3, reuse=True)
    """,
    "unnamed-in-reuse-scope-fails": """
        def build(tf1, x):
            with tf1.variable_scope("gen"):
                y = tf1.layers.conv2d_transpose(x, 4, 3)
            with tf1.variable_scope("gen", reuse=True):
                y = tf1.layers.conv2d_transpose(x, 4, 3)
                return tf1.layers.conv2d_transpose(y, 4, 3)
    """,
    "captured-scope-object": """
        def build(tf1, x):
            with tf1.variable_scope("enc") as scope:
                y = tf1.layers.conv2d_transpose(x, 4, 3, name="d")
                y = tf1.layers.conv2d_transpose(y, 4, 1)
            with tf1.variable_scope(scope, reuse=True):
                y = tf1.layers.conv2d_transpose(y, 4, 3, name="d")
            with tf1.variable_scope(scope, reuse=tf1.AUTO_REUSE):
                y = tf1.layers.conv2d_transpose(y, 4, 1)
                y = tf1.layers.conv2d_transpose(y, 4, 2, name="e")
            return y
    """,
    "class-layers-built-in-the-graph": """
        def build(tf1, x):
            layer = tf1.layers.Conv2DTranspose(4, 3, name="cls")
            y = layer(layer(x))
            y = tf1.layers.Conv2DTranspose(4, 3, name="cls")(y)
            y = tf1.layers.Conv2DTranspose(4, 1)(y)
            with tf1.variable_scope("s"):
                y = tf1.layers.Conv2DTranspose(4, 2, strides=2, padding="same").apply(y)
            return tf1.layers.conv2d_transpose(y, 4, 1)
    """,
    "class-name-taken-by-functional-fails": """
        def build(tf1, x):
            y = tf1.layers.Conv2DTranspose(4, 3, name="cls")(x)
            return tf1.layers.conv2d_transpose(y, 4, 3, name="cls")
    """,
    "non-trainable-and-scope-initializer": """
        def build(tf1, x):
            with tf1.variable_scope("frozen", initializer=tf1.constant_initializer(0.25)):
                y = tf1.layers.conv2d_transpose(x, 4, 3, name="d", trainable=False)
                y = tf1.layers.conv2d_transpose(y, 4, 3, name="e", bias_initializer=None)
            return tf1.layers.conv2d_transpose(y, 2, 3, name="f", use_bias=False, trainable=False)
    """,
    "dcgan-deconv2d-with-get-variable": """
        def deconv2d(tf1, input_, output_shape, k=5, d=2, stddev=0.02, name="deconv2d"):
            with tf1.variable_scope(name):
                w = tf1.get_variable("w", [k, k, output_shape[-1], int(input_.shape[-1])],
                                     initializer=tf1.random_normal_initializer(stddev=stddev))
                deconv = tf1.nn.conv2d_transpose(input_, w, output_shape=output_shape, strides=[1, d, d, 1])
                biases = tf1.get_variable("biases", [output_shape[-1]], initializer=tf1.constant_initializer(0.1))
                return tf1.nn.bias_add(deconv, biases)

        def build(tf1, x):
            with tf1.variable_scope("generator") as scope:
                h = deconv2d(tf1, x, [2, 6, 6, 8], name="g_h1")
                h = deconv2d(tf1, h, [2, 12, 12, 4], k=4, name="g_h2")
                scope.reuse_variables()
                h2 = deconv2d(tf1, x, [2, 6, 6, 8], name="g_h1")
            with tf1.variable_scope("generator", reuse=True):
                w = tf1.get_variable("g_h2/w")
            return h + tf1.nn.conv2d_transpose(h2, w, [2, 12, 12, 4], 2, padding="SAME")
    """,
    "get-variable-errors": """
        def build(tf1, x):
            with tf1.variable_scope("g"):
                w = tf1.get_variable("w", [3, 3, 4, 4])
                w = tf1.get_variable("w", [3, 3, 4, 4])
            return x
    """,
    "get-variable-unknown-shape": """
        def build(tf1, x):
            return x * tf1.get_variable("w")
    """,
    "regularizers": """
        def build(tf1, x):
            y = tf1.layers.conv2d_transpose(x, 4, 3, name="d", kernel_regularizer=regularizers.l2(0.01),
                                            bias_regularizer=regularizers.l1(0.1),
                                            bias_initializer=tf1.constant_initializer(0.5))
            with tf1.variable_scope("r", regularizer=regularizers.l2(0.1)):
                y = tf1.layers.conv2d_transpose(y, 4, 3, name="e", activity_regularizer=regularizers.l1(0.001))
            with tf1.variable_scope("r", reuse=True):
                y = tf1.layers.conv2d_transpose(y, 4, 3, name="e")
            return y
    """,
}


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_names_scopes_and_reuse(oracle, name):
    """Variable names, sharing and errors of TF1 programs; then their numbers with TF's values."""
    rng = np.random.default_rng(len(name))
    x = rng.standard_normal((2, 3, 3, 4)).astype("float32")
    program, ref, result = run_both(oracle, PROGRAMS[name], {"x": x}, kernel_size=1, strides=2)
    if program is None:
        return  # TF refused, and kcompat refused with the same message
    y, _ = result
    assert_close(y.detach().numpy(), ref["output"], "float32", "output")
    losses = [float(loss.detach()) for loss in tf1.losses.get_regularization_losses(program)]
    np.testing.assert_allclose(sorted(losses), sorted(ref["losses"]), rtol=1e-5)


def test_scope_initializer_values_match_tensorflow(oracle):
    """Deterministic initial values (scope initializer, zeros bias) equal TF's, without assignment."""
    x = np.ones((1, 2, 2, 4), "float32")
    program, ref, _ = run_both(oracle, PROGRAMS["non-trainable-and-scope-initializer"], {"x": x}, assign=False)
    state = program.state_dict()
    for name in ("frozen/d/kernel", "frozen/d/bias", "frozen/e/kernel", "frozen/e/bias"):
        np.testing.assert_array_equal(state[name.replace("/", ".")].numpy(), ref["variables"][name])


GENERATOR = """
    def generator(tf1, z, reuse=None):
        with tf1.variable_scope("generator", reuse=reuse):
            with tf1.variable_scope("block1"):
                h = tf1.layers.conv2d_transpose(z, 32, 4, strides=2, padding="same", activation="relu", name="deconv")
            with tf1.variable_scope("block2"):
                h = tf1.layers.conv2d_transpose(h, 16, 5, strides=2, padding="same", activation="relu", name="deconv")
            h = tf1.layers.conv2d_transpose(h, 8, 3, strides=2, activation="relu")
            return tf1.layers.conv2d_transpose(h, 3, 4, padding="same", activation="tanh", name="to_rgb")

    def build(tf1, z1, z2):
        return generator(tf1, z1) + 2 * generator(tf1, z2, reuse=True)
"""


def test_ported_tf1_generator(oracle):
    """A DCGAN-style TF1 generator (4 deconvolutions, nested scopes, reuse), ported line by line."""
    rng = np.random.default_rng(7)
    z1, z2 = (rng.standard_normal((2, 4, 4, 64)).astype("float32") for _ in range(2))
    upstream = rng.standard_normal((2, 33, 33, 3)).astype("float32")
    program, ref, (y, tensors) = run_both(oracle, GENERATOR, {"z1": z1, "z2": z2}, kernel_size=3, strides=2,
                                          upstream=upstream)
    assert sorted(dict(program.named_parameters())) == sorted([
        "generator.block1.deconv.kernel", "generator.block1.deconv.bias", "generator.block2.deconv.kernel",
        "generator.block2.deconv.bias", "generator.conv2d_transpose.kernel", "generator.conv2d_transpose.bias",
        "generator.to_rgb.kernel", "generator.to_rgb.bias"])
    assert_close(y.detach().numpy(), ref["output"], "float32", "output")
    for key in ("z1", "z2"):
        assert_close(tensors[key].grad.numpy(), ref["grads"][key], "float32", f"d_{key}")
    for name, param in program.named_parameters():
        assert_close(param.grad.numpy(), ref["grads"][name.replace(".", "/")], "float32", f"d_{name}")


# ------------------------------------------------------------------ initializers
def test_default_initializers_match_tensorflow_statistics(oracle):
    """``kernel_initializer=None`` is glorot uniform; ``bias_initializer=None`` too (TF1's default)."""
    source = """
        def build(tf1, x):
            return tf1.layers.conv2d_transpose(x, 96, 5, name="d", bias_initializer=None)
    """
    x = np.ones((1, 2, 2, 160), "float32")
    torch.manual_seed(0)
    program, ref, _ = run_both(oracle, source, {"x": x}, kernel_size=5, assign=False)
    state = program.state_dict()
    for name, fan_sum in (("d/kernel", 25 * (96 + 160)), ("d/bias", 2 * 96)):
        limit = np.sqrt(6.0 / fan_sum)
        ours, theirs = state[name.replace("/", ".")].numpy(), ref["variables"][name]
        for values in (ours, theirs):
            assert np.abs(values).max() <= limit
            assert np.abs(values).max() > 0.9 * limit
        std_tolerance = 0.03 if values.size > 1000 else 0.25
        np.testing.assert_allclose(ours.std(), theirs.std(), rtol=std_tolerance)
        np.testing.assert_allclose(ours.std(), limit / np.sqrt(3), rtol=std_tolerance)
        assert abs(ours.mean()) < 0.05 * limit if values.size > 1000 else True


# ------------------------------------------------------------------ the class
CLASS_CONFIGS = [
    {"filters": 4, "kernel_size": 3},
    {"filters": 2, "kernel_size": (2, 3), "strides": 2, "padding": "same", "activation": "relu"},
    {"filters": 3, "kernel_size": 3, "strides": (1, 2), "use_bias": False, "trainable": False, "name": "up"},
    {"filters": 3, "kernel_size": 3, "data_format": "channels_first", "bias_initializer": None},
    {"filters": 3, "kernel_size": 3, "dilation_rate": 2},  # tf_keras passes Keras's kwargs through
    {"filters": 3, "kernel_size": 3, "strides": 2, "output_padding": 1, "padding": "same"},
]


@pytest.mark.parametrize("config", CLASS_CONFIGS, ids=lambda c: "-".join(f"{k}{v}" for k, v in c.items()))
def test_class_surface(oracle, config):
    """``tf.compat.v1.layers.Conv2DTranspose``: config, shapes, weights lists, against tf_keras's class."""
    input_shape = (2, 3, 5, 5) if config.get("data_format") == "channels_first" else (2, 5, 5, 3)
    theirs = oracle.run(tf_calls.tf1_class_info, config=config, input_shape=input_shape)
    layer = tf1.layers.Conv2DTranspose(**config)
    ours_config = layer.get_config()
    theirs_config = dict(theirs["config"])
    if config.get("name") is None:  # automatic names count per process
        ours_config.pop("name"), theirs_config.pop("name")
    assert ours_config == theirs_config
    layer.build(input_shape)
    assert layer.compute_output_shape(input_shape) == theirs["output_shape"]
    assert layer.count_params() == theirs["count_params"]
    assert [(n, tuple(p.shape)) for n, p in layer.named_parameters()] == theirs["weights"]
    assert len(layer.trainable_weights) == theirs["trainable"] == len(layer.trainable_variables)
    assert len(layer.non_trainable_weights) == theirs["non_trainable"] == len(layer.non_trainable_variables)
    built = dict(theirs["built_config"], name=layer.name) if config.get("name") is None else theirs["built_config"]
    # tf_keras records the dtype it infers only once the layer has run; kcompat once it is built.
    assert dict(layer.get_config(), dtype=built["dtype"]) == built
    clone = tf1.layers.Conv2DTranspose.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()


def test_class_parity_and_layer_api(oracle):
    """The class built in ``__init__`` is an ordinary submodule; numbers equal TF1's class in a graph."""
    source = """
        def build(tf1, x):
            return tf1.layers.Conv2DTranspose(6, (3, 2), strides=(2, 1), padding="same", activation="elu",
                                              name="up").apply(x)
    """
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 4, 5, 3)).astype("float32")
    upstream = rng.standard_normal((2, 8, 5, 6)).astype("float32")
    ref = oracle.tf1_graph(textwrap.dedent(source), {"x": x}, kernel_size=2, strides=2, upstream=upstream)
    layer = tf1.layers.Conv2DTranspose(6, (3, 2), strides=(2, 1), padding="same", activation="elu", name="up")
    with pytest.raises(ValueError, match="has not been used yet"):
        _ = layer.scope_name
    layer.set_weights([ref["variables"]["up/kernel"], ref["variables"]["up/bias"]])
    xt = torch.tensor(x, requires_grad=True)
    y = layer(xt)
    (y * torch.tensor(upstream)).sum().backward()
    assert_close(y.detach().numpy(), ref["output"], "float32", "output")
    assert_close(xt.grad.numpy(), ref["grads"]["x"], "float32", "d_input")
    assert_close(layer.kernel.grad.numpy(), ref["grads"]["up/kernel"], "float32", "d_kernel")
    assert layer.scope_name == "up" and layer.name == "up"
    assert [n for n, _ in layer.named_parameters()] == ["kernel", "bias"]
    assert layer.weights == layer.variables == [layer.kernel, layer.bias]
    assert layer.updates == []
    assert layer.input is xt and layer.output is y
    assert layer.input_shape == (2, 4, 5, 3) and layer.output_shape == (2, 8, 5, 6)
    layer(torch.zeros(1, 2, 2, 3))
    assert layer.get_input_shape_at(1) == (1, 2, 2, 3) and layer.get_output_shape_at(1) == (1, 4, 2, 6)
    with pytest.raises(AttributeError, match="multiple inbound nodes"):
        _ = layer.input_shape
    # Torch-layout view of the TF-layout kernel, no copy.
    assert layer.weight.shape == (3, 6, 3, 2) and layer.weight.is_contiguous()
    assert layer.weight.data_ptr() == layer.kernel.data_ptr()


# ------------------------------------------------------------------ PyTorch behaviour
class Generator(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.head = torch.nn.Identity()

    def forward(self, z):
        with tf1.variable_scope("generator"):
            x = tf1.layers.conv2d_transpose(self.head(z), 8, 5, strides=2, padding="same", name="deconv1")
            return tf1.layers.conv2d_transpose(x, 3, 5, strides=2, padding="same", name="deconv2")


def test_variables_belong_to_the_running_module():
    a, b = Generator(), Generator()
    z = torch.randn(2, 4, 4, 16)
    ya, yb = a(z), b(z)
    assert list(a.state_dict()) == ["generator.deconv1.kernel", "generator.deconv1.bias",
                                    "generator.deconv2.kernel", "generator.deconv2.bias"]
    assert a.generator.deconv1.kernel.shape == (5, 5, 8, 16)  # TF's layout and shape
    assert not torch.equal(ya, yb), "two instances must not share variables"
    params = list(a.parameters())
    for _ in range(3):
        assert torch.equal(a(z), ya)
    assert [id(p) for p in a.parameters()] == [id(p) for p in params], "later passes reuse"
    b.load_state_dict(a.state_dict())
    assert torch.equal(b(z), ya)


def test_training_step_double_and_deepcopy():
    import copy

    g = Generator()
    z = torch.randn(2, 4, 4, 16)
    g(z)  # as for torch's lazy modules: one pass before the optimizer
    opt = torch.optim.Adam(g.parameters(), lr=0.1)
    before = g.generator.deconv1.kernel.detach().clone()
    g(z).square().mean().backward()
    opt.step()
    kernel = g.generator.deconv1.kernel
    assert not torch.equal(kernel.detach(), before)
    assert kernel.grad.stride() == kernel.stride(), "gradients keep the torch-order memory"
    assert g.generator.deconv1.kernel.permute(3, 2, 0, 1).is_contiguous()
    g64 = copy.deepcopy(g).double()
    assert g64.generator.deconv1.kernel.permute(3, 2, 0, 1).is_contiguous()
    np.testing.assert_allclose(g64(z.double()).detach().numpy(), g(z).detach().numpy(), atol=1e-5)


def test_calls_outside_a_forward_fail_clearly():
    with pytest.raises(RuntimeError, match="inside the `forward` of a torch.nn.Module"):
        tf1.layers.conv2d_transpose(torch.zeros(1, 2, 2, 3), 4, 3)
    with tf1.variable_scope("gen") as scope:  # TF1 code opens scopes in constructors: it names nothing there
        assert scope.name == "gen"
        with pytest.raises(RuntimeError, match="inside the `forward`"):
            tf1.get_variable("w", [2])


def test_scope_clashing_with_a_submodule_fails():
    class Clash(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.generator = torch.nn.Identity()

        def forward(self, z):
            return tf1.layers.conv2d_transpose(z, 4, 3, name="generator/deconv")

    with pytest.raises(ValueError, match="clashes with the submodule"):
        Clash()(torch.zeros(1, 2, 2, 3))


def test_scope_named_like_a_method_ports_unchanged():
    """carpedm20/DCGAN-tensorflow: ``def generator`` opens ``variable_scope("generator")``."""
    class DCGAN(torch.nn.Module):
        def generator(self, z, reuse=False):
            with tf1.variable_scope("generator", reuse=reuse):
                return tf1.layers.conv2d_transpose(z, 4, 5, strides=2, padding="same", name="g_h1")

        def forward(self, z):
            return self.generator(z)

    model, z = DCGAN(), torch.randn(2, 4, 4, 3)
    y = model(z)
    assert list(model.state_dict()) == ["generator.g_h1.kernel", "generator.g_h1.bias"]
    assert torch.equal(model(z), y) and callable(model.generator)  # variables reused, the method intact
    again = DCGAN()
    again(z)
    again.load_state_dict(model.state_dict())
    assert torch.equal(again(z), y)
    # An instance attribute of that name is data, not a method: still refused.
    class Data(DCGAN):
        def forward(self, z):
            return tf1.layers.conv2d_transpose(z, 4, 3, name="gen/deconv")

    data = Data()
    data.__dict__["gen"] = 1.0
    with pytest.raises(ValueError, match="clashes with the attribute"):
        data(z)


def test_constraints_of_functional_layers_are_applied():
    class Constrained(torch.nn.Module):
        def forward(self, z):
            return tf1.layers.conv2d_transpose(z, 4, 3, name="d", kernel_constraint=kcompat.constraints.NonNeg(),
                                               bias_initializer=tf1.constant_initializer(-1.0),
                                               bias_constraint=kcompat.constraints.NonNeg())

    model = Constrained()
    model(torch.zeros(1, 2, 2, 3))
    kcompat.apply_constraints(model)
    assert (model.d.kernel >= 0).all() and (model.d.bias == 0).all()


# ------------------------------------------------------------------ the 3-D generation
CONFIGS_3D = [
    dict(filters=4, kernel_size=3, strides=2, padding="same"),
    dict(filters=2, kernel_size=(2, 3, 1), strides=(1, 2, 1), padding="valid", activation="relu"),
    dict(filters=3, kernel_size=(3, 2, 2), strides=(2, 2, 2), padding="valid", use_bias=False),
    dict(filters=2, kernel_size=(4, 3, 5), strides=(3, 1, 2), padding="same", activation="tanh"),
]


@pytest.mark.parametrize("dtype,data_format", [("float32", "channels_last"), ("float64", "channels_last"),
                                               ("float32", "channels_first")])
@pytest.mark.parametrize("index", range(len(CONFIGS_3D)))
@pytest.mark.parametrize("spelling", ["function", "class"])
def test_conv3d_transpose_parity(oracle, index, dtype, data_format, spelling):
    """``tf.layers.conv3d_transpose`` and ``tf.compat.v1.layers.Conv3DTranspose`` in a TF1 graph:
    variable names, outputs and gradients. Every kernel axis covers its stride (TF's 3-D kernels
    cannot be trusted otherwise: see the README) and there are several filters (TF's oneDNN
    aborts with one)."""
    config = dict(CONFIGS_3D[index], data_format=data_format)
    args = ", ".join(f"{k}={v!r}" for k, v in config.items())
    call = (f"tf1.layers.conv3d_transpose(x, name='deconv', {args})" if spelling == "function" else
            f"tf1.layers.Conv3DTranspose({args}, name='deconv')(x)")
    source = ("def build(tf1, x):\n"
              "    with tf1.variable_scope('gen'):\n"
              f"        h = {call}\n"
              f"        return tf1.layers.conv3d_transpose(h, 2, 2, strides=2, data_format={data_format!r})\n")
    rng = np.random.default_rng(index)
    shape = (2, 3, 4, 2, 3) if data_format == "channels_last" else (2, 3, 3, 4, 2)
    x = rng.standard_normal(shape).astype(dtype)
    inner = tf1.layers.Conv3DTranspose(**config).compute_output_shape(shape)
    out = tf1.layers.Conv3DTranspose(2, 2, strides=2, data_format=data_format).compute_output_shape(inner)
    upstream = rng.standard_normal(out).astype(dtype)
    strides = config["strides"] if isinstance(config["strides"], tuple) else (config["strides"],)
    program, ref, (y, tensors) = run_both(oracle, source, {"x": x}, kernel_size=1, strides=1, upstream=upstream)
    assert _tf_names(program) == ["gen/deconv/kernel"] + (["gen/deconv/bias"] if config.get("use_bias", True)
                                                          else []) + ["gen/conv3d_transpose/kernel",
                                                                      "gen/conv3d_transpose/bias"]
    assert y.dtype == getattr(torch, dtype) and tuple(y.shape) == ref["output"].shape
    assert_close(y.detach().numpy(), ref["output"], dtype, "output")
    assert_close(tensors["x"].grad.numpy(), ref["grads"]["x"], dtype, "d_input")
    for name, param in program.named_parameters():
        assert_close(param.grad.numpy(), ref["grads"][name.replace(".", "/")], dtype, f"d_{name}")
    assert max(strides) <= 3


def test_conv3d_transpose_refuses_the_dilation_tensorflow_ignores():
    with pytest.raises(ValueError, match="ignores `dilation_rate`.*dilation_rate=\\(2, 2, 2\\)"):
        tf1.layers.Conv3DTranspose(2, 3, dilation_rate=2)
    assert "dilation_rate" not in tf1.layers.Conv3DTranspose(2, 3).get_config()


# The 2-D programs that use only the layers, spelled in 3-D, and one with the 3-D class.
PROGRAMS_3D = {
    name: source.replace("conv2d_transpose", "conv3d_transpose").replace("Conv2DTranspose", "Conv3DTranspose")
    for name, source in PROGRAMS.items() if "get_variable" not in source
}
PROGRAMS_3D["auto-reuse-with-the-class"] = """
    def build(tf1, x):
        with tf1.variable_scope("gen"):
            y = tf1.layers.conv3d_transpose(x, 4, 2, name="deconv1")
        with tf1.variable_scope("gen", reuse=tf1.AUTO_REUSE):
            return tf1.layers.Conv3DTranspose(4, 2, name="deconv1")(y)
"""


@pytest.mark.parametrize("name", list(PROGRAMS_3D))
def test_conv3d_names_scopes_and_reuse(oracle, name):
    x = np.random.default_rng(len(name)).standard_normal((2, 2, 3, 2, 4)).astype("float32")
    program, ref, result = run_both(oracle, PROGRAMS_3D[name], {"x": x}, kernel_size=1, strides=2)
    if program is None:
        return  # TF refused, and kcompat refused with the same message
    assert_close(result[0].detach().numpy(), ref["output"], "float32", "output")
    losses = [float(loss.detach()) for loss in tf1.losses.get_regularization_losses(program)]
    np.testing.assert_allclose(sorted(losses), sorted(ref["losses"]), rtol=1e-5)
