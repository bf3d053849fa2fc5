"""``tf.contrib`` (TF 1.x), as far as generator code uses it: ``contrib.layers.batch_norm``."""

from . import layers

__all__ = ["layers"]
