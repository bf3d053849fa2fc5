"""TF1's ``tf.nn``, ``tf.image`` and array ops against real TF1 graphs, run in the test.

Each program is one line of TF1 code run by TensorFlow and by kcompat (``tf1 = kcompat.compat.v1``)
through :func:`kcompat.testing.tf1_parity.check_program`: output and input gradients, float32 and
float64, on values with ties and zeros where TF's gradient rule is what a port gets wrong.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kcompat.compat import v1 as tf1
from kcompat.testing.tf1_parity import Program, check_program
from kcompat.testing.tolerance import rtol_for

import tf_fixtures

DTYPES = ("float32", "float64")

ELEMENTWISE = {  # name -> expression in x (values include exact zeros, ties and sixes)
    "relu": "tf1.nn.relu(x)",
    "relu6": "tf1.nn.relu6(x * 3.0)",
    "leaky_relu-default": "tf1.nn.leaky_relu(x)",
    "leaky_relu-alpha": "tf1.nn.leaky_relu(x, alpha=0.3)",
    "hand-leaky-maximum": "tf1.maximum(x, 0.2 * x)",
    "minimum-ties": "tf1.minimum(x, tf1.zeros_like(x))",
    "elu": "tf1.nn.elu(x)",
    "selu": "tf1.nn.selu(x)",
    "softplus": "tf1.nn.softplus(x)",
    "tanh": "tf1.tanh(x) + tf1.nn.tanh(x)",
    "sigmoid": "tf1.sigmoid(x) * tf1.nn.sigmoid(x)",
    "softmax": "tf1.nn.softmax(x)",
    "softmax-axis": "tf1.nn.softmax(x, axis=1)",
    "log_softmax": "tf1.nn.log_softmax(x)",
    "l2_normalize": "tf1.nn.l2_normalize(x, axis=-1)",
    "l2_loss": "tf1.nn.l2_loss(x) * 0.1",
    "sigmoid_xent": "tf1.nn.sigmoid_cross_entropy_with_logits(labels=tf1.ones_like(x) * 0.3, logits=x)",
    "softmax_xent": "tf1.nn.softmax_cross_entropy_with_logits(labels=tf1.nn.softmax(tf1.ones_like(x)), logits=x)",
    "reduce_mean": "tf1.reduce_mean(x, axis=[1, 2], keepdims=True) + tf1.reduce_mean(x)",
    "reduce_sum-keep_dims": "tf1.reduce_sum(x, reduction_indices=1, keep_dims=True)",
    "reduce_max": "tf1.reduce_max(x, axis=-1)",
    "square-sqrt": "tf1.sqrt(tf1.square(x) + 1.0) * tf1.rsqrt(tf1.abs(x) + 1.0)",
    "exp-log": "tf1.log(tf1.exp(x) + 1.0)",
    "clip": "tf1.clip_by_value(x, -0.5, 0.5)",
    "reshape-transpose": "tf1.transpose(tf1.reshape(x, [-1, 6, 4]), [0, 2, 1])",
    "transpose-default": "tf1.transpose(x)",
    "concat-split": "tf1.concat(tf1.split(x, 2, axis=3)[::-1] + [x], 3)",
    "stack-unstack": "tf1.stack(tf1.unstack(x, axis=1)[::-1], axis=2)",
    "expand-squeeze-tile": "tf1.tile(tf1.expand_dims(tf1.squeeze(x[:, :1], [1]), 1), [1, 2, 1, 1])",
    "pad-constant": "tf1.pad(x, [[0, 0], [1, 2], [0, 1], [0, 0]])",
    "pad-reflect": "tf1.pad(x, [[0, 0], [1, 2], [2, 1], [0, 0]], mode='REFLECT')",
    "pad-symmetric": "tf1.pad(x, [[0, 0], [1, 2], [2, 1], [0, 0]], mode='SYMMETRIC')",
    "add_n-multiply": "tf1.add_n([x, tf1.multiply(x, 2.0), tf1.subtract(x, 1.0), tf1.divide(x, 4.0)])",
    "shape": "tf1.reshape(x, tf1.stack([tf1.shape(x)[0], -1]))",
    "moments": "tf1.concat(list(tf1.nn.moments(x, axes=[0, 1, 2])), 0)",
    "moments-keep_dims": "sum(tf1.nn.moments(x, [1, 2], keep_dims=True)) * x",
    "batch_normalization": ("tf1.nn.batch_normalization(x, *tf1.nn.moments(x, [0, 1, 2]), "
                            "offset=tf1.ones([4], x.dtype), scale=tf1.ones([4], x.dtype) * 2.0, "
                            "variance_epsilon=1e-3)"),
    "batch_normalization-no-affine": "tf1.nn.batch_normalization(x, 0.5, 2.0, None, None, 1e-5)",
    "depth_to_space": "tf1.nn.depth_to_space(x, 2)",
    "space_to_depth": "tf1.nn.space_to_depth(x, 2)",
    "bias_add": "tf1.nn.bias_add(x, tf1.constant([1.0, 2.0, 3.0, 4.0], x.dtype))",
    "matmul": "tf1.matmul(tf1.reshape(x, [2, 96]), tf1.reshape(x, [2, 96]), transpose_b=True)",
    "matmul-transpose_a": "tf1.matmul(tf1.reshape(x, [-1, 4]), tf1.reshape(x, [-1, 4]), transpose_a=True)",
    "cast": "tf1.cast(tf1.cast(x * 4.0, tf1.int32), x.dtype)",
}


def _x(dtype, shape=(2, 4, 6, 4)):
    """Values with exact zeros, ties between neighbours and 2.0 (relu6's edge at 3x)."""
    rng = np.random.default_rng(7)
    x = np.round(rng.standard_normal(shape) * 4) / 4
    x.flat[::5] = 0.0
    x.flat[1::7] = 2.0
    return x.astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(ELEMENTWISE))
