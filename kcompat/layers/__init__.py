"""Layer classes, one module per family."""

from .conv_transpose import (BaseConvTranspose, Conv1DTranspose, Conv2DTranspose, Conv3DTranspose,
                             Convolution1DTranspose, Convolution2DTranspose, Convolution3DTranspose)

__all__ = ["BaseConvTranspose", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose", "Convolution1DTranspose",
           "Convolution2DTranspose", "Convolution3DTranspose"]
