"""tf.keras's op nodes: every TensorFlow function called on a Keras tensor becomes a layer in a
saved Keras 2 model (``TFOpLambda``; ``SlicingOpLambda`` for ``x[...]``), its config naming the
function (``math.multiply``) and its node holding the call's arguments. kcompat runs the same
function from its op table (:mod:`kcompat.tf_ops`)."""

from __future__ import annotations

from ..tf_ops import tf_op
from .base import WeightlessLayer

__all__ = ["SlicingOpLambda", "TFOpLambda"]


class TFOpLambda(WeightlessLayer):
    """``tf.<function>(inputs, **arguments)``: the arguments are the call's, as the node saved them
    (tensors among them). An op kcompat's table lacks is refused by name."""

    takes_call_arguments = True  # the model passes the node's keyword arguments (graph.Call.kwargs)

    def __init__(self, function, **kwargs):
        kwargs.pop("_nested_names", None)
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


class SlicingOpLambda(TFOpLambda):
    """``x[slice_spec]`` (``tf.__operators__.getitem``): slices as tf.keras writes them."""