def test_op(oracle, name, dtype):
    source = f"def build(tf1, x):\n    return {ELEMENTWISE[name]}\n"
    check_program(oracle, source, {"x": _x(dtype)}, upstream=None if name == "cast" else True)


CONV_POOL = {
    "conv2d-same-s2": "tf1.nn.conv2d(x, tf1.get_variable('w', [3, 3, 4, 5], x.dtype), [1, 2, 2, 1], 'SAME')",
    "conv2d-same-k4-s2": "tf1.nn.conv2d(x, tf1.get_variable('w', [4, 4, 4, 5], x.dtype), strides=2, padding='SAME')",
    "conv2d-valid-s3": ("tf1.nn.conv2d(x, filter=tf1.get_variable('w', [2, 2, 4, 5], x.dtype), strides=[3, 3], "
                        "padding='VALID')"),
    "conv2d-dilated": ("tf1.nn.conv2d(x, tf1.get_variable('w', [3, 3, 4, 5], x.dtype), 1, 'SAME', "
                       "dilations=[1, 2, 2, 1])"),
    "conv2d-explicit": ("tf1.nn.conv2d(x, tf1.get_variable('w', [3, 3, 4, 2], x.dtype), 1, "
                        "[[0, 0], [1, 0], [2, 1], [0, 0]])"),
    "conv1d": "tf1.nn.conv1d(tf1.reshape(x, [2, 24, 4]), tf1.get_variable('w', [5, 4, 3], x.dtype), 2, 'SAME')",
    "conv2d_transpose-batch-from-shape": ("tf1.nn.conv2d_transpose(x, tf1.get_variable('w', [5, 5, 3, 4], x.dtype), "
                                          "[tf1.shape(x)[0], 8, 12, 3], [1, 2, 2, 1])"),
    "max_pool-same": "tf1.nn.max_pool(x, [1, 3, 3, 1], [1, 2, 2, 1], 'SAME')",
    "max_pool-valid": "tf1.nn.max_pool(x, 2, 2, 'VALID')",
    "avg_pool-same": "tf1.nn.avg_pool(x, ksize=[1, 3, 3, 1], strides=[1, 2, 2, 1], padding='SAME')",
    "avg_pool-same-k2": "tf1.nn.avg_pool(x, 2, 1, 'SAME')",
    "resize_bilinear": "tf1.image.resize_bilinear(x, [7, 11])",
    "resize_bilinear-down": "tf1.image.resize_bilinear(x, [3, 4])",
    "resize_bilinear-align": "tf1.image.resize_bilinear(x, [7, 11], align_corners=True)",
    "resize_bilinear-half": "tf1.image.resize_bilinear(x, [9, 5], half_pixel_centers=True)",
    "resize_nearest": "tf1.image.resize_nearest_neighbor(x, [8, 12])",
    "resize_nearest-odd": "tf1.image.resize_nearest_neighbor(x, [7, 9])",
    "resize_nearest-align": "tf1.image.resize_nearest_neighbor(x, [7, 9], align_corners=True)",
    "resize_nearest-half": "tf1.image.resize_nearest_neighbor(x, [7, 9], half_pixel_centers=True)",
    "resize_images": "tf1.image.resize_images(x, [8, 12])",
    "resize_images-nearest": "tf1.image.resize_images(x, (9, 5), method=tf1.image.ResizeMethod.NEAREST_NEIGHBOR)",
    "resize_images-same-size": "tf1.image.resize_images(x, [4, 6])",
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(CONV_POOL))
def test_conv_pool_resize(oracle, name, dtype):
    """TF's ``SAME`` (the odd row after; averages over real cells), explicit paddings, TF1's resize coordinates."""
    if name == "conv2d-dilated" and dtype == "float64":
        pytest.skip("TF's CPU kernels have no float64 dilated convolution (InvalidArgumentError)")
    source = f"def build(tf1, x):\n    return {CONV_POOL[name]}\n"
    x = np.random.default_rng(3).standard_normal((2, 4, 6, 4)).astype(dtype)
    # TF's bilinear kernels compute in float32 whatever the input (the output is float32; the input
    # gradient's terms are float32 products): judged at float32's tolerance.
    rtol = rtol_for("float32") if "bilinear" in name or name == "resize_images" else None
    check_program(oracle, source, {"x": x}, kernel_size=2, strides=2, rtol=rtol)


