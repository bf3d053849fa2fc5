"""TF1's ``tf.layers`` around the transposed convolution against real TF1 graphs, run in the test.

Each case is one TF1 program, the same text run by TensorFlow (graph and session) and by kcompat
(a module's forward with ``tf1 = kcompat.compat.v1``), through :func:`kcompat.testing.tf1_parity.check_program`:
variable names and trainability, output, gradients for the input and every trainable variable,
the variables after the pass (BatchNormalization's moving statistics, as ``UPDATE_OPS`` leave them).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from kcompat.compat import v1 as tf1
from kcompat.testing.tf1_parity import Program, check_program, tf_names
from kcompat.testing.tolerance import assert_close

import tf_fixtures

DTYPES = ("float32", "float64")


def _args(config):
    return ", ".join(f"{k}={v!r}" for k, v in config.items())


def _x(shape, dtype, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _channels_first_source(op, config, rank):
    """What TF runs for a channels_first call: its CPU kernels take channels_last only."""
    to_last = [0, *range(2, rank + 2), 1]
    to_first = [0, rank + 1, *range(1, rank + 1)]
    return (f"def build(tf1, x):\n"
            f"    y = tf1.layers.{op}(tf1.transpose(x, {to_last}), {_args(dict(config, data_format='channels_last'))})\n"
            f"    return tf1.transpose(y, {to_first})\n")


# ------------------------------------------------------------------ convolutions and dense
def _conv_cases():
    cases = []
    geometry = [  # kernel, strides, dilation, padding: every case TF's 'same' arithmetic distinguishes
        (3, 1, 1, "same"), (3, 2, 1, "same"), (4, 2, 1, "same"), (1, 3, 1, "same"), (2, 3, 1, "valid"),
        (3, 2, 1, "valid"), (3, 1, 2, "same"), (3, 1, 2, "valid"), (5, 2, 1, "SAME"),
    ]
    for rank, (i, (k, s, d, padding)) in itertools.product((1, 2, 3), enumerate(geometry)):
        if rank == 3 and i % 2:
            continue
        spatial = [7, 8, 5][:rank] if rank < 3 else [5, 6, 4]
        dtype = DTYPES[(i + rank) % 2]
        fmt = "channels_first" if i % 3 == 1 else "channels_last"
        config = {"filters": 4, "kernel_size": k, "strides": s, "dilation_rate": d, "padding": padding,
                  "use_bias": i % 4 != 3, "activation": "relu" if i % 2 else None, "name": "conv"}
        if fmt == "channels_first":
            config["data_format"] = fmt
        cid = f"conv{rank}d-k{k}-s{s}-d{d}-{padding}-{fmt[9:]}-{dtype}"
        cases.append(pytest.param(rank, config, spatial, dtype, id=cid))
    return cases


@pytest.mark.parametrize("rank,config,spatial,dtype", _conv_cases())
def test_conv(oracle, rank, config, spatial, dtype):
    """``tf.layers.conv1d/2d/3d``: TF's asymmetric ``same`` padding at every stride, dilation, both formats."""
    fmt = config.get("data_format", "channels_last")
    shape = (2, *spatial, 3) if fmt == "channels_last" else (2, 3, *spatial)
    source = f"def build(tf1, x):\n    return tf1.layers.conv{rank}d(x, {_args(config)})\n"
    tf_source = _channels_first_source(f"conv{rank}d", config, rank) if fmt == "channels_first" else None
    program, _, y = check_program(oracle, source, {"x": _x(shape, dtype)}, tf_source=tf_source,
                                  kernel_size=config["kernel_size"], strides=config["strides"])
    assert tf_names(program) == ["conv/kernel", "conv/bias"][: 2 if config["use_bias"] else 1]
    assert y.dtype == getattr(torch, dtype), "TF1 layers take the dtype of their input"


