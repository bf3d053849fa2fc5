"""What one comparison found: per-tensor :class:`Difference` s and the :class:`ParityResult`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["CALL_KEYS", "Difference", "ParityResult", "describe", "short_error"]

# The layer arguments a comparison is about (what both sides are built from).
CALL_KEYS = ("filters", "kernel_size", "strides", "padding", "output_padding", "data_format", "dilation_rate",
             "activation", "use_bias", "dtype")


@dataclass(frozen=True)
class Difference:
    """How far one tensor is from TensorFlow's."""

    name: str
    shape: tuple
    max_abs: float  # max |ours - theirs|
    max_rel: float  # max |ours - theirs| / max(1, max |theirs|)
    where: tuple  # index of the largest |ours - theirs|
    ours: float
    theirs: float
    rtol: float
    atol: float
    ok: bool

    def __str__(self):
        at = "" if not self.where else f" at {self.where} (ours {self.ours:.7g}, tf {self.theirs:.7g})"
        verdict = "ok" if self.ok else f"FAIL (rtol {self.rtol:g}, atol {self.atol:.3g})"
        return f"{self.name:8s} max abs {self.max_abs:.3g}, rel {self.max_rel:.3g}{at}: {verdict}"


@dataclass(frozen=True)
class ParityResult:
    """The outcome of one comparison.

    ``status``: ``"match"``; ``"mismatch"`` (numbers or shapes differ); ``"refused"`` (both
    refuse the configuration: agreement); ``"refuses"`` (only the implementation refuses) or
    ``"accepts"`` (it returns a result where TensorFlow refuses): disagreements;
    ``"crashed"`` (the TensorFlow worker died).
    """

    reference: str
    config: dict
    input_shape: tuple
    dtype: str
    status: str
    differences: tuple = ()
    message: str = ""  # the refusal(s) or the shape mismatch
    notes: tuple = field(default=())
    implementation: str = "kcompat"

    @property
    def ok(self) -> bool:
        return self.status in ("match", "refused")

    @property
    def max_abs(self) -> float:
        return max((d.max_abs for d in self.differences), default=0.0)

    @property
    def max_rel(self) -> float:
        return max((d.max_rel for d in self.differences), default=0.0)

    def as_dict(self):
        return {
            "implementation": self.implementation, "reference": self.reference, "config": self.config,
            "input_shape": list(self.input_shape), "dtype": self.dtype, "status": self.status, "ok": self.ok,
            "max_abs": self.max_abs, "max_rel": self.max_rel, "message": self.message,
            "differences": [dict(d.__dict__, where=list(d.where), shape=list(d.shape)) for d in self.differences],
            "notes": list(self.notes),
        }

    def __str__(self):
        who = self.implementation
        head = {
            "match": f"{who} matches TensorFlow",
            "mismatch": f"{who} DIFFERS from TensorFlow",
            "refused": f"{who} and TensorFlow both refuse this configuration",
            "refuses": f"{who} REFUSES a configuration TensorFlow accepts",
            "accepts": f"TensorFlow REFUSES a configuration {who} accepts",
            "crashed": "TensorFlow crashed on this configuration",
        }[self.status]
        lines = [f"{head} (reference {self.reference!r}, {self.dtype}, input {tuple(self.input_shape)})",
                 f"  config: {describe(self.config)}"]
        lines += [f"  {d}" for d in self.differences]
        if self.message:
            lines.append(f"  {self.message}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def describe(config):
    """A config in one short line: only what differs from Keras's defaults."""
    defaults = {"strides": (1, 1), "padding": "valid", "output_padding": None, "data_format": "channels_last",
                "dilation_rate": (1, 1), "activation": "linear", "use_bias": True, "dtype": "float32"}
    parts = []
    for key in CALL_KEYS:
        if key not in config:
            continue
        value = config[key]
        value = tuple(value) if isinstance(value, list) else value
        if key == "dtype" and isinstance(value, dict):  # Keras 3's serialized DTypePolicy
            value = value.get("config", {}).get("name", value)
        if key not in ("filters", "kernel_size") and defaults.get(key, object()) in (value, _pair(value)):
            continue
        parts.append(f"{key}={value!r}")
    return ", ".join(parts)


def _pair(value):
    return (value, value) if isinstance(value, int) and not isinstance(value, bool) else value


def short_error(exc):
    """TensorFlow's error without Keras's call boilerplate and the op's node prefix, one line."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
    text = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", text)
    text = text.split("\n\nArguments received by")[0]
    text = re.sub(r"\s*Call arguments received by layer .*", "", text, flags=re.S)
    text = re.sub(r"Exception encountered when calling (layer '[^']*' \(type \w+\)|\w+\.call\(\))\.", "", text)
    text = re.sub(r"\s*\[Op:\w+\]", "", text)
    return " ".join(text.split())

