"""``kcompat-parity --model FILE``: every transposed convolution of a user's saved model.

For each ``Conv1DTranspose``, ``Conv2DTranspose`` and ``Conv3DTranspose`` of a Keras file
(``.keras``, whole-model ``.h5``, Keras 3 or Keras 2): the kcompat layer is built and loaded by
the converter (:func:`kcompat.convert.load`), its weights must equal the ones TensorFlow loads
from the same file, bit for bit, and it must compute what the TensorFlow layer computes
(outputs and gradients) on the layer's real input shape, against the Keras generation that
wrote the file.
"""

from __future__ import annotations

import numpy as np

from ..convert.keras_files import open_model_file
from ..testing import tf_calls
from ..testing.parity import compare_implementations, tf_arguments
from ..testing.result import ParityResult
from .grid import Case

__all__ = ["ModelError", "model_cases"]

BATCH = 2
UNKNOWN_SPATIAL = 8  # for axes the model leaves unknown (fully convolutional inputs)


class ModelError(ValueError):
    """The model file cannot be checked; the message says why."""


def _input_shape(shape, config, path):
    if shape is None:
        raise ModelError(f"layer '{path}' has no known input shape in the saved model")
    channels_axis = -1 if config.get("data_format", "channels_last") == "channels_last" else 1
    if shape[channels_axis] is None:
        raise ModelError(f"layer '{path}': the saved model leaves its input channels unknown")
    return tuple(BATCH if i == 0 else (UNKNOWN_SPATIAL if d is None else d) for i, d in enumerate(shape))


def _weights_differ(ours, theirs):
    if len(ours) != len(theirs):
        return f"{len(ours)} weights converted, TensorFlow loads {len(theirs)}"
    for name, a, b in zip(("kernel", "bias"), ours, theirs):
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape or not np.array_equal(a, b):
            return f"converted {name} differs from the file's (shape {a.shape} vs {b.shape})"
    return None


def model_cases(path, oracle, grads=True):
    """``(rows, title)``: one row per transposed convolution of the model file at ``path``."""
    from ..convert.converter import ConversionError, layers_of

    try:
        with open_model_file(path) as model:
            kind = model.kind
            references = {layer.reference for layer in model.layers if layer.converted}
            if "tf1" in references or "checkpoint" in kind:
                raise ModelError(f"{path}: a TensorFlow checkpoint holds weights but no layer configurations or "
                                 "input shapes; save the model as .keras/.h5, or convert it with kcompat-convert "
                                 "and check the rebuilt layers with kcompat.testing.assert_parity")
            layers = layers_of(model)
    except ConversionError as exc:
        raise ModelError(str(exc)) from None
    if not layers:
        raise ModelError(f"{path}: no Conv1DTranspose, Conv2DTranspose or Conv3DTranspose layer in this model")
    reference = "keras" if references == {"keras"} else "tf_keras"
    from ..testing.tf_oracle import TFError

    try:
        found = oracle.call("eigen-tf1" if reference == "tf_keras" else "eigen", tf_calls.model_layers, path=str(path),
                            reference=reference)
    except TFError as exc:
        raise ModelError(f"{path}: TensorFlow cannot load this model ({exc})") from None
    theirs = {entry["path"]: entry for entry in found}
    rows = []
    for dotted, layer in layers.items():
        entry = theirs.get(dotted)
        if entry is None:
            raise ModelError(f"{path}: layer '{dotted}' converted by kcompat is not among the model's layers "
                             f"as Keras loads them ({', '.join(theirs) or 'none'})")
        shape = _input_shape(entry["input_shape"], entry["config"], dotted)
        problem = _weights_differ(layer.get_weights(), entry["weights"])
        if problem:
            result = ParityResult(reference, tf_arguments(layer), shape, layer.dtype_policy.name, "mismatch",
                                  message=problem)
        else:
            result, _ = compare_implementations(layer, shape, reference=reference, grads=grads, oracle=oracle)
        rows.append((Case(result.config, shape, reference, result.dtype, label=dotted), {"kcompat": result}))
    return rows, f"kcompat parity: {path} ({len(rows)} transposed convolutions, {kind})"
