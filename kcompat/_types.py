"""The types of Keras's arguments, as the layers' constructors are annotated with them.

Written with ``typing`` (not ``X | Y``) so that ``typing.get_type_hints`` resolves them on every
Python kcompat supports.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Optional, Sequence, Union

__all__ = ["Identifier", "IntOrSequence", "Nested", "OptionalInt", "Shape"]

# An initializer, regularizer, constraint or activation as Keras takes it: a name ("relu",
# "glorot_uniform"), a serialized config, an object or a function; None where the argument allows it.
Identifier = Union[str, Mapping[str, Any], Callable[..., Any], None]
IntOrSequence = Union[int, Sequence[int]]  # kernel_size=3 or (3, 3)
Nested = Union[int, Sequence[Any]]  # ZeroPadding2D's padding=1, (1, 2) or ((1, 2), (3, 4))
OptionalInt = Optional[int]
Shape = Optional[Sequence[Optional[int]]]  # input_shape, without the batch axis
