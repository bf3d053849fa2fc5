"""TensorFlow 1's API for the transposed convolution, as ``tf.compat.v1`` keeps it.

Port TF1 graph code line by line inside a module's ``forward``::

    from kcompat.compat import v1 as tf1

    class Generator(torch.nn.Module):
        def forward(self, z):
            with tf1.variable_scope("generator"):
                x = tf1.layers.conv2d_transpose(z, 64, 5, strides=2, padding="same", name="deconv1")
                return tf1.layers.conv2d_transpose(x, 3, 5, strides=2, padding="same", name="deconv2")

The variables (``generator/deconv1/kernel`` ...) are created on the first forward pass and
belong to the module (``state_dict()`` key ``generator.deconv1.kernel``). As with PyTorch's
lazy modules, run one forward pass before building the optimizer or loading a state dict.
"""

from . import initializers, layers, losses, nn  # noqa: F401 - tf.compat.v1.initializers & co.
from .initializers import *  # noqa: F401,F403 - tf.compat.v1.zeros_initializer & co.
from .initializers import __all__ as _initializer_names
from .variable_scope import AUTO_REUSE, VariableScope, get_variable, get_variable_scope, variable_scope
from ... import errors

__all__ = ["AUTO_REUSE", "VariableScope", "errors", "get_variable", "get_variable_scope", "layers", "losses", "nn",
           "variable_scope", *_initializer_names]
