"""TensorFlow's op error classes, for code ported from ``tf.errors``.

TensorFlow raises ``InvalidArgumentError`` where an op refuses its arguments; kcompat raises
the same class name with TensorFlow's message. Both are ``ValueError`` subclasses, so code
that follows kcompat's rule (bad input -> ``ValueError``) catches them too.
"""

__all__ = ["InvalidArgumentError", "UnimplementedError"]


class InvalidArgumentError(ValueError):
    """An op refused its arguments (``tf.errors.InvalidArgumentError``)."""


class UnimplementedError(ValueError):
    """TensorFlow implements no such op configuration (``tf.errors.UnimplementedError``)."""
