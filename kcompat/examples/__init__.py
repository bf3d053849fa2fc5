"""Model files shipped with kcompat, for a first port (``kcompat-port --example unet.py --check``).

- ``unet``: ``unet.keras``, a small segmentation U-Net as Keras users write one (32x32x3 to 2
  classes; Conv2D, BatchNormalization, ReLU, MaxPooling2D, stride-2 'same' Conv2DTranspose,
  Concatenate, softmax), saved by Keras 3 with fixed weights (``scripts/make_example.py``).

``python -m kcompat.examples`` prints each file's path.
"""

from __future__ import annotations

import os

__all__ = ["EXAMPLES", "path"]

EXAMPLES = {"unet": "unet.keras"}  # name -> file beside this module


def path(name: str = "unet") -> str:
    """The path of example ``name`` (one of :data:`EXAMPLES`)."""
    if name not in EXAMPLES:
        raise ValueError(f"example: expected one of {', '.join(map(repr, EXAMPLES))}; received {name!r}")
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), EXAMPLES[name])
