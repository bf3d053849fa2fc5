"""Layer classes, one module per family, on one Keras layer base (:mod:`kcompat.layers.base`)."""

from . import (activation, applications, attention, conv, core, merging, normalization, ops, pooling,
               preprocessing, regularization, reshaping, separable)
from .activation import ELU, Activation, LeakyReLU, PReLU, ReLU, Softmax
from .applications import CustomScaleLayer, LayerScale, StochasticDepth
from .attention import Attention, MultiHeadAttention
from .ops import KerasOp, SlicingOpLambda, TFOpLambda
from .base import Layer, Weight, WeightlessLayer, keras2_names
from .conv import BaseConv, Conv1D, Conv2D, Conv3D, Convolution1D, Convolution2D, Convolution3D
from .conv_transpose import (BY_RANK, BaseConvTranspose, Conv1DTranspose, Conv2DTranspose, Conv3DTranspose,
                             Convolution1DTranspose, Convolution2DTranspose, Convolution3DTranspose)
from .core import Dense, EinsumDense, Embedding, Identity, Rescaling
from .merging import Add, Average, Concatenate, Dot, Maximum, Minimum, Multiply, Subtract
from .normalization import BatchNormalization, GroupNormalization, LayerNormalization, UnitNormalization
from .preprocessing import CenterCrop, Normalization, Resizing
from .pooling import (AveragePooling1D, AveragePooling2D, AveragePooling3D, AvgPool1D, AvgPool2D, AvgPool3D,
                      GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalAveragePooling3D, GlobalMaxPooling1D,
                      GlobalMaxPooling2D, GlobalMaxPooling3D, MaxPool1D, MaxPool2D, MaxPool3D, MaxPooling1D,
                      MaxPooling2D, MaxPooling3D)
from .regularization import (Dropout, GaussianDropout, GaussianNoise, SpatialDropout1D, SpatialDropout2D,
                             SpatialDropout3D)
from .separable import DepthwiseConv1D, DepthwiseConv2D, SeparableConv1D, SeparableConv2D
from .reshaping import (Cropping1D, Cropping2D, Cropping3D, Flatten, Permute, RepeatVector, Reshape, UpSampling1D,
                        UpSampling2D, UpSampling3D, ZeroPadding1D, ZeroPadding2D, ZeroPadding3D)

# Every Keras layer class kcompat provides, by Keras's class name (the converter and load_model read it).
KERAS_LAYERS = {name: cls for module in (activation, applications, attention, conv, core, merging, normalization, ops,
                                         pooling, preprocessing, regularization, reshaping, separable)
                for name, cls in ((n, getattr(module, n)) for n in module.__all__) if isinstance(cls, type)}
KERAS_LAYERS.update({cls.__name__: cls for cls in BY_RANK.values()})
KERAS_LAYERS.update({"Convolution1DTranspose": Conv1DTranspose, "Convolution2DTranspose": Conv2DTranspose,
                     "Convolution3DTranspose": Conv3DTranspose})
KERAS_LAYERS.pop("BaseConv")
# keras.applications' own layers, as tf_keras registers them (package "Custom")
REGISTERED = {f"Custom>{cls.__name__}": cls for cls in (CustomScaleLayer, LayerScale, StochasticDepth)}


def layer_class(class_name):
    """kcompat's class for a Keras class name as a config writes it, or ``None``."""
    return KERAS_LAYERS.get(class_name) or REGISTERED.get(class_name)


__all__ = ["KERAS_LAYERS", "Layer", "Weight", "WeightlessLayer", "keras2_names", "layer_class", "BY_RANK", "BaseConv",
           "BaseConvTranspose", "Normalization", "CustomScaleLayer", "LayerScale", "StochasticDepth",
           "KerasOp", "SlicingOpLambda", "TFOpLambda", "CenterCrop", "Identity", "Resizing", "UnitNormalization",
           "MultiHeadAttention", "Dot", "Attention", "EinsumDense",
           "Activation", "Add", "Average", "AveragePooling1D", "AveragePooling2D", "AveragePooling3D", "AvgPool1D",
           "AvgPool2D", "AvgPool3D", "BatchNormalization", "Concatenate", "Conv1D", "Conv1DTranspose", "Conv2D",
           "Conv2DTranspose", "Conv3D", "Conv3DTranspose", "Convolution1D", "Convolution1DTranspose",
           "Convolution2D", "Convolution2DTranspose", "Convolution3D", "Convolution3DTranspose", "Cropping1D",
           "Cropping2D", "Cropping3D", "Dense", "DepthwiseConv1D", "DepthwiseConv2D", "Dropout", "ELU", "Embedding",
           "Flatten", "GaussianDropout", "GaussianNoise", "GlobalAveragePooling1D", "GlobalAveragePooling2D",
           "GlobalAveragePooling3D", "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D",
           "GroupNormalization", "LayerNormalization", "LeakyReLU", "MaxPool1D", "MaxPool2D", "MaxPool3D",
           "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "Maximum", "Minimum", "Multiply", "PReLU", "Permute",
           "ReLU", "RepeatVector", "Rescaling", "Reshape", "SeparableConv1D", "SeparableConv2D", "Softmax",
           "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "Subtract", "UpSampling1D", "UpSampling2D",
           "UpSampling3D", "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D"]
