"""Layer classes, one module per family, on one Keras layer base (:mod:`kcompat.layers.base`)."""

from .activation import ELU, Activation, LeakyReLU, ReLU, Softmax
from .base import Layer, Weight
from .conv_transpose import (BY_RANK, BaseConvTranspose, Conv1DTranspose, Conv2DTranspose, Conv3DTranspose,
                             Convolution1DTranspose, Convolution2DTranspose, Convolution3DTranspose)

__all__ = ["ELU", "Activation", "LeakyReLU", "ReLU", "Softmax", "BY_RANK", "BaseConvTranspose", "Conv1DTranspose",
           "Conv2DTranspose", "Conv3DTranspose",
           "Convolution1DTranspose", "Convolution2DTranspose", "Convolution3DTranspose", "Layer", "Weight"]
