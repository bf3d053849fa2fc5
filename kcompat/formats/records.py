"""What a model file holds, as every reader reports it: layers, their tensors, what was left out.

The Keras-file reader (:mod:`.keras_files`) and the checkpoint reader (:mod:`.tf_checkpoint`)
both return a :class:`ModelFile`; the converter plans and writes from it alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["CONV_TRANSPOSE", "ConversionError", "Layer", "ModelFile", "Tensor", "with_path"]

# Keras class names kcompat converts, and their number of spatial axes
CONV_TRANSPOSE = {f"{prefix}{rank}DTranspose": rank for prefix in ("Conv", "Convolution") for rank in (1, 2, 3)}


class ConversionError(ValueError):
    """A file kcompat cannot convert; the message names the file and the problem."""


def with_path(path, exc):
    """``exc``, with the file's ``path`` in front where it was raised without it (deep in a
    reader that does not know which file it reads)."""
    return exc if str(exc).startswith(str(path)) else ConversionError(f"{path}: {exc}")


@dataclass
class Tensor:
    """One weight of the file: where it is, its shape and dtype, and how to read it."""

    source: str
    shape: tuple
    dtype: np.dtype
    read: object = field(repr=False)
    role: str = "copy"  # "kernel", "bias" (of a converted layer), "tf1", "copy" or "skip"
    reason: str = ""  # why skipped
    name: str = ""  # the Keras/TF path it is written under when copied (default: ``source``)

    @property
    def key(self):
        return self.name or self.source


@dataclass
class Layer:
    """A layer of the file with weights: its dotted path, class, config and weights."""

    path: str
    class_name: str
    config: dict | None
    reference: str  # the API generation that wrote it: "keras", "tf_keras" or "tf1" (as assert_parity's)
    tensors: list = field(default_factory=list)

    @property
    def converted(self):
        return self.class_name in CONV_TRANSPOSE


@dataclass
class ModelFile:
    path: str
    kind: str
    layers: list
    skipped: list  # tensors left out (optimizer slots, metrics, counters)
    handles: list = field(default_factory=list, repr=False)
    config: dict | None = field(default=None, repr=False)  # the model's Keras config, where the file holds one

    def close(self):
        for handle in reversed(self.handles):
            handle.close()
        self.handles.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
