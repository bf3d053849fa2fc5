"""A SavedModel directory written by tf.keras (``model.save("dir")``, the default from TF 2.0 to
2.15; ``save_format="tf"`` in tf_keras), read without TensorFlow: ``keras_metadata.pb`` holds the
model's Keras config (its root node's metadata, JSON), ``variables/variables`` is a TF2 object
checkpoint of the model. A SavedModel without that file (a ``tf.Module``, Keras 3's
``model.export()``) holds no Keras config, and is refused with a message that says so."""

from __future__ import annotations

import json
import os

from .records import ConversionError
from .tf_checkpoint import proto_fields

__all__ = ["is_saved_model", "read_keras_config", "variables_prefix"]

METADATA = "keras_metadata.pb"
_LIMIT = 256 << 20  # bytes of keras_metadata.pb read at most


def is_saved_model(path):
    """Whether ``path`` is a SavedModel directory (it has ``saved_model.pb`` or ``keras_metadata.pb``)."""
    path = str(path)
    return os.path.isdir(path) and any(os.path.isfile(os.path.join(path, n)) for n in ("saved_model.pb", METADATA))


def variables_prefix(path):
    """The checkpoint prefix of a SavedModel's variables."""
    return os.path.join(str(path), "variables", "variables")


def _untuple(value):
    """The SavedModel metadata's ``{"class_name": "__tuple__", "items": [...]}`` as lists, as a config has them."""
    if isinstance(value, dict):
        if value.get("class_name") == "__tuple__" and isinstance(value.get("items"), list):
            return [_untuple(v) for v in value["items"]]
        return {k: _untuple(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_untuple(v) for v in value]
    return value


def read_keras_config(path):
    """The Keras model config (``{"class_name", "config", "keras_version"}``) of a SavedModel directory."""
    path = str(path)
    metadata = os.path.join(path, METADATA)
    if not os.path.isfile(metadata):
        raise ConversionError(f"{path}: a SavedModel without Keras metadata ({METADATA}): it holds TensorFlow "
                              "functions but no Keras layer configs (a tf.Module, or Keras 3's model.export()); "
                              "kcompat needs the Keras model: save it with model.save('model.keras') or as .h5")
    size = os.path.getsize(metadata)
    if size > _LIMIT:
        raise ConversionError(f"{metadata}: {size} bytes, more than the {_LIMIT} kcompat reads")
    with open(metadata, "rb") as f:
        blob = f.read()
    try:
        for number, node in proto_fields(blob):
            if number != 1 or not isinstance(node, bytes):
                continue
            fields = dict(proto_fields(node))
            if fields.get(3, b"").decode("utf-8", "replace") != "root":
                continue
            root = json.loads(fields.get(5, b"{}").decode("utf-8"))
            break
        else:
            raise ConversionError(f"{metadata}: no root object in the Keras metadata")
    except (ValueError, UnicodeDecodeError, IndexError) as exc:
        raise ConversionError(f"{metadata}: corrupt Keras metadata ({exc})") from None
    if not isinstance(root, dict) or not isinstance(root.get("config"), dict) or not isinstance(
            root.get("class_name"), str):
        raise ConversionError(f"{metadata}: the root object is not a Keras model (no class_name and config)")
    config = {"class_name": root["class_name"], "config": _untuple(root["config"])}
    if "keras_version" in root:
        config["keras_version"] = root["keras_version"]
    return config
