"""The configurations ``kcompat-parity --layers`` and the tests compare for the layers around the
transposed convolution: per layer what TensorFlow's arithmetic distinguishes (odd and even
sizes, kernels below, at and above the stride, 'same' padding symmetric and not, both data
formats, training and inference). Pure Python: nothing here runs a layer.
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

__all__ = ["LayerCase", "layer_grid", "keras2_config"]


class LayerCase(NamedTuple):
    """One comparison: a Keras layer class and arguments, an input shape (batch axis included;
    a list of shapes for a merging layer), Keras's ``training`` flag (``None``: inference)."""

    class_name: str
    config: dict
    input_shape: object
    training: object = None

    @property
    def id(self) -> str:
        shapes = self.input_shape if isinstance(self.input_shape, list) else [self.input_shape]
        parts = [self.class_name, *(f"{k}{v}" for k, v in self.config.items()),
                 "x".join(str(n) for shape in shapes for n in shape)]
        if self.training:
            parts.append("training")
        return "-".join(str(p).replace(" ", "") for p in parts)


def _conv_cases():
    cases = []
    for rank, size in ((1, (9,)), (1, (8,)), (2, (7, 8)), (3, (5, 6, 4))):
        for kernel, stride, padding in itertools.product((1, 2, 3, 4), (1, 2, 3), ("valid", "same")):
            if rank == 3 and (kernel, stride) not in ((2, 2), (3, 2), (3, 1), (4, 3), (1, 2)):
                continue
            cases.append((f"Conv{rank}D", {"filters": 4, "kernel_size": kernel, "strides": stride,
                                           "padding": padding}, (2, *size, 3)))
        cases.append((f"Conv{rank}D", {"filters": 4, "kernel_size": 3, "dilation_rate": 2, "padding": "same"},
                      (2, *size, 3)))
        cases.append((f"Conv{rank}D", {"filters": 4, "kernel_size": 2, "groups": 2, "padding": "same",
                                       "strides": 2, "use_bias": False, "activation": "relu"}, (2, *size, 6)))
        cases.append((f"Conv{rank}D", {"filters": 4, "kernel_size": 3, "strides": 2, "padding": "same",
                                       "data_format": "channels_first"}, (2, 3, *size)))
    cases.append(("Conv1D", {"filters": 4, "kernel_size": 3, "padding": "causal", "dilation_rate": 2}, (2, 9, 3)))
    for kind, rank, size in (("Depthwise", 1, (9,)), ("Depthwise", 2, (7, 8)), ("Separable", 1, (8,)),
                             ("Separable", 2, (7, 8))):
        extra = {"filters": 5} if kind == "Separable" else {}
        for kernel, stride, padding, multiplier in ((3, 2, "same", 1), (4, 2, "same", 2), (2, 1, "valid", 3),
                                                     (3, 1, "same", 2)):
            cases.append((f"{kind}Conv{rank}D", dict(extra, kernel_size=kernel, strides=stride, padding=padding,
                                                     depth_multiplier=multiplier), (2, *size, 3)))
        cases.append((f"{kind}Conv{rank}D", dict(extra, kernel_size=3, dilation_rate=2, padding="same",
                                                 data_format="channels_first"), (2, 3, *size)))
    cases.append(("Conv1D", {"filters": 2, "kernel_size": 7, "strides": 2, "padding": "same"}, (2, 16, 3)))
    cases.append(("Conv2D", {"filters": 2, "kernel_size": (3, 2), "strides": (2, 1), "padding": "same"},
                  (2, 7, 6, 3)))
    return cases


def _pool_cases():
    cases = []
    for kind, (rank, size) in itertools.product(("Max", "Average"), ((1, (9,)), (1, (8,)), (2, (7, 8)),
                                                                     (3, (5, 6, 4)))):
        for pool, stride, padding in itertools.product((2, 3), (None, 1, 2), ("valid", "same")):
            if rank == 3 and (pool, stride) not in ((2, None), (3, 2)):
                continue
            cases.append((f"{kind}Pooling{rank}D", {"pool_size": pool, "strides": stride, "padding": padding},
                          (2, *size, 3)))
        cases.append((f"{kind}Pooling{rank}D", {"pool_size": 3, "strides": 2, "padding": "same",
                                                "data_format": "channels_first"}, (2, 3, *size)))
        for data_format, keepdims in itertools.product(("channels_last", "channels_first"), (False, True)):
            cases.append((f"Global{kind}Pooling{rank}D", {"data_format": data_format, "keepdims": keepdims},
                          (2, *size, 3)))
    return cases


