"""Layer classes, one module per family."""

from .conv_transpose import (BY_RANK, BaseConvTranspose, Conv1DTranspose, Conv2DTranspose, Conv3DTranspose,
                             Convolution1DTranspose, Convolution2DTranspose, Convolution3DTranspose)

__all__ = ["BY_RANK", "BaseConvTranspose", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose", "Convolution1DTranspose",
           "Convolution2DTranspose", "Convolution3DTranspose"]
