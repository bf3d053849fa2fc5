"""TensorFlow 1's API, as ``tf.compat.v1`` keeps it: ``tf = kcompat.compat.v1`` runs TF1 graph code.

Port TF1 graph code line by line inside a module's ``forward``::

    from kcompat.compat import v1 as tf

    class Generator(torch.nn.Module):
        def forward(self, z):
            with tf.variable_scope("generator"):
                x = tf.layers.dense(z, 4 * 4 * 64)
                x = tf.nn.relu(tf.layers.batch_normalization(tf.reshape(x, [-1, 4, 4, 64]), training=True))
                x = tf.layers.conv2d_transpose(x, 32, 5, strides=2, padding="same", name="deconv1")
                return tf.tanh(tf.layers.conv2d_transpose(x, 3, 5, strides=2, padding="same", name="deconv2"))

The variables (``generator/deconv1/kernel`` ...) are created on the first forward pass and
belong to the module (``state_dict()`` key ``generator.deconv1.kernel``). As with PyTorch's
lazy modules, run one forward pass before building the optimizer or loading a state dict.
Here: ``layers`` (``tf.layers``), ``nn``, ``image``, ``contrib.layers.batch_norm``, the array
and math ops (:mod:`.ops`), the initializers, ``variable_scope``/``get_variable``, ``losses``.
TF1 code that reads ``x.get_shape()`` needs one call first: ``enable_tensor_methods()``
(kcompat changes nothing in torch unless asked).
"""

from . import contrib, image, initializers, layers, losses, nn, ops  # noqa: F401 - tf.compat.v1.nn & co.
from .initializers import *  # noqa: F401,F403 - tf.compat.v1.zeros_initializer & co.
from .initializers import __all__ as _initializer_names
from .ops import *  # noqa: F401,F403 - tf.compat.v1.reshape & co.
from .ops import __all__ as _op_names
from .tensor_shape import Dimension, TensorShape, enable_tensor_methods
from .variable_scope import AUTO_REUSE, VariableScope, get_variable, get_variable_scope, variable_scope
from ... import errors

__all__ = ["AUTO_REUSE", "Dimension", "TensorShape", "VariableScope", "contrib", "enable_tensor_methods", "errors",
           "get_variable", "get_variable_scope", "image", "layers", "losses", "nn", "variable_scope",
           *_initializer_names, *_op_names]