def _normalization_cases():
    cases = []
    cases.append(("BatchNormalization", {}, (1, 5), True))  # one value per channel
    for shape, axis in (((4, 5, 6, 3), -1), ((4, 3, 5, 6), 1), ((6, 7), -1), ((3, 5, 4), -1), ((2, 3, 4, 5, 6), -1)):
        for training in (False, True):
            cases.append(("BatchNormalization", {"axis": axis}, shape, training))
        cases.append(("BatchNormalization", {"axis": axis, "momentum": 0.9, "epsilon": 1e-5, "center": False},
                      shape, True))
        cases.append(("BatchNormalization", {"axis": axis, "scale": False}, shape, False))
    for shape, axis in (((4, 5, 6), -1), ((3, 4, 5, 6), [1, 2, 3]), ((3, 4, 5, 6), [2, 3]), ((3, 4, 5), 1),
                        ((3, 4, 5, 6), [1, 3])):
        cases.append(("LayerNormalization", {"axis": axis}, shape))
        cases.append(("LayerNormalization", {"axis": axis, "center": False, "epsilon": 1e-6}, shape))
    cases.append(("LayerNormalization", {"rms_scaling": True}, (3, 4, 5)))
    cases += [("Normalization", {}, (2, 4, 3)), ("Normalization", {"axis": [1, 2]}, (2, 4, 3)),
              ("Normalization", {"invert": True}, (2, 4, 3)), ("Normalization", {"axis": 1}, (2, 4, 3)),
              ("Normalization", {"mean": [1.0, 2.0, 3.0], "variance": [4.0, 1.0, 0.25]}, (2, 4, 3)),
              ("Normalization", {"mean": 0.5, "variance": 2.0}, (2, 4, 3)),
              ("Normalization", {"axis": None, "mean": 1.0, "variance": 0.0}, (2, 5)),
              ("Normalization", {"axis": (1, 2), "mean": [1.0, 2.0, 3.0], "variance": [1.0, 2.0, 3.0]}, (2, 4, 3)),
              ("Normalization", {"mean": [1.0, 2.0, 3.0], "variance": [4.0, 1.0, 0.25], "invert": True}, (2, 4, 3))]
    for shape, groups, axis in (((2, 5, 6, 8), 4, -1), ((2, 8, 5, 6), 2, 1), ((2, 7, 6), 6, -1), ((2, 7, 6), -1, -1),
                                ((2, 7, 6), 1, -1)):
        cases.append(("GroupNormalization", {"groups": groups, "axis": axis}, shape))
    return cases


def _other_cases():
    return [
        ("Dense", {"units": 5}, (4, 3)), ("Dense", {"units": 5, "activation": "tanh", "use_bias": False}, (2, 3, 4, 3)),
        ("Dense", {"units": 1, "activation": "sigmoid"}, (4, 7)),
        ("PReLU", {}, (2, 4, 5, 3)), ("PReLU", {"shared_axes": [1, 2]}, (2, 4, 5, 3)), ("PReLU", {}, (4, 6)),
        ("Flatten", {}, (2, 3, 4, 5)), ("Flatten", {"data_format": "channels_first"}, (2, 3, 4, 5)),
        ("Flatten", {}, (3, 4)),
        ("Reshape", {"target_shape": (4, 5, 3)}, (2, 60)), ("Reshape", {"target_shape": (-1, 3)}, (2, 4, 6)),
        ("Permute", {"dims": (2, 1)}, (2, 3, 4)), ("Permute", {"dims": (3, 1, 2)}, (2, 3, 4, 5)),
        ("RepeatVector", {"n": 3}, (2, 5)),
        ("ZeroPadding1D", {"padding": (1, 2)}, (2, 5, 3)), ("ZeroPadding2D", {}, (2, 4, 5, 3)),
        ("ZeroPadding2D", {"padding": ((1, 0), (2, 3)), "data_format": "channels_first"}, (2, 3, 4, 5)),
        ("ZeroPadding3D", {"padding": (1, 2, 0)}, (1, 3, 4, 2, 2)),
        ("Cropping1D", {"cropping": (1, 2)}, (2, 6, 3)), ("Cropping2D", {"cropping": ((1, 0), (2, 1))}, (2, 5, 6, 3)),
        ("Cropping2D", {"cropping": 1, "data_format": "channels_first"}, (2, 3, 5, 6)),
        ("Cropping3D", {}, (1, 4, 5, 6, 2)),
        ("UpSampling1D", {"size": 3}, (2, 4, 3)), ("UpSampling2D", {}, (2, 3, 4, 3)),
        ("UpSampling2D", {"size": (2, 3), "data_format": "channels_first"}, (2, 3, 3, 4)),
        ("UpSampling2D", {"interpolation": "bilinear"}, (2, 3, 4, 3)),
        ("UpSampling2D", {"size": (3, 2), "interpolation": "bilinear"}, (1, 5, 4, 2)),
        ("UpSampling3D", {"size": (1, 2, 3)}, (1, 2, 3, 2, 2)),
        ("Rescaling", {"scale": 1 / 127.5, "offset": -1.0}, (2, 4, 4, 3)),
        ("EinsumDense", {"equation": "ab,bc->ac", "output_shape": 4, "bias_axes": "c"}, (2, 3)),
        ("EinsumDense", {"equation": "abc,cde->abde", "output_shape": (3, 2, 5), "bias_axes": "de"}, (2, 3, 4)),
        ("EinsumDense", {"equation": "...b,bc->...c", "output_shape": 4, "activation": "relu"}, (2, 3, 5)),
        ("EinsumDense", {"equation": "abcd,cde->abe", "output_shape": (3, 6), "bias_axes": "e"}, (2, 3, 4, 5)),
        ("Identity", {}, (2, 3, 4)), ("UnitNormalization", {}, (2, 3, 4)),
        ("UnitNormalization", {"axis": [1, 2]}, (2, 3, 4)),
        ("Resizing", {"height": 5, "width": 7}, (2, 4, 4, 3)),
        ("Resizing", {"height": 3, "width": 2, "interpolation": "nearest"}, (2, 6, 5, 3)),
        ("Resizing", {"height": 6, "width": 4, "data_format": "channels_first"}, (2, 3, 4, 5)),
        ("CenterCrop", {"height": 2, "width": 3}, (2, 5, 6, 3)),
        ("CenterCrop", {"height": 3, "width": 3, "data_format": "channels_first"}, (2, 3, 6, 5)),
        ("Dropout", {"rate": 0.5}, (2, 6)), ("SpatialDropout2D", {"rate": 0.3}, (2, 4, 4, 3)),
        ("GaussianNoise", {"stddev": 0.5}, (2, 6)), ("GaussianDropout", {"rate": 0.3}, (2, 6)),
    ]