@pytest.mark.parametrize("rank", (1, 2))
@pytest.mark.parametrize("padding,strides,depth_multiplier", [("same", 2, 1), ("valid", 1, 2), ("same", 1, 3)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_separable_conv(oracle, rank, padding, strides, depth_multiplier, dtype):
    config = {"filters": 5, "kernel_size": 3, "strides": strides, "padding": padding,
              "depth_multiplier": depth_multiplier, "name": "sep"}
    source = f"def build(tf1, x):\n    return tf1.layers.separable_conv{rank}d(x, {_args(config)})\n"
    shape = (2, *[7, 6][:rank], 3)
    program, _, _ = check_program(oracle, source, {"x": _x(shape, dtype)}, kernel_size=3, strides=strides)
    assert tf_names(program) == ["sep/depthwise_kernel", "sep/pointwise_kernel", "sep/bias"]


@pytest.mark.parametrize("shape", [(4, 6), (2, 3, 6)], ids=["rank2", "rank3"])
@pytest.mark.parametrize("use_bias,activation", [(True, None), (False, "tanh"), (True, "relu")])
@pytest.mark.parametrize("dtype", DTYPES)
def test_dense(oracle, shape, use_bias, activation, dtype):
    """``tf.layers.dense``: ``kernel`` ``(in, units)`` on the last axis of any rank."""
    args = _args({"use_bias": use_bias, "activation": activation})
    source = f"def build(tf1, x):\n    return tf1.layers.dense(x, 5, {args})\n"
    program, _, y = check_program(oracle, source, {"x": _x(shape, dtype)})
    assert tf_names(program) == ["dense/kernel", "dense/bias"][: 2 if use_bias else 1]
    assert tuple(program.dense.kernel.shape) == (6, 5), "TF's layout"


# ------------------------------------------------------------------ batch normalization
def _bn_cases():
    cases = []
    for training, (shape, axis), fused, dtype in itertools.product(
            ("True", "False", "tensor"), [((4, 5, 6, 3), -1), ((4, 3, 5, 6), 1), ((6, 3), -1), ((4, 5, 3), -1),
                                          ((3, 4, 5, 6, 2), -1)],
            (None, False), DTYPES):
        if fused is False and len(shape) not in (4, 5):
            continue
        if axis == 1 and (fused is None and dtype == "float32"):
            continue  # TF's fused CPU kernel refuses NCHW: below, through a transpose
        cases.append(pytest.param(training, shape, axis, fused, dtype,
                                  id=f"training={training}-{'x'.join(map(str, shape))}-axis{axis}-fused={fused}-{dtype}"))
    return cases


@pytest.mark.parametrize("training,shape,axis,fused,dtype", _bn_cases())
def test_batch_normalization(oracle, training, shape, axis, fused, dtype):
    """``tf.layers.batch_normalization``: inference with the moving statistics; training with the
    batch's and the moving statistics updated as TF1's ``UPDATE_OPS`` update them (the fused
    kernel with the unbiased variance, the others with the biased)."""
    inputs = {"x": _x(shape, dtype)}
    flag = training
    if training == "tensor":
        inputs["is_training"] = np.array(True)
        flag = "is_training"
    args = _args({"axis": axis, "momentum": 0.9, "epsilon": 1e-3, "fused": fused, "name": "bn"})
    params = ", ".join(inputs)
    source = f"def build(tf1, {params}):\n    return tf1.layers.batch_normalization(x, training={flag}, {args})\n"
    program, ref, _ = check_program(oracle, source, inputs)
    assert tf_names(program) == ["bn/gamma", "bn/beta", "bn/moving_mean", "bn/moving_variance"]
    assert [n for n, p in program.named_parameters() if p.requires_grad] == ["bn.gamma", "bn.beta"]
    moved = not np.array_equal(ref["after"]["bn/moving_mean"], ref["variables"]["bn/moving_mean"])
    assert moved == (training != "False")


@pytest.mark.parametrize("dtype", DTYPES)
def test_batch_normalization_channels_first_fused(oracle, dtype):
    """NCHW with the fused kernel: TF's CPU kernel refuses it, so TF runs the NHWC equivalent."""
    source = ("def build(tf1, x):\n"
              "    return tf1.layers.batch_normalization(x, axis=1, training=True, name='bn')\n")
    tf_source = ("def build(tf1, x):\n"
                 "    y = tf1.layers.batch_normalization(tf1.transpose(x, [0, 2, 3, 1]), axis=-1, training=True, "
                 "name='bn')\n"
                 "    return tf1.transpose(y, [0, 3, 1, 2])\n")
    check_program(oracle, source, {"x": _x((4, 3, 5, 6), dtype)}, tf_source=tf_source)


@pytest.mark.parametrize("center,scale", [(False, True), (True, False), (False, False)])
def test_batch_normalization_without_affine(oracle, center, scale):
    source = (f"def build(tf1, x):\n"
              f"    return tf1.layers.batch_normalization(x, center={center}, scale={scale}, training=True)\n")
    program, _, _ = check_program(oracle, source, {"x": _x((4, 5, 5, 3), "float32")})
    names = (["batch_normalization/gamma"] if scale else []) + (["batch_normalization/beta"] if center else [])
    assert tf_names(program) == names + ["batch_normalization/moving_mean", "batch_normalization/moving_variance"]


def test_batch_normalization_in_training_steps_updates_like_tf1():
    """Three training passes move the moving statistics three times; an inference pass uses them."""
    program = Program("def build(tf1, x, training):\n"
                      "    return tf1.layers.batch_normalization(x, momentum=0.5, training=training)\n")
    x = torch.randn(8, 4, 4, 3) * 3 + 2
    for _ in range(3):
        program(x=x, training=True)
    mean = program.batch_normalization.moving_mean
    assert torch.allclose(mean, x.mean((0, 1, 2)) * 0.875, atol=1e-5)
    y = program(x=x, training=False)
    assert torch.allclose(mean, x.mean((0, 1, 2)) * 0.875, atol=1e-5), "inference leaves them"
    expected = (x - mean) / torch.sqrt(program.batch_normalization.moving_variance + 1e-3)
    assert torch.allclose(y, expected, atol=1e-5)


# ------------------------------------------------------------------ pooling, flatten, dropout
def _pool_cases():
    cases = []
    for rank, kind, (pool, strides, padding), dtype in itertools.product(
            (1, 2, 3), ("max", "average"), [(2, 2, "valid"), (3, 2, "same"), (2, 2, "same"), (3, 1, "same"),
                                            (2, 3, "valid")], DTYPES):
        if rank == 3 and dtype == "float64":
            continue  # TF's 3-D pooling kernels are float32 only
        cases.append(pytest.param(rank, kind, pool, strides, padding, dtype,
                                  id=f"{kind}{rank}d-p{pool}-s{strides}-{padding}-{dtype}"))
    return cases


@pytest.mark.parametrize("rank,kind,pool,strides,padding,dtype", _pool_cases())
def test_pooling(oracle, rank, kind, pool, strides, padding, dtype):
    """``tf.layers.max_pooling*d``/``average_pooling*d`` on odd sizes: TF's ``same`` (padded cells
    never win a max; averages count the real cells only)."""
    source = (f"def build(tf1, x):\n"
              f"    return tf1.layers.{kind}_pooling{rank}d(x, {pool}, {strides}, padding={padding!r})\n")
    shape = (2, *[7, 8, 5][:rank], 3)
    check_program(oracle, source, {"x": _x(shape, dtype)})


@pytest.mark.parametrize("data_format", ("channels_last", "channels_first"))
def test_flatten(oracle, data_format):
    source = (f"def build(tf1, x):\n"
              f"    return tf1.layers.dense(tf1.layers.flatten(x, data_format={data_format!r}), 3, name='fc')\n")
    check_program(oracle, source, {"x": _x((2, 3, 4, 5), "float64")})


def test_dropout_is_identity_unless_training_and_drops_at_its_rate_in_training(oracle):
    source = "def build(tf1, x):\n    return tf1.layers.dropout(x, 0.4) * 2.0\n"
    check_program(oracle, source, {"x": _x((3, 5), "float32")})
    x = torch.ones(200, 500)
    y = tf1.layers.dropout(x, rate=0.4, training=True)
    kept = (y != 0).float().mean().item()
    assert abs(kept - 0.6) < 0.01
    assert torch.allclose(y[y != 0], torch.tensor(1 / 0.6))
    assert torch.equal(tf1.layers.Dropout(0.4)(x), x), "the class's training defaults to False too"
    assert tf1.layers.dropout(x, 0.4, training=torch.tensor(True)).eq(0).any()


# ------------------------------------------------------------------ a generator, names and scopes
GENERATOR = """
    def build(tf1, z):
        with tf1.variable_scope("generator"):
            x = tf1.layers.dense(z, 4 * 4 * 8)
            x = tf1.reshape(x, [-1, 4, 4, 8])
            x = tf1.nn.relu(tf1.layers.batch_normalization(x, training=True))
            x = tf1.layers.conv2d_transpose(x, 6, 5, strides=2, padding="same")
            x = tf1.layers.batch_normalization(x, training=True)
            x = tf1.nn.leaky_relu(x)
            x = tf1.layers.conv2d(x, 6, 3, padding="same", name="refine")
            x = tf1.layers.conv2d(x, 6, 3, strides=2, padding="same")
            x = tf1.layers.max_pooling2d(x, 2, 2, padding="same")
            x = tf1.layers.conv2d_transpose(x, 3, 4, strides=2, padding="same")
            return tf1.tanh(x)
"""


@pytest.mark.parametrize("dtype", DTYPES)
def test_tf1_generator_with_auto_names(oracle, dtype):
    """A TF1 DCGAN-style generator: auto names per layer type, scopes, BN training updates, end to end."""
    program, _, _ = check_program(oracle, GENERATOR, {"z": _x((3, 10), dtype)}, kernel_size=3, strides=2)
    assert tf_names(program) == [
        "generator/dense/kernel", "generator/dense/bias",
        "generator/batch_normalization/gamma", "generator/batch_normalization/beta",
        "generator/batch_normalization/moving_mean", "generator/batch_normalization/moving_variance",
        "generator/conv2d_transpose/kernel", "generator/conv2d_transpose/bias",
        "generator/batch_normalization_1/gamma", "generator/batch_normalization_1/beta",
        "generator/batch_normalization_1/moving_mean", "generator/batch_normalization_1/moving_variance",
        "generator/refine/kernel", "generator/refine/bias", "generator/conv2d/kernel", "generator/conv2d/bias",
        "generator/conv2d_transpose_1/kernel", "generator/conv2d_transpose_1/bias",
    ]


def test_reuse_shares_dense_and_batch_norm_variables(oracle):
    """(In inference: two training calls on shared moving statistics race in TF's graph.)"""
    source = """
        def build(tf1, x):
            with tf1.variable_scope("d"):
                a = tf1.layers.batch_normalization(tf1.layers.dense(x, 4, name="fc"), name="bn")
            with tf1.variable_scope("d", reuse=True):
                b = tf1.layers.batch_normalization(tf1.layers.dense(x * 2.0, 4, name="fc"), name="bn")
            return a + b
    """
    program, _, _ = check_program(oracle, source, {"x": _x((5, 3), "float64")})
    assert tf_names(program) == ["d/fc/kernel", "d/fc/bias", "d/bn/gamma", "d/bn/beta", "d/bn/moving_mean",
                                 "d/bn/moving_variance"]


# ------------------------------------------------------------------ classes and configs
CLASSES = [
    ("Dense", {"units": 3}, (2, 4)),
    ("Conv1D", {"filters": 3, "kernel_size": 2, "strides": 2, "padding": "same"}, (2, 7, 4)),
    ("Conv2D", {"filters": 3, "kernel_size": 3, "dilation_rate": 2}, (2, 7, 7, 4)),
    ("Conv3D", {"filters": 3, "kernel_size": 2}, (2, 4, 4, 4, 2)),
    ("SeparableConv2D", {"filters": 3, "kernel_size": 3, "depth_multiplier": 2}, (2, 6, 6, 2)),
    ("BatchNormalization", {"momentum": 0.9, "fused": False}, (2, 4)),
    ("Dropout", {"rate": 0.25}, (2, 4)),
    ("Flatten", {}, (2, 3, 4)),
    ("MaxPooling2D", {"pool_size": 2, "strides": 2, "padding": "same"}, (2, 5, 5, 3)),
    ("AveragePooling1D", {"pool_size": 3, "strides": 1}, (2, 5, 3)),
]


@pytest.mark.parametrize("class_name,config,input_shape", CLASSES, ids=[c[0] for c in CLASSES])
def test_class_config_and_weights_equal_tf1s(oracle, class_name, config, input_shape):
    """``get_config()`` before and after the first call as tf_keras's TF1 class gives it; ``from_config`` round trip."""
    config = dict(config, name="layer")
    before, after, names = oracle.run(tf_fixtures.tf1_class_config, class_name=class_name, config=config,
                                      input_shape=input_shape)
    cls = getattr(tf1.layers, class_name)
    layer = cls(**config)
    assert layer.get_config() == before
    layer(torch.zeros(input_shape))
    assert layer.get_config() == after
    assert [name.rsplit("/", 1)[-1] for name in names] == [k.rsplit(".", 1)[-1] for k in layer.state_dict()]
    assert cls.from_config(after).get_config() == after


def test_pooling_requires_strides_as_tf1_does():
    with pytest.raises(TypeError, match="strides"):
        tf1.layers.MaxPooling2D(2)
    with pytest.raises(TypeError, match="strides"):
        tf1.layers.max_pooling2d(torch.zeros(1, 4, 4, 1), 2)


def test_weightless_layers_run_outside_a_forward():
    """TF1's pooling/flatten/dropout calls have no variables: they run anywhere, as the ops do."""
    x = torch.arange(16.0).reshape(1, 4, 4, 1)
    assert tf1.layers.max_pooling2d(x, 2, 2).flatten().tolist() == [5.0, 7.0, 13.0, 15.0]
    assert tuple(tf1.layers.flatten(x).shape) == (1, 16)
    with pytest.raises(RuntimeError, match="must run inside the `forward`"):
        tf1.layers.dense(x, 2)


@pytest.mark.parametrize("fmt", ("safetensors", "pt"))
def test_tf1_saver_checkpoint_of_the_generator_loads_strictly(oracle, tmp_path, fmt):
    """The generator trained one Adam step and saved with ``tf.train.Saver``: converted, it loads
    with ``strict=True`` (every variable, moving statistics included, nothing else) and computes TF's output."""
    import textwrap

    import safetensors.torch

    from kcompat.convert import convert

    z = _x((3, 10), "float32")
    ref = oracle.run(tf_fixtures.save_tf1_checkpoint, source=textwrap.dedent(GENERATOR), directory=str(tmp_path), x=z)
    output = str(tmp_path / f"g.{fmt}")
    summary = convert(ref["prefix"], output)
    assert summary["skipped"]["optimizer state"] > 0
    program = Program(GENERATOR)
    program(z=torch.tensor(z))
    state = torch.load(output, weights_only=True) if fmt == "pt" else safetensors.torch.load_file(output)
    program.load_state_dict(state)  # strict
    assert [n.replace(".", "/") for n in program.state_dict()] == [n for n in ref["variables"] if n in {
        k.replace(".", "/") for k in program.state_dict()}]
    assert_close(program(z=torch.tensor(z)).detach().numpy(), ref["output"], "float32")


# carpedm20/DCGAN-tensorflow's generator (ops.py's linear, deconv2d and batch_norm), as written
# there: get_variable, get_shape(), tf.nn.conv2d_transpose with an output shape, contrib's batch norm.
CARPEDM20 = """
def linear(tf1, input_, output_size, scope=None, stddev=0.02, bias_start=0.0):
    shape = input_.get_shape().as_list()
    with tf1.variable_scope(scope or "Linear"):
        matrix = tf1.get_variable("Matrix", [shape[1], output_size], tf1.float32,
                                  tf1.random_normal_initializer(stddev=stddev))
        bias = tf1.get_variable("bias", [output_size], initializer=tf1.constant_initializer(bias_start))
        return tf1.matmul(input_, matrix) + bias

def deconv2d(tf1, input_, output_shape, k_h=5, k_w=5, d_h=2, d_w=2, stddev=0.02, name="deconv2d"):
    with tf1.variable_scope(name):
        w = tf1.get_variable("w", [k_h, k_w, output_shape[-1], input_.get_shape()[-1]],
                             initializer=tf1.random_normal_initializer(stddev=stddev))
        deconv = tf1.nn.conv2d_transpose(input_, w, output_shape=output_shape, strides=[1, d_h, d_w, 1])
        biases = tf1.get_variable("biases", [output_shape[-1]], initializer=tf1.constant_initializer(0.0))
        return tf1.reshape(tf1.nn.bias_add(deconv, biases), deconv.get_shape())

def build(tf1, z):
    batch_size = 3
    with tf1.variable_scope("generator"):
        h0 = tf1.reshape(linear(tf1, z, 32 * 4 * 4, "g_h0_lin"), [-1, 4, 4, 32])
        h0 = tf1.nn.relu(batch_norm(tf1, h0, "g_bn0"))
        h1 = deconv2d(tf1, h0, [batch_size, 8, 8, 16], name="g_h1")
        h1 = tf1.nn.relu(batch_norm(tf1, h1, "g_bn1"))
        h2 = deconv2d(tf1, h1, [batch_size, 16, 16, 3], name="g_h2")
        return tf1.nn.tanh(h2)
"""


def test_carpedm20_dcgan_generator_runs_unchanged(oracle):
    """The generator's text runs in TF1 and in kcompat (``enable_tensor_methods()`` for ``get_shape``);
    only ``batch_norm`` differs: contrib's call here, its transcription in TF ops there."""
    assert not hasattr(torch.Tensor, "get_shape"), "importing kcompat changes nothing in torch"
    tf1.enable_tensor_methods()
    ours = ("def batch_norm(tf1, x, name):\n"
            "    return tf1.contrib.layers.batch_norm(x, decay=0.9, updates_collections=None, epsilon=1e-5,\n"
            "                                         scale=True, is_training=True, scope=name)\n")
    theirs = tf_fixtures.CONTRIB_BATCH_NORM + (
        "def batch_norm(tf1, x, name):\n"
        "    return contrib_batch_norm(tf1, x, 0.9, True, 1e-5, True, scope=name)\n")
    try:
        program, _, _ = check_program(oracle, ours + CARPEDM20, {"z": _x((3, 10), "float32")},
                                      tf_source=theirs + CARPEDM20, kernel_size=5, strides=2)
    finally:
        del torch.Tensor.get_shape  # the rest of the suite runs on an untouched torch
    assert tf_names(program) == [
        "generator/g_h0_lin/Matrix", "generator/g_h0_lin/bias",
        "generator/g_bn0/beta", "generator/g_bn0/gamma", "generator/g_bn0/moving_mean",
        "generator/g_bn0/moving_variance", "generator/g_h1/w", "generator/g_h1/biases",
        "generator/g_bn1/beta", "generator/g_bn1/gamma", "generator/g_bn1/moving_mean",
        "generator/g_bn1/moving_variance", "generator/g_h2/w", "generator/g_h2/biases"]