def test_resize_bilinear_returns_float32_and_nearest_keeps_the_dtype():
    x = torch.zeros(1, 2, 2, 1, dtype=torch.float64)
    assert tf1.image.resize_bilinear(x, [4, 4]).dtype == torch.float32
    assert tf1.image.resize_nearest_neighbor(x, [4, 4]).dtype == torch.float64
    with pytest.raises(ValueError, match="align_corners must be False"):
        tf1.image.resize_bilinear(x, [4, 4], align_corners=True, half_pixel_centers=True)


def test_dropout_always_drops_at_one_minus_keep_prob():
    x = torch.ones(400, 500)
    y = tf1.nn.dropout(x, keep_prob=0.8)
    assert abs((y != 0).float().mean().item() - 0.8) < 0.01
    assert torch.allclose(y[y != 0], torch.tensor(1.25))
    assert torch.equal(tf1.nn.dropout(x, rate=0.5, seed=3), tf1.nn.dropout(x, rate=0.5, seed=3))
    with pytest.raises(ValueError, match="Cannot specify both 'keep_prob' and 'rate'"):
        tf1.nn.dropout(x, keep_prob=0.5, rate=0.5)


def test_graph_bookkeeping_is_harmless():
    """``UPDATE_OPS`` and ``control_dependencies`` as TF1 train steps use them: nothing to run."""
    with tf1.control_dependencies(tf1.get_collection(tf1.GraphKeys.UPDATE_OPS)):
        with tf1.name_scope("loss"):
            assert tf1.identity(torch.ones(2)).sum() == 2


# ------------------------------------------------------------------ contrib.layers.batch_norm
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,fused", [((4, 5, 6, 3), None), ((4, 5, 6, 3), False), ((8, 3), None)],
                         ids=["rank4-fused", "rank4-not-fused", "rank2-fused"])
