"""Earlier generations of TensorFlow's API, as ``tf.compat`` keeps them: ``compat.v1``."""

from . import v1

__all__ = ["v1"]
