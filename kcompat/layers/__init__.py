"""Layer classes, one module per family."""

from .conv_transpose import BaseConvTranspose, Conv2DTranspose, Convolution2DTranspose

__all__ = ["BaseConvTranspose", "Conv2DTranspose", "Convolution2DTranspose"]