@pytest.mark.parametrize("training", (True, False))
def test_contrib_batch_norm(oracle, dtype, shape, fused, training):
    """carpedm20's DCGAN call (decay 0.9, epsilon 1e-5, scale, updates_collections=None) and the defaults."""
    source = f"""
        def build(tf1, x):
            return tf1.contrib.layers.batch_norm(x, decay=0.9, updates_collections=None, epsilon=1e-5, scale=True,
                                                 is_training={training}, fused={fused})
    """
    tf_source = tf_fixtures.CONTRIB_BATCH_NORM + (
        "def build(tf1, x):\n"
        f"    return contrib_batch_norm(tf1, x, 0.9, True, 1e-5, {training}, unbiased={fused is not False})\n")
    program, _, _ = check_program(oracle, source, {"x": np.random.default_rng(1).standard_normal(shape).astype(dtype)},
                                  tf_source=tf_source)
    assert [n for n, _ in program.named_parameters()] == [
        "BatchNorm.beta", "BatchNorm.gamma", "BatchNorm.moving_mean", "BatchNorm.moving_variance"]


def test_contrib_batch_norm_defaults_and_scope():
    """decay 0.999, no gamma (scale=False), is_training=True; ``scope`` names the variables exactly."""
    program = Program("def build(tf1, x):\n"
                      "    y = tf1.contrib.layers.batch_norm(x, scope='g_bn0')\n"
                      "    return tf1.contrib.layers.batch_norm(y, activation_fn=tf1.nn.relu)\n")
    x = torch.randn(6, 3) + 1.0
    y = program(x=x)
    assert [n for n, _ in program.named_parameters()] == [
        "g_bn0.beta", "g_bn0.moving_mean", "g_bn0.moving_variance",
        "BatchNorm.beta", "BatchNorm.moving_mean", "BatchNorm.moving_variance"]
    assert torch.allclose(program.g_bn0.moving_mean, x.mean(0) * np.float32(0.001), atol=1e-6)
    assert (y >= 0).all()


@pytest.mark.parametrize("uniform", (True, False))
def test_contrib_xavier_and_variance_scaling_draw_contribs_distributions(uniform):
    """Uniform in ``+-sqrt(3 f / n)``; else truncated at two stddevs of ``sqrt(1.3 f / n)`` (not Keras's 0.8796)."""
    shape = (3, 3, 64, 128)
    n_avg, n_in = (9 * 64 + 9 * 128) / 2, 9 * 64
    for init, factor, n in ((tf1.contrib.layers.xavier_initializer(uniform, seed=1), 1.0, n_avg),
                            (tf1.contrib.layers.variance_scaling_initializer(uniform=uniform, seed=1), 2.0, n_in)):
        w = init(shape)
        assert w.shape == shape and w.dtype == torch.float32
        if uniform:
            limit = np.sqrt(3 * factor / n)
            assert w.abs().max() <= limit and w.abs().max() > 0.99 * limit
            assert abs(w.std().item() / (limit / np.sqrt(3)) - 1) < 0.01
        else:
            stddev = np.sqrt(1.3 * factor / n)
            assert w.abs().max() <= 2 * stddev and w.abs().max() > 0.99 * 2 * stddev
            assert abs(w.std().item() / (stddev * 0.87962566) - 1) < 0.01


def test_contrib_regularizers_are_tfs(oracle):
    """``l2_regularizer`` is ``scale * tf.nn.l2_loss`` (Keras's l2 has no ``/ 2``), on a dense kernel."""
    program = Program("def build(tf1, x):\n"
                      "    return tf1.layers.dense(x, 3, kernel_regularizer=tf1.contrib.layers.l2_regularizer(0.1))\n")
    program(x=torch.ones(2, 4))
    kernel = program.dense.kernel
    (penalty,) = tf1.losses.get_regularization_losses(program)
    assert torch.allclose(penalty, 0.1 * tf1.nn.l2_loss(kernel))
    assert torch.allclose(tf1.contrib.layers.l1_regularizer(0.5)(kernel), 0.5 * kernel.abs().sum())
    assert tf1.contrib.layers.l2_regularizer(0.0)(kernel) is None
    with pytest.raises(ValueError, match="Setting a scale less than 0 on a regularizer: -1"):
        tf1.contrib.layers.l2_regularizer(-1.0)