MERGE_CASES = [("Add", {}, [(2, 3, 4)] * 3), ("Subtract", {}, [(2, 3, 4)] * 2), ("Multiply", {}, [(2, 3, 4)] * 2),
               ("Average", {}, [(2, 3, 4)] * 3), ("Maximum", {}, [(2, 3, 4)] * 2), ("Minimum", {}, [(2, 3, 4)] * 2),
               ("Concatenate", {}, [(2, 3, 4), (2, 3, 2)]), ("Concatenate", {"axis": 1}, [(2, 3, 4), (2, 1, 4)]),
               ("Add", {}, [(2, 3, 4), (2, 1, 4)]),
               ("Dot", {"axes": 1}, [(2, 5), (2, 5)]), ("Dot", {"axes": -1, "normalize": True}, [(2, 5), (2, 5)]),
               ("Dot", {"axes": (2, 2)}, [(2, 3, 4), (2, 5, 4)]), ("Dot", {"axes": (1, 2)}, [(2, 4, 3), (2, 5, 4)]),
               ("Dot", {"axes": [2, 1], "normalize": True}, [(2, 3, 4), (2, 4, 5)]),
               ("Dot", {"axes": 3}, [(2, 3, 4, 5), (2, 2, 4, 5)]),
               ("Attention", {}, [(2, 3, 4), (2, 5, 4)]), ("Attention", {"use_scale": True}, [(2, 3, 4), (2, 5, 4)]),
               ("Attention", {"score_mode": "concat"}, [(2, 3, 4), (2, 5, 4), (2, 5, 4)]),
               ("Attention", {"score_mode": "concat", "use_scale": True}, [(2, 3, 4), (2, 5, 4)])]


def keras2_config(name, config):
    """The arguments for Keras 2's layer (``None`` where Keras 2 has no such layer or argument)."""
    config = dict(config)
    if name == "GroupNormalization":
        return None  # tf_keras 2.21 has it, but under keras.layers only as experimental
    if name == "LayerNormalization" and config.pop("rms_scaling", False):
        return None
    if name == "Rescaling" or name.startswith("GaussianNoise"):
        return config
    if name == "EinsumDense":
        return None  # tf_keras's compute_output_shape needs the layer built first (the grid asks before)
    if name in ("Resizing", "CenterCrop") and config.get("data_format", "channels_last") != "channels_last":
        return None  # tf_keras's take channels_last images only
    if name.startswith("Conv") and config.get("groups", 1) != 1 and name == "Conv3D":
        return None
    return config




def layer_grid():
    """Every :class:`LayerCase` of the built-in layer grid."""
    entries = _conv_cases() + _pool_cases() + _normalization_cases() + _other_cases() + MERGE_CASES
    return [LayerCase(name, config, shape, *training) for name, config, shape, *training in entries]
