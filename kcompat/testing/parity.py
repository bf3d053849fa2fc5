"""Does a kcompat layer compute what TensorFlow computes? One layer, one answer.

:func:`check_parity` runs a kcompat layer and the real TensorFlow layer of the chosen API
generation on the same weights and inputs, forward and backward, and returns a
:class:`ParityResult`; :func:`assert_parity` raises ``AssertionError`` with its report when
they differ. TensorFlow runs in worker processes (:mod:`.tf_oracle`), never in the caller.

Agreement is judged by :mod:`.tolerance`'s one rule; where TensorFlow is known to be wrong
(:mod:`.tf_defects`) the engine asks its other kernel or the float64 reference and says so.
The outcome is a :class:`~.result.ParityResult`.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import replace
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from . import tf_calls, tolerance
from .result import CALL_KEYS, Difference, ParityResult, describe, short_error
from .tf_defects import default_kernel, float64_reference, keras3_bias_defect, tensorflow_unreliable
from .tolerance import GRAD_TOLERANCES, TOLERANCES

__all__ = ["REFERENCES", "TOLERANCES", "Difference", "ParityResult", "TensorFlowMissing", "assert_parity",
           "check_parity", "compare_implementations", "describe", "require_tensorflow"]

REFERENCES = ("keras", "tf_keras", "tf1", "tf.nn")
_HALF = {"float16": torch.float16, "bfloat16": torch.bfloat16}


class TensorFlowMissing(RuntimeError):
    """The harness needs TensorFlow (and ``tf_keras`` for the Keras 2 and TF1 references)."""


def require_tensorflow(reference="keras"):
    """Raise :class:`TensorFlowMissing` with the one install line needed, without importing TF."""
    if importlib.util.find_spec("tensorflow") is None:
        raise TensorFlowMissing(
            "kcompat's parity harness needs TensorFlow: pip install tensorflow-cpu==2.21.0 "
            "(and pip install --no-deps tf_keras==2.21.0 for the Keras 2 and TF1 references)")
    if reference in ("tf_keras", "tf1") and importlib.util.find_spec("tf_keras") is None:
        raise TensorFlowMissing(
            f"reference={reference!r} needs Keras 2: pip install --no-deps tf_keras==2.21.0")


# --------------------------------------------------------------------- building both sides
def config_rank(config, input_shape):
    """Spatial axes of a config dict: from its per-axis arguments; with scalars only, 2 unless
    ``input_shape`` fits no 2-D layer (2 entries: 1-D, 5: 3-D). A 1-D config with a batch axis
    in ``input_shape``, or a 3-D one without, needs a tuple ``kernel_size`` (as Keras writes it)."""
    for key in ("kernel_size", "strides", "dilation_rate", "output_padding"):
        value = config.get(key)
        if isinstance(value, (list, tuple)):
            return len(value)
    return {2: 1, 5: 3}.get(len(tuple(input_shape)), 2)


def _layer_from_config(config, reference, dtype, rank=2):
    import kcompat
    from kcompat.compat.v1 import layers as v1_layers

    config = dict(config)
    if dtype is not None:
        config["dtype"] = dtype
    if reference in ("tf1", "tf.nn") and rank != 2:
        raise ValueError(f"reference={reference!r} is checked in 2-D only; this configuration has {rank} spatial axes")
    cls = v1_layers.Conv2DTranspose if reference == "tf1" else kcompat.layers.BY_RANK[rank]
    if reference == "tf1":
        config.pop("name", None)
    return cls.from_config(config)


def _standalone(layer):
    """A layer :func:`check_parity` can call on its own: ``layer``, or for a TF1 layer built
    inside a module's ``forward`` (whose variables belong to that module and which runs only
    inside its forward) an equal standalone copy with the same weights."""
    from kcompat.layers import BaseConvTranspose

    if not isinstance(layer, BaseConvTranspose):
        what = type(layer).__name__
        hint = (" (a TF1 variable scope holds variables, not a layer: pass the layer object, or its config)"
                if what == "VariableScope" else "")
        raise TypeError("assert_parity compares a kcompat transposed-convolution layer or a Keras config dict. "
                        f"Received: a {what}{hint}")
    if getattr(layer, "_graph_owner", None) is None:
        return layer
    copy = type(layer).from_config(layer.get_config())
    if layer.built:
        copy.set_weights(layer.get_weights())
    return copy


def tf_arguments(layer):
    """The arguments TensorFlow needs to build the same computation as the kcompat ``layer``."""
    from kcompat import activations

    name = activations.serialize(layer.activation)
    if not isinstance(name, str) or activations.get(name) is not layer.activation:
        raise ValueError(
            f"assert_parity needs a Keras activation TensorFlow can build; layer {layer.name!r} has "
            f"activation={layer.activation!r}")
    return {
        "filters": layer.filters, "kernel_size": tuple(layer.kernel_size), "strides": tuple(layer.strides),
        "padding": layer.padding, "output_padding": layer.output_padding, "data_format": layer.data_format,
        "dilation_rate": tuple(layer.dilation_rate), "activation": name, "use_bias": layer.use_bias,
        "dtype": layer.dtype_policy.name,
    }


def _with_batch(layer, input_shape):
    """``input_shape`` with the batch axis (2) where it has none: one entry short of a spatial
    layer's rank (a Conv2D's (8, 8, 3)), or a lone axis (a Dense's (5,): Keras layers take
    (batch, ...)); else as given."""
    shape = tuple(input_shape)
    rank = getattr(layer, "rank", None)
    if isinstance(rank, int) and not isinstance(rank, bool):
        return (2, *shape) if len(shape) == rank + 1 else shape
    return (2, *shape) if len(shape) == 1 else shape


def _full_shape(input_shape, rank):
    shape = tuple(int(n) for n in input_shape)
    if len(shape) == rank + 1:
        return (2, *shape)
    if len(shape) != rank + 2:
        raise ValueError(
            f"`input_shape` must have {rank + 1} entries (no batch axis) or {rank + 2} (with it). "
            f"Received: input_shape={tuple(input_shape)}")
    return shape


def representable(array, dtype_name):
    """``array`` rounded to what a half compute dtype holds, as float32, so that both sides get
    exactly the same values (other dtypes: unchanged)."""
    half = _HALF.get(dtype_name)
    if half is None:
        return array
    return torch.tensor(array).to(half).float().numpy()


def _numpy(t):
    t = t.detach().cpu()
    return (t.float() if t.dtype in (torch.float16, torch.bfloat16) else t).numpy()


def _run_ours(layer, x, upstream_seed, grads, numpy_dtype, compute_name, ambiguous=None):
    """Forward (and backward) of the kcompat layer; the layer's own ``.grad`` s are left as found.
    ``ambiguous(output)``: ``(mask, changed)`` of output entries whose upstream gradient is set
    to zero (``changed``: those where that changes our gradient, counted in ``"ambiguous"``)."""
    params = list(layer.parameters(recurse=False))  # the variables, as stored
    saved = [(p.grad, p.requires_grad) for p in params]
    try:
        for p in params:
            p.grad = None
            p.requires_grad_(True)
        device = params[0].device
        xt = torch.tensor(x, device=device).to(layer.compute_dtype).requires_grad_(grads)
        y = layer(xt)
        out = {"output": _numpy(y)}
        if grads:
            rng = np.random.default_rng(upstream_seed)
            upstream = representable(rng.standard_normal(tuple(y.shape)).astype(numpy_dtype), compute_name)
            if ambiguous is not None:
                mask, changed = ambiguous(out["output"])
                upstream[mask] = 0
                out["ambiguous"] = int(changed.sum())
            (y * torch.tensor(upstream, device=device).to(y.dtype)).sum().backward()
            out["upstream"] = upstream
            out["grads"] = [_numpy(xt.grad)] + [_numpy(g) for g in layer.keras_grads()]
        return out
    finally:
        for p, (grad, requires) in zip(params, saved):
            p.grad = grad
            p.requires_grad_(requires)


# Output values where activations have a kink (a jump in their derivative).
_KINKS = {"relu": (0.0,), "relu6": (0.0, 6.0), "leaky_relu": (0.0,), "selu": (0.0,), "hard_sigmoid": (0.0, 1.0),
          "hard_silu": (0.0, 3.0), "hard_swish": (0.0, 3.0), "hard_tanh": (-1.0, 1.0)}


def _near_kinks(config, rtol, output_terms, summed):
    """``fn(output) -> (mask, changed)``: the entries within the output tolerance of the
    activation's kinks where rounding can put them on either side (either side agrees with
    TensorFlow, but the gradient differs), and those of them not exactly on a kink; ``None``
    for smooth activations. ``output_terms(output_shape)``: the output's term scale
    (:func:`.tolerance.output_terms`); ``summed(output_shape)``: where products are summed into an entry
    (:func:`.tolerance.summed_entries`). An entry no product lands in is the bias, exactly, on both
    sides: it is never masked, so that a gradient differing exactly at a kink is caught."""
    kinks = _KINKS.get(config["activation"])
    if not kinks:
        return None

    def near(y):
        band = rtol * max(1.0, float(np.max(np.abs(y))) if y.size else 1.0, output_terms(y.shape))
        near = np.any([np.abs(y - k) <= band for k in kinks], axis=0) & summed(y.shape)
        return near, near & ~np.isin(y, kinks)  # the second: where our gradient changes

    return near



# --------------------------------------------------------------------------- the checks
def check_parity(layer_or_config, input_shape, *, reference="keras", dtype=None, grads=True, rtol=None,
                 atol=None, seed=0, oracle=None, training=None) -> ParityResult:
    """Compare a kcompat layer (or a Keras config) with TensorFlow; see :func:`assert_parity`."""
    from ..layers import BaseConvTranspose, Layer

    if isinstance(layer_or_config, Layer) and not isinstance(layer_or_config, BaseConvTranspose):
        from .layer_parity import check_layer

        if reference not in ("keras", "tf_keras"):
            raise ValueError(f"{type(layer_or_config).__name__} is compared with Keras: `reference` must be 'keras' "
                             f"or 'tf_keras'. Received: reference={reference!r}")
        require_tensorflow(reference)
        shape = [_with_batch(layer_or_config, s) for s in input_shape] if isinstance(input_shape, list) else \
            _with_batch(layer_or_config, input_shape)
        return check_layer(layer_or_config, shape, reference=reference, training=training, grads=grads, seed=seed,
                           oracle=oracle)
    return compare_implementations(layer_or_config, input_shape, reference=reference, dtype=dtype, grads=grads,
                                   rtol=rtol, atol=atol, seed=seed, oracle=oracle)[0]


def compare_implementations(layer_or_config, input_shape, *, reference="keras", dtype=None, grads=True, rtol=None,
                            atol=None, seed=0, oracle=None, peers=None):
    """:func:`check_parity`, plus other implementations judged on the same inputs and weights.

    ``peers``: ``{name: fn(tf_config, x, weights, upstream)}`` returning ``{"output": array,
    "grads": [d_input, d_kernel(, d_bias)]}`` (grads only when ``upstream`` fits the output);
    an exception is that implementation refusing the configuration.

    Returns ``(kcompat's ParityResult, {name: ParityResult})``; peers are not run on
    configurations kcompat refuses at construction.
    """
    from .tf_oracle import TFError, WorkerCrashed, default_oracle, route

    if reference not in REFERENCES:
        raise ValueError(f"`reference` must be one of {REFERENCES}. Received: reference={reference!r}")
    require_tensorflow(reference)
    oracle = oracle or default_oracle()
    if isinstance(layer_or_config, torch.nn.Module):
        layer_or_config = _standalone(layer_or_config)
        rank = layer_or_config.rank
    else:
        rank = config_rank(layer_or_config, input_shape)
    shape = _full_shape(input_shape, rank)
    rng = np.random.default_rng(seed)
    if isinstance(layer_or_config, torch.nn.Module):
        layer = layer_or_config
        if dtype is not None and layer.dtype_policy.name != dtype:
            raise ValueError(
                f"`dtype` is {dtype!r} but layer {layer.name!r} has dtype policy {layer.dtype_policy.name!r}; "
                "leave `dtype=None` to compare in the layer's own dtype.")
    else:
        config = dict(layer_or_config)
        try:
            layer = _layer_from_config(config, reference, dtype, rank)
        except (ValueError, TypeError) as ours:
            tf_config = {k: v for k, v in config.items() if k in CALL_KEYS}
            if dtype is not None:
                tf_config["dtype"] = dtype
            status, message = "refuses", f"kcompat: {type(ours).__name__}: {ours}"
            try:
                oracle.run(tf_calls.layer_construct,
                            reference=reference, config=tf_config, rank=rank)
            except TFError as theirs:
                status, message = "refused", f"kcompat: {ours} | TensorFlow: {short_error(theirs)}"
            return ParityResult(reference, tf_config, shape, str(tf_config.get("dtype", "float32")), status,
                                message=message), {}
    tf_config = tf_arguments(layer)
    policy = layer.dtype_policy.name
    compute_name = policy[len("mixed_"):] if policy.startswith("mixed_") else policy
    channels = shape[-1 if layer.data_format == "channels_last" else 1]
    numpy_dtype = np.float64 if compute_name == "float64" else np.float32
    x = representable(rng.standard_normal(shape).astype(numpy_dtype), compute_name)
    if not layer.built:
        kernel = rng.standard_normal((*layer.kernel_size, layer.filters, channels))
        weights = [kernel] + ([rng.standard_normal(layer.filters)] if layer.use_bias else [])
        layer.set_weights([representable(w.astype(numpy_dtype), compute_name) for w in weights])
    weights = [w if w.dtype == numpy_dtype else w.astype(numpy_dtype) for w in layer.get_weights()]
    tolerances = (TOLERANCES[compute_name] if rtol is None else rtol,
                  GRAD_TOLERANCES.get(compute_name, TOLERANCES[compute_name]) if rtol is None else rtol, atol)

    # Worked out once: the kink check (during our run) and the judge both need it.
    output_terms = functools.cache(lambda output_shape: tolerance.output_terms(tf_config, x, weights, output_shape))
    summed = functools.cache(lambda output_shape: tolerance.summed_entries(tf_config, x, weights, output_shape))
    try:
        ours = _run_ours(layer, x, seed + 1, grads, numpy_dtype, compute_name,
                         _near_kinks(tf_config, tolerances[0], output_terms, summed))
    except (ValueError, TypeError, RuntimeError) as exc:
        ours = exc
    refused = isinstance(ours, Exception)
    # TF's oneDNN kernel skips TF's own shape checks on sizes TF refuses, and computes no
    # half precision: those go to TF's default kernel.
    flavour = route(tf_config, numpy_dtype if compute_name in ("float32", "float64") else np.float64, rank)
    notes = ()
    unreliable = tensorflow_unreliable(tf_config, rank)
    if unreliable:
        notes = ("3-D with a kernel axis smaller than its stride: TensorFlow's oneDNN kernel corrupts memory "
                 "and its default CPU kernel returns wrong input gradients for some such shapes; TensorFlow "
                 "(default kernel) decides the shape or the refusal, the numbers are compared with a float64 "
                 "reference (kcompat.testing.numpy_reference, TensorFlow's activation)",)
    if not refused and keras3_bias_defect(reference, tf_config, ours["output"].shape, flavour):
        flavour = "eigen"
        notes = ("Keras 3's oneDNN path adds the bias on the wrong axis here (channels_first, output "
                 "width == filters): compared with TF's default kernel",)
    if not refused and ours.get("ambiguous"):
        notes += (f"the upstream gradient is zero on output entries within tolerance of {tf_config['activation']}'s "
                  "kink, where either side agrees with TensorFlow's output but the gradients differ",)
    upstream = None if refused or not grads else ours["upstream"]
    try:
        if refused:
            # TF's default kernel checks sizes (oneDNN skips the check), but its rewrite of
            # channels_first/dilation would skip Keras's argument checks: both must accept.
            theirs = oracle.layer_call(reference, tf_config, x, weights, upstream, flavour="eigen")
        if not refused or flavour != "eigen":
            theirs = oracle.layer_call(reference, tf_config, x, weights, upstream, flavour=flavour)
    except (TFError, WorkerCrashed) as exc:
        theirs = exc
    if isinstance(theirs, WorkerCrashed) and default_kernel(flavour):
        # TF bundles the oneDNN whose deconvolution aborts with one channel or filter (see
        # kcompat.functional): ask TF's default kernel instead, and say so.
        other = default_kernel(flavour)
        notes += (f"TensorFlow's {flavour} kernel crashed here ({theirs}); compared with its {other} kernel",)
        flavour = other
        theirs = _tf_outcome(oracle, reference, tf_config, x, weights, upstream, flavour)
    if unreliable and not refused and not isinstance(theirs, Exception) \
            and theirs["output"].shape == ours["output"].shape:
        theirs = float64_reference(oracle, reference, tf_config, x, weights, upstream, ours["output"].shape)
    terms = {}
    if not refused and atol is None:
        terms["output"] = output_terms(ours["output"].shape)
        if upstream is not None:
            terms.update(tolerance.gradient_terms(tf_config, x, weights, upstream))
    tolerances += (terms,)

    def judge(name, outcome):
        return _judge(name, outcome, theirs, grads and upstream is not None, tolerances,
                      ParityResult(reference, tf_config, shape, policy, "match", implementation=name, notes=notes))

    peer_results = {}
    for name, fn in (peers or {}).items():
        try:
            outcome = fn(tf_config, x, weights, upstream)
        except Exception as exc:  # noqa: BLE001 - any exception is that implementation refusing
            outcome = exc
        peer_results[name] = judge(name, outcome)
    result = judge("kcompat", ours)
    if result.status == "mismatch" and not unreliable and theirs["output"].shape == ours["output"].shape:
        result = _cross_check(result, oracle, reference, flavour, tf_config, x, weights, upstream, ours,
                              lambda name, outcome, against: _judge(name, outcome, against, grads and upstream is not None,
                                                                  tolerances, result))
    return result, peer_results


def _tf_outcome(oracle, reference, config, x, weights, upstream, flavour):
    """TensorFlow's layer call, or the exception it (or its worker) ended in."""
    from .tf_oracle import TFError, WorkerCrashed

    try:
        return oracle.layer_call(reference, config, x, weights, upstream, flavour=flavour)
    except (TFError, WorkerCrashed) as exc:
        return exc


def _cross_check(result, oracle, reference, flavour, config, x, weights, upstream, ours, judge):
    """kcompat differs from TensorFlow: ask TF's other CPU kernel and the float64 reference
    before blaming kcompat. Where kcompat agrees with the reference, TF's kernel was wrong: the
    result is kcompat against the reference, with a note naming the wrong kernel; otherwise
    the mismatch stands, with a note of what the cross-check saw."""
    reference64 = float64_reference(oracle, reference, config, x, weights, upstream, ours["output"].shape)
    # oneDNN is only safe (and only computes) float32 with every kernel axis covering its
    # stride: where TF's default kernel was asked, the float64 reference alone decides.
    other = default_kernel(flavour)
    if other is not None:
        other_outcome = _tf_outcome(oracle, reference, config, x, weights, upstream, other)
    ours_vs_reference = judge("kcompat", ours, reference64)
    off = [d for d in result.differences if not d.ok]
    wrong = ", ".join(d.name for d in off) + f" (relative error up to {max(d.max_rel for d in off):.3g})"
    if other is None:
        other_text = "TensorFlow's other CPU kernel cannot run this case"
    elif isinstance(other_outcome, Exception):
        other_text = f"TensorFlow's {other} kernel failed ({short_error(other_outcome)})"
    else:
        agrees = judge(other, other_outcome, reference64).ok
        other_text = f"TensorFlow's {other} kernel {'agrees' if agrees else 'disagrees'} with the reference"
    if ours_vs_reference.ok:
        note = (f"TensorFlow's {flavour} kernel is wrong here: its {wrong} differ from kcompat's, which agree with "
                f"the float64 reference (kcompat.testing.numpy_reference + TensorFlow's activation); {other_text}; "
                "compared with the reference")
        return replace(ours_vs_reference, notes=result.notes + (note,))
    note = f"cross-check: kcompat also differs from the float64 reference; {other_text}"
    return replace(result, notes=result.notes + (note,))


def _judge(name, ours, theirs, grads, tolerances, template):
    """The :class:`ParityResult` of one implementation's outcome against TensorFlow's."""
    from .tf_oracle import WorkerCrashed

    def result(status, differences=(), message=""):
        return replace(template, status=status, differences=tuple(differences), message=message)

    ours_refused = isinstance(ours, Exception)
    if isinstance(theirs, WorkerCrashed):
        return result("crashed", message=str(theirs))
    if isinstance(theirs, Exception):
        if ours_refused:
            return result("refused", message=f"{name}: {ours} | TensorFlow: {short_error(theirs)}")
        return result("accepts", message=f"TensorFlow: {short_error(theirs)}")
    if ours_refused:
        return result("refuses", message=f"{name}: {type(ours).__name__}: {ours}")
    if ours["output"].shape != theirs["output"].shape:
        return result("mismatch", message=f"output shape {ours['output'].shape} != TensorFlow's "
                      f"{theirs['output'].shape}")
    rtol, grad_rtol, atol, terms = tolerances
    differences = [tolerance.compare("output", ours["output"], theirs["output"], rtol, atol, terms.get("output", 0.0))]
    if grads and "grads" in ours:
        for label, a, b in zip(("d_input", "d_kernel", "d_bias"), ours["grads"], theirs["grads"]):
            differences.append(tolerance.compare(label, a, b, grad_rtol, atol, terms.get(label, 0.0)))
    return result("match" if all(d.ok for d in differences) else "mismatch", differences)


def assert_parity(layer_or_config: torch.nn.Module | Mapping[str, Any], input_shape: Sequence[Any], *,
                  reference: str = "keras", dtype: str | None = None, grads: bool = True, rtol: float | None = None,
                  atol: float | None = None, seed: int = 0, oracle: Any = None,
                  training: bool | None = None) -> ParityResult:
    """Assert that a kcompat layer computes what TensorFlow computes, forward and backward.

    Any kcompat layer is taken: the transposed convolutions through this module's engine (its
    routing around TensorFlow's defective kernels, cross-checks and float64 reference), the
    others (Dense, Conv2D, BatchNormalization, pooling, ...) through
    :func:`kcompat.testing.layer_parity.check_layer` (``input_shape`` with the batch axis; a
    list of shapes for a merging layer; ``training`` Keras's flag for both calls).

    Builds TensorFlow's layer for the same configuration, gives both the same weights (the
    layer's own; random ones if it is not built yet) and the same random input, runs forward
    and backward and compares the output and the gradients for the input, kernel and bias.

    Args:
        layer_or_config: a kcompat layer (``kcompat.Conv1DTranspose``/``2D``/``3D``,
            ``kcompat.compat.v1.layers.Conv2DTranspose``/``3D``) or a Keras config dict (Keras 3 or 2).
        input_shape: the input's shape, with or without the batch axis (batch 2 if absent).
        reference: ``"keras"`` (Keras 3), ``"tf_keras"`` (Keras 2), ``"tf1"``
            (``tf.compat.v1.layers``) or ``"tf.nn"`` (``tf.nn.conv2d_transpose`` + ``bias_add``
            + activation, at Keras's output shape).
        dtype: dtype policy (``"float32"``, ``"float64"``, ``"float16"``, ``"bfloat16"``,
            ``"mixed_float16"``, ``"mixed_bfloat16"``). ``None``: the layer's own, or float32
            for a config.
        grads: also compare the gradients of ``sum(output * upstream)`` (random upstream).
        rtol, atol: tolerances (see the module doc); default per compute dtype, :data:`TOLERANCES`.
        seed: seeds the input, the upstream gradient and the weights of an unbuilt layer.

    Returns:
        The :class:`ParityResult` (``max_abs``, ``max_rel``, per-tensor ``differences``). A
        configuration both refuse passes, with status ``"refused"``.

    Raises:
        AssertionError: with the report, when the numbers or shapes differ or only one side
            refuses the configuration.
        TensorFlowMissing: TensorFlow (or ``tf_keras``) is not installed.
    """
    result = check_parity(layer_or_config, input_shape, reference=reference, dtype=dtype, grads=grads, rtol=rtol,
                          atol=atol, seed=seed, oracle=oracle, training=training)
    if not result.ok:
        raise AssertionError(str(result))
    return result
