"""tf.keras's op nodes: every TensorFlow function called on a Keras tensor becomes a layer in a
saved Keras 2 model (``TFOpLambda``; ``SlicingOpLambda`` for ``x[...]``), its config naming the
function (``math.multiply``) and its node holding the call's arguments. kcompat runs the same
function from its op table (:mod:`kcompat.tf_ops`)."""

from __future__ import annotations

from typing import Any, Optional

from .. import keras_ops, tf_ops
from ..keras_ops import keras_op
from ..tf_ops import tf_op
from .base import WeightlessLayer
from .registry import keras_layer

__all__ = ["KerasOp", "SlicingOpLambda", "TFOpLambda"]


class _OpNode(WeightlessLayer):
    """An op node: its config's ``key`` names the op, which ``lookup`` finds in its table
    (:mod:`kcompat.tf_ops` or :mod:`kcompat.keras_ops`); the model passes the node's own arguments
    (graph.Call.kwargs)."""

    takes_call_arguments = True
    key, prefix = "", ""
    lookup = staticmethod(lambda name: None)  # the op's function by its name, or None
    returns_several = staticmethod(lambda name: False)  # whether the op returns several tensors

    @classmethod
    def missing(cls, config):
        """What an error counts this node as where kcompat's table lacks its op, else ``None``."""
        return None if cls.lookup(config.get(cls.key)) is not None else cls.custom_name(config)

    @classmethod
    def custom_name(cls, config):
        """The ``custom_objects`` key that supplies a module for this node's op (``tf.signal.fft2d``,
        ``keras.ops.Fft2``)."""
        return f"{cls.prefix}{config.get(cls.key)}"

    @classmethod
    def several_outputs(cls, config):
        """Whether a call returns several tensors (``tf.split``, ``Split``), which the graph indexes."""
        return cls.returns_several(config.get(cls.key))


@keras_layer()
class TFOpLambda(_OpNode):
    """``tf.<function>(inputs, **arguments)``: the arguments are the call's, as the node saved them
    (tensors among them). An op kcompat's table lacks is refused by name."""

    key, prefix = "function", "tf."
    lookup, returns_several = staticmethod(tf_op), staticmethod(tf_ops.returns_several)

    def __init__(self, function: Any, **kwargs) -> None:
        super().__init__(**kwargs)
        if tf_op(function) is None:
            raise ValueError(f"TensorFlow's tf.{function} is not in kcompat's op table (kcompat.tf_ops)")
        self.function = function

    def forward(self, *args, **kwargs):
        kwargs.pop("name", None)
        return tf_op(self.function)(*args, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.update({"function": self.function})
        return config


@keras_layer()
class SlicingOpLambda(TFOpLambda):
    """``x[slice_spec]`` (``tf.__operators__.getitem``): slices as tf.keras writes them."""


@keras_layer()
class KerasOp(_OpNode):
    """Keras 3's op node: the ``keras.ops`` operation ``op`` (its class name: ``Reshape``), built
    with its own arguments (``newshape=``) and called with the node's (tensors and constants)."""

    unpacks_arguments = True  # called as the operation is: op(*arguments)
    key, prefix = "op", "keras.ops."
    lookup, returns_several = staticmethod(keras_op), staticmethod(keras_ops.returns_several)

    def __init__(self, op: Any, name: Optional[str] = None, trainable: bool = True, dtype: Any = None, **arguments) -> None:
        super().__init__(name=name, trainable=trainable, dtype=dtype)
        if keras_op(op) is None:
            raise ValueError(f"Keras's operation {op} (keras.ops) is not in kcompat's op table (kcompat.keras_ops)")
        self.op, self.arguments = op, arguments

    def forward(self, *args, **kwargs):
        kwargs.pop("name", None)
        return keras_op(self.op)(*args, **kwargs, **self.arguments)

    def get_config(self):
        config = super().get_config()
        config.update({"op": self.op, **self.arguments})
        return config
