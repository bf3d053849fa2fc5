"""``kcompat-parity --model FILE``: a user's saved model, whole and layer by layer, against TensorFlow.

The file (``.keras``, whole-model ``.h5``, Keras 3 or Keras 2) is loaded by
:func:`kcompat.load_model` and compared by :func:`kcompat.testing.check_model_parity` with the
model TensorFlow loads from it: one row for the whole model (outputs, input and weight
gradients, moving statistics), then one per layer call, each judged on the activations
TensorFlow's model gives it, with the first layer that diverges named.
"""

from __future__ import annotations

from .grid import Case

__all__ = ["ModelError", "model_cases"]

WHOLE = "(whole model)"  # the row id of the end-to-end comparison


class ModelError(ValueError):
    """The model file cannot be checked; the message says why."""


def model_cases(path, oracle, grads=True, training=False):
    """``(rows, title, lines)``: the whole model's row, then one per layer call, and the
    report's lines naming the first divergence."""
    from ..models import load_model
    from ..testing.model_parity import check_model_parity

    try:
        module = load_model(path)
    except (ValueError, FileNotFoundError, NotImplementedError) as exc:
        raise ModelError(str(exc)) from None
    try:
        found = check_model_parity(module, path, training=training, grads=grads, oracle=oracle)
    except (ValueError, FileNotFoundError) as exc:
        raise ModelError(str(exc)) from None
    whole = found.whole
    rows = [(Case(whole.config, whole.input_shape, found.reference, whole.dtype, label=WHOLE), {"kcompat": whole})]
    rows += [(Case(r.config, r.input_shape, found.reference, r.dtype, label=label), {"kcompat": r})
             for label, r in found.rows]
    mode = "training" if training else "inference"
    title = f"kcompat parity: {path} (whole model and {len(found.rows)} layer calls, {found.reference}, {mode})"
    lines = [f"First divergence: {found.first_divergence}", ""] if found.first_divergence else []
    return rows, title, lines
