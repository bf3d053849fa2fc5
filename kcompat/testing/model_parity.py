"""Whole-model parity: a ported model against the Keras model TensorFlow loads from the same file.

Two comparisons, one pass each side:

- **the whole model**: its outputs, the gradients of ``sum(output * upstream)`` for its inputs
  and every weight, and the weights after the pass (a training BatchNormalization's moving
  statistics), judged at :data:`MODEL_TOLERANCES` (rounding accumulates with depth);
- **every layer call, on the activations the model really produces**: each layer of the port is
  called alone on the inputs that layer receives inside TensorFlow's model and must give what
  TensorFlow's layer gives on them (output; gradients for its inputs and weights, under the
  upstream gradient it receives there), judged at the project's per-layer tolerance. A nested
  model is checked the same way, layer by layer, on what it receives. The first layer that
  differs is where a port went wrong: later ones are judged on TensorFlow's inputs, not on the
  port's drifted ones.

The port is any ``torch.nn.Module`` whose submodules carry the Keras layer names
(:func:`kcompat.load_model`'s, or the source ``kcompat-port`` writes); its state is restored
after the check.
"""

from __future__ import annotations

import copy
import os
import tempfile
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from . import tf_calls
from .result import ParityResult, short_error
from .tolerance import compare, peak_root, rtol_for

__all__ = ["MODEL_TOLERANCES", "ModelParity", "assert_model_parity", "check_model_parity"]

# The whole model's rule: rounding differences grow through the layers (a BatchNormalization in
# training divides by a batch's spread), so the end-to-end figures get ten times a layer's rtol.
MODEL_TOLERANCES = {"float32": 1e-4, "float64": 1e-11}
# An ill-conditioned figure (see _judge_in_float64): the port's float32 distance from its float64
# run may be this many times TensorFlow's own (two draws of rounding noise), and at most this
# fraction of the figure's scale.
DRIFT, DRIFT_CAP = 4.0, 0.1
UNKNOWN_AXIS = 32  # an input axis the model leaves unknown (fully convolutional models)
BATCH = 2
RANDOM_LAYERS = ("Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianDropout",
                 "GaussianNoise", "AlphaDropout")


@dataclass(frozen=True)
class ModelParity:
    """What :func:`check_model_parity` found: the whole model's :class:`~.result.ParityResult`
    and one per layer call (``rows``: ``(path, result)`` in graph order; a nested model's layers
    as ``outer.inner``), and the first layer call that differs (forward first, then backward)."""

    path: str
    reference: str
    whole: ParityResult
    rows: tuple
    first_divergence: str = ""  # "layer 'up1' (Conv2DTranspose), forward: ...", or "" when none

    @property
    def ok(self) -> bool:
        return self.whole.ok and all(r.ok for _, r in self.rows)

    def __str__(self):
        failed = [(p, r) for p, r in self.rows if not r.ok]
        head = (f"the port matches {self.path} as TensorFlow runs it ({self.reference}; {len(self.rows)} layer calls)"
                if self.ok else f"the port DIFFERS from {self.path} as TensorFlow runs it ({self.reference}; "
                                f"{len(failed)} of {len(self.rows)} layer calls differ)")
        lines = [head]
        if self.first_divergence:
            lines.append(f"first divergence: {self.first_divergence}")
        lines.append("whole model:\n" + "\n".join(f"  {d}" for d in self.whole.differences))
        lines += [f"  note: {n}" for n in self.whole.notes]
        if self.whole.message:
            lines.append(f"  {self.whole.message}")
        for path, result in failed[:8]:
            lines.append(f"layer {path!r}:\n" + "\n".join(f"  {d}" for d in result.differences if not d.ok) +
                         (f"\n  {result.message}" if result.message else ""))
        return "\n".join(lines)


def _model_file(model_or_path, directory):
    """``(path, reference)`` of a Keras file, or of a live Keras model saved into ``directory``."""
    if isinstance(model_or_path, (str, os.PathLike)):
        path = os.fspath(model_or_path)
        if not os.path.exists(path):
            raise FileNotFoundError(f"keras_file_or_model: no such file: {path}")
        return path, None
    if not (hasattr(model_or_path, "save") and hasattr(model_or_path, "get_config")):
        raise TypeError("keras_file_or_model must be a Keras model file (.keras, .h5) or a Keras model; received "
                        f"{type(model_or_path).__name__}")
    keras2 = type(model_or_path).__module__.startswith("tf_keras")
    path = os.path.join(directory, "model.h5" if keras2 else "model.keras")
    model_or_path.save(path)
    return path, "tf_keras" if keras2 else "keras"


def _read(path):
    """The file's call graph (:mod:`kcompat.models.graph`) and the Keras generation that wrote it."""
    from ..formats import saved_model
    from ..formats.keras_files import open_model_file
    from ..models import graph as graph_module

    if saved_model.is_saved_model(path):  # written by tf.keras only
        config, references = saved_model.read_keras_config(path), {"tf_keras"}
    else:
        with open_model_file(path) as source:
            config = source.config
            references = {layer.reference for layer in source.layers}
    if config is None:
        raise ValueError(f"{path} holds weights but no model config: compare against a .keras or whole-model .h5 file")
    keras2 = "tf_keras" in references or (not references and str(config.get("keras_version", "")).startswith("2"))
    try:
        return graph_module.parse(config), "tf_keras" if keras2 else "keras"
    except graph_module.ConfigError as exc:
        raise ValueError(f"{path}: {exc}") from None


def _configs(graph):
    for spec in graph.layers:
        yield spec
        if spec.graph is not None:
            yield from _configs(spec.graph)


def _flavour(graph, reference):
    """The TensorFlow worker able to run the model: TF's default CPU kernels, unless a layer needs
    oneDNN's (channels_first, dilated transposed convolutions); refused where oneDNN's transposed
    convolution would corrupt the process (a kernel axis below its stride)."""
    needs_onednn, unsafe = [], []
    for spec in _configs(graph):
        config = spec.config
        if config.get("data_format") == "channels_first" or any(d != 1 for d in _ints(config.get("dilation_rate", 1))):
            needs_onednn.append(spec.name)
        if spec.class_name.endswith("Transpose") and any(
                k < s for k, s in zip(_ints(config.get("kernel_size", 1)), _ints(config.get("strides", 1)))):
            unsafe.append(spec.name)
    if needs_onednn and unsafe:
        raise ValueError(f"TensorFlow's CPU kernels cannot run this model: layers {needs_onednn} need oneDNN's, and "
                         f"oneDNN's transposed convolution corrupts memory on {unsafe} (a kernel axis below its stride)")
    flavour = "onednn" if needs_onednn else "eigen"
    return flavour + ("-tf1" if reference == "tf_keras" else "")


def _ints(value):
    return [int(v) for v in (value if isinstance(value, (list, tuple)) else [value])]


def _inputs(graph, inputs, seed):
    """The model inputs as numpy arrays: the given ones, or random ones of the config's shapes."""
    if inputs is not None:
        given = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        given = [np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x) for x in given]
        if len(given) != len(graph.inputs):
            raise ValueError(f"inputs: the model takes {len(graph.inputs)} input(s) ({', '.join(graph.input_names)}); "
                             f"received {len(given)}")
        return given
    rng = np.random.default_rng(seed)
    out = []
    for name, spec in zip(graph.input_names, graph.input_specs):
        if spec is None:
            raise ValueError(f"inputs: the model's config gives no shape for input {name!r}; pass inputs=")
        shape = (BATCH, *(UNKNOWN_AXIS if d is None else d for d in spec[0][1:]))
        dtype = np.dtype(spec[1]) if spec[1] in ("float16", "float32", "float64", "int32", "int64") else np.float32
        out.append(rng.integers(0, 2, shape).astype(dtype) if dtype.kind == "i" else
                   rng.standard_normal(shape).astype(dtype))
    return out


def _refuse_random(graph, training):
    if not training:
        return
    drawn = [f"{s.name!r} ({s.class_name})" for s in _configs(graph) if s.class_name in RANDOM_LAYERS]
    if drawn:
        raise ValueError(f"training=True: layers {', '.join(drawn)} draw random numbers, which TensorFlow and torch "
                         "draw differently; compare them with training=False")


def _flat(structure):
    if isinstance(structure, (list, tuple)):
        return [t for v in structure for t in _flat(v)]
    if isinstance(structure, dict):
        return [t for v in structure.values() for t in _flat(v)]
    return [structure]


def _grads_of(module):
    """Keras-order gradients of a kcompat layer's weights (``None`` for buffers), ``None`` for another module."""
    keras_grads = getattr(module, "keras_grads", None)
    return None if keras_grads is None or not getattr(module, "WEIGHTS", ()) else keras_grads()


def _term_scales(layer, inputs, upstream, extra):
    """Per gradient, the largest root-sum-square of the terms summed into one entry (the
    tolerance rule's ``terms``: a bias gradient over a 128x128 output sums 16384 of them) for
    layers linear in their input and each weight (Dense, the convolutions): the layer in
    float64 on the squares of its input, weights and upstream gradient, its activation left
    out (a Keras activation's slope, at most about 1, only shrinks the terms). ``{}`` for the rest."""
    from .. import activations
    from ..layers import BatchNormalization

    if isinstance(layer, BatchNormalization) and len(inputs) == 1 and len(upstream) == 1:
        return _normalization_terms(layer, inputs[0], upstream[0], extra)
    if getattr(layer, "activation", None) is None or not getattr(layer, "WEIGHTS", ()) or len(inputs) != 1 \
            or len(upstream) != 1:
        return {}
    twin = copy.deepcopy(layer).double()
    twin.activation = activations.linear
    with torch.no_grad():
        for p in twin.parameters():
            p.square_()
    x = torch.tensor(np.square(inputs[0], dtype=np.float64), requires_grad=True)
    twin(x, **extra).backward(torch.tensor(np.square(upstream[0], dtype=np.float64)))
    scales = {"d_input": float(x.grad.max().sqrt())}
    for name, g in zip(twin.weight_names(), twin.keras_grads()):
        if g is not None and g.numel():
            scales[f"d_{name}"] = float(g.max().sqrt())
    return scales


def _normalization_terms(layer, x, dy, extra):
    """BatchNormalization's gradient terms: ``d_beta`` sums the upstream gradient over every
    entry of a channel, ``d_gamma`` the upstream times the normalized input; both cancel to
    little where a later batch-statistics layer makes the upstream sum to zero, leaving float32
    rounding of the terms' size (seen: MobileNetV2 in training, 256 terms of about 2 summing to
    1e-5)."""
    x, dy = np.asarray(x, np.float64), np.asarray(dy, np.float64)
    axis = layer.axis % x.ndim
    others = tuple(a for a in range(x.ndim) if a != axis)
    shape = [1] * x.ndim
    shape[axis] = -1
    training = layer.training if extra.get("training") is None else bool(extra["training"])
    if training and getattr(layer, "trainable", True):
        mean, var = x.mean(others), x.var(others)
    else:
        mean, var = (np.asarray(layer.get_weights()[i], np.float64) for i in (-2, -1))
    normalized = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + layer.epsilon)
    scales = {"d_beta": peak_root(np.square(dy).sum(others))}
    scales["d_gamma"] = peak_root(np.square(dy * normalized).sum(others))
    return scales


def _layer_rows(module, graph, trace, xs, prefix, grads, rtol, reference, dtype, rows, terms_by_weight=None):
    """One row per layer call of ``graph`` (run by ``module``), each layer on TensorFlow's activations;
    ``terms_by_weight`` collects each weight gradient's terms (``d_<path>.<weight>``: their size
    over every call, from TensorFlow's activations and upstream) for the whole model's rule."""
    from ..models.graph import TensorRef, call_arguments, call_training, refs, resolve
    from ..models.module import convention, invoke

    values = {ref: x for ref, x in zip(graph.inputs, xs)}
    for record in trace["calls"]:
        for i, y in enumerate(record["outputs"]):
            values[TensorRef(record["layer"], record["node"], i)] = y
    specs = {spec.name: spec for spec in graph.layers}
    for record in trace["calls"]:
        spec = specs.get(record["layer"])
        path = prefix + record["layer"]
        label = path if len(spec.calls) < 2 else f"{path} (call {record['node']})"
        shape = record["input_shapes"][0] if record["input_shapes"] else ()
        template = ParityResult(reference, dict(spec.config, class_name=spec.class_name), shape, dtype, "match")
        sub = module._modules[spec.attr]
        call = spec.calls[record["node"]]
        if spec.graph is not None:
            inner_inputs = [values[r] for r in refs(call.inputs)]
            mode, own = sub.training, call_training(graph, call)  # Keras 2: base(x, training=False)
            sub.train(mode if own is None else own)
            try:
                inner = _compare(sub, spec.graph, record["inner"], inner_inputs, path + ".", grads, rtol, reference,
                                 dtype, rows, record.get("d_outputs"))
            finally:
                sub.train(mode)
            rows.append((label, replace(inner, config=template.config, input_shape=shape)))
            continue
        tensors = {r: torch.tensor(values[r], requires_grad=grads) for r in refs([call.inputs, call.kwargs])}
        inputs = resolve(call.inputs, tensors)  # one tensor per reference: attention's value=x is its query
        flat_inputs = [t for t in _flat(inputs) if isinstance(t, torch.Tensor)]  # an op's constants aside
        training = call_training(graph, call)
        extra = {} if training is None else {"training": training}
        kind = convention(spec, sub)
        if getattr(kind, "takes_call_arguments", False):  # an op node: its own arguments, TF's tensors among them
            extra = call_arguments(call, tensors)
        differences = []
        try:
            y = invoke(sub, inputs, extra, kind)
        except (ValueError, TypeError, RuntimeError) as exc:
            rows.append((label, replace(template, status="refuses", message=f"kcompat: {short_error(exc)}")))
            continue
        ys = _flat(y)
        theirs = record["isolated"]
        if [tuple(t.shape) for t in ys] != [a.shape for a in theirs]:
            rows.append((label, replace(template, status="mismatch", message=f"output shapes "
                                        f"{[tuple(t.shape) for t in ys]} != TensorFlow's {[a.shape for a in theirs]}")))
            continue
        for i, (ours, their) in enumerate(zip(ys, theirs)):
            differences.append(compare("output" if len(ys) == 1 else f"output{i}", ours.detach().numpy(), their,
                                       rtol, None))
        if grads:
            if hasattr(sub, "zero_grad"):
                sub.zero_grad(set_to_none=True)
            torch.autograd.backward([t for t in ys if t.requires_grad],
                                    [torch.tensor(g) for t, g in zip(ys, record["d_outputs"]) if t.requires_grad])
            terms = _term_scales(sub, [values[r] for r in refs(call.inputs)], record["d_outputs"], extra)
            if terms_by_weight is not None:
                for name, size in terms.items():
                    if name != "d_input":  # a weight's gradient sums its calls' terms
                        key = f"d_{path}.{name[2:]}"
                        terms_by_weight[key] = float(np.hypot(terms_by_weight.get(key, 0.0), size))
            for i, (x, g) in enumerate(zip(flat_inputs, record["d_inputs"])):
                ours = x.grad.numpy() if x.grad is not None else np.zeros_like(g)
                differences.append(compare("d_input" if len(flat_inputs) == 1 else f"d_input{i}", ours, g, rtol, None,
                                           terms.get("d_input", 0.0)))
            ours_w = _grads_of(sub)
            if ours_w is not None:
                for name, ours, g in zip(sub.weight_names(), ours_w, record["d_weights"]):
                    if g is not None:
                        differences.append(compare(f"d_{name}", np.zeros_like(g) if ours is None else ours.numpy(),
                                                   g, rtol, None, terms.get(f"d_{name}", 0.0)))
            if hasattr(sub, "zero_grad"):
                sub.zero_grad(set_to_none=True)
        ok = all(d.ok for d in differences)
        rows.append((label, replace(template, status="match" if ok else "mismatch", differences=tuple(differences))))


def _compare(module, graph, trace, xs, prefix, grads, rtol, reference, dtype, rows, upstream=None):
    """The whole ``module`` (the model, or a nested one at ``prefix``) on ``xs`` against ``trace``,
    then its layer calls (appended to ``rows``); returns the whole-model result."""
    model_rtol = MODEL_TOLERANCES.get(dtype, rtol * 10)
    refereed = grads and dtype == "float32"
    # The referee reruns the pass from where it started; only a training pass moves the state.
    start = copy.deepcopy(module.state_dict()) if refereed and module.training else None
    inputs = [torch.tensor(x, requires_grad=grads) for x in xs]
    figures = {}  # output or gradient name -> (the port's, TensorFlow's), for the float64 referee
    template = ParityResult(reference, {"class_name": "Model", "name": graph.name}, tuple(xs[0].shape), dtype, "match")
    differences = []
    try:
        y = module(*inputs)
    except (ValueError, TypeError, RuntimeError) as exc:
        whole = replace(template, status="refuses", message=f"kcompat: {short_error(exc)}")
    else:
        ys = _flat(y)
        theirs = trace["outputs"]
        if [tuple(t.shape) for t in ys] != [a.shape for a in theirs]:
            whole = replace(template, status="mismatch", message=f"output shapes {[tuple(t.shape) for t in ys]} != "
                                                                 f"TensorFlow's {[a.shape for a in theirs]}")
        else:
            for i, (ours, their) in enumerate(zip(ys, theirs)):
                name = "output" if len(ys) == 1 else f"output{i}"
                figures[name] = (ours.detach().numpy(), their)
                differences.append(compare(name, figures[name][0], their, model_rtol, None))
            leaves = _leaves(module, graph)
            for path, after in trace["weights_after"].items():
                if path in leaves and after:
                    for name, ours, their in zip(leaves[path].weight_names(), leaves[path].get_weights(), after):
                        if not leaves[path].keras_weight(name).requires_grad:  # what the pass moved
                            differences.append(compare(f"{path}.{name} after", ours, their, model_rtol, None))
            if grads:
                module.zero_grad(set_to_none=True)
                upstream = trace["upstream"] if upstream is None else upstream
                torch.autograd.backward(ys, [torch.tensor(np.asarray(u)) for u in upstream])
                ours = _gradients(leaves, inputs)
                for label, g in _tf_gradients(trace, len(inputs), leaves):
                    mine = ours.get(label)
                    figures[label] = (np.zeros_like(g) if mine is None else mine, g)
                    differences.append(compare(label, figures[label][0], g, model_rtol, None))
                module.zero_grad(set_to_none=True)
            missing = sorted(path for path, after in trace["weights_after"].items() if after and path not in leaves)
            whole = replace(template, status="match" if all(d.ok for d in differences) and not missing else "mismatch",
                            differences=tuple(differences),
                            message=f"layers of TensorFlow's model with no weights in the port: {missing}" if missing
                            else "")
    first = len(rows)
    terms = {}
    _layer_rows(module, graph, trace, xs, prefix, grads, rtol, reference, dtype, rows, terms)
    if any(not d.ok and d.name in terms for d in whole.differences):
        # A weight gradient is a sum over the whole batch: its rounding is the size of its terms
        # (a BatchNormalization's beta under an upstream that cancels), as for a layer alone.
        differences = [compare(d.name, figures[d.name][0], figures[d.name][1], model_rtol, None, terms[d.name])
                       if not d.ok and d.name in terms and d.name in figures else d for d in whole.differences]
        whole = replace(whole, differences=tuple(differences),
                        status="match" if all(d.ok for d in differences) and not whole.message else "mismatch")
    if refereed and any(not d.ok and d.name in figures for d in whole.differences) \
            and all(r.ok for _, r in rows[first:]) and all(d.ok for d in whole.differences if d.name not in figures):
        # Every layer's gradients match TensorFlow's on TensorFlow's own activations and upstream,
        # yet TF's whole-model gradients differ: TF's backward disagrees with its own layers.
        differences, notes = _referee(module, graph, start, xs, upstream, whole.differences, figures, model_rtol)
        whole = replace(whole, differences=tuple(differences), notes=tuple(notes),
                        status="match" if all(d.ok for d in differences) and not whole.message else "mismatch")
    return whole


def _leaves(module, graph):
    """``{Keras path: layer}`` of the port's layers with weights, by the names TensorFlow's trace
    uses (a Keras name that is no plain identifier is a mapped submodule name in the port)."""
    from ..models.graph import layer_paths

    leaves = {}
    for _, parts, path in layer_paths(graph):
        try:
            leaf = module.get_submodule(path)
        except AttributeError:
            continue
        if getattr(leaf, "WEIGHTS", ()):
            leaves[".".join(parts)] = leaf
    return leaves


def _gradients(leaves, inputs):
    """The port's gradients after a backward, named as the whole-model rows name them:
    ``d_input`` (``d_input{i}`` for several) and ``d_<layer path>.<weight>`` (Keras layout)."""
    out = {("d_input" if len(inputs) == 1 else f"d_input{i}"): x.grad.numpy() for i, x in enumerate(inputs)
           if x.grad is not None}
    for path, leaf in leaves.items():
        for name, g in zip(leaf.weight_names(), leaf.keras_grads()):
            if g is not None:
                out[f"d_{path}.{name}"] = g.numpy()
    return out


def _tf_gradients(trace, count, leaves):
    """TensorFlow's whole-model gradients, ``(name, array)`` in :func:`_gradients`' names, for the
    ``count`` inputs and the weights of the port's layers (``leaves``)."""
    for i, g in enumerate(trace["d_inputs"][:count]):
        yield ("d_input" if count == 1 else f"d_input{i}"), g
    for path, found in trace["weight_grads"].items():
        if path in leaves:
            for name, g in zip(leaves[path].weight_names(), found):
                if g is not None:
                    yield f"d_{path}.{name}", g


def _referee(module, graph, start, xs, upstream, differences, figures, model_rtol):
    """Where the port's whole-model outputs or gradients and TensorFlow's disagree although every
    layer's agree (each on TensorFlow's own activations and upstream), the port run again in
    float64 (from the state the pass started from) decides, by :func:`_judge_in_float64` (seen:
    tf_keras in training mode on the TF segmentation tutorial's MobileNetV2 U-Net, some decoder
    kernel gradients 5e-4..4e-3 off; a ResNet50 in training mode, whose gradients through 50
    batch-statistics layers drift 3% in either float32 run). ``figures``: name -> (the port's,
    TensorFlow's). Returns the differences as judged, and notes saying why."""
    twin = copy.deepcopy(module)
    if start is not None:  # a training pass moved the moving statistics
        twin.load_state_dict(start)
    twin.double()
    inputs = [torch.tensor(np.asarray(x, np.float64), requires_grad=True) for x in xs]
    ys = _flat(twin(*inputs))
    torch.autograd.backward(ys, [torch.tensor(np.asarray(u, np.float64)) for u in upstream])
    reference = _gradients(_leaves(twin, graph), inputs)
    reference.update({("output" if len(ys) == 1 else f"output{i}"): y.detach().numpy() for i, y in enumerate(ys)})
    return _judge_in_float64(differences, figures, reference, model_rtol)


def _judge_in_float64(differences, figures, reference, rtol):
    """Differences between the port's float32 figures and TensorFlow's judged against the port's
    float64 run (``reference``: name -> array; ``figures``: name -> (the port's, TensorFlow's)):
    a difference stands unless the port's figure is within tolerance of the float64 one, or
    drifts from it as TensorFlow's does (an ill-conditioned figure: gradients through dozens of
    batch-statistics layers, a sum that cancels to nothing, where float32 rounding moves either
    run by percents): within :data:`DRIFT` times TensorFlow's own distance and under
    :data:`DRIFT_CAP` of the figure's scale, float32 drift and not a wrong number. Returns the
    differences as judged, and notes saying which were judged so and why."""
    judged, notes = [], []
    for d in differences:
        if d.ok or d.name not in figures or d.name not in reference:
            judged.append(d)
            continue
        ours, theirs = figures[d.name]
        ours_vs, theirs_vs = (compare(d.name, a, reference[d.name], rtol, None) for a in (ours, theirs))
        if ours_vs.ok and not theirs_vs.ok:
            judged.append(ours_vs)
            notes.append(f"{d.name}: TensorFlow's is off the port's float64 run by {theirs_vs.max_rel:.1e} (the "
                         f"port's float32, {ours_vs.max_rel:.1e}): judged against the float64 run")
        elif not ours_vs.ok and ours_vs.max_abs <= DRIFT * theirs_vs.max_abs and ours_vs.max_rel <= DRIFT_CAP:
            judged.append(replace(ours_vs, ok=True))
            notes.append(f"{d.name}: both float32 runs drift from the float64 one (ill-conditioned), TensorFlow's by "
                         f"{theirs_vs.max_rel:.1e}, the port's by {ours_vs.max_rel:.1e}: float32 drift")
        else:
            judged.append(d)
    return judged, notes


def _first_divergence(rows):
    for path, result in rows:  # forward: the first call in graph order whose output differs
        bad = [d for d in result.differences if not d.ok and d.name.startswith("output")]
        if result.status in ("refuses", "accepts") or bad or (result.status == "mismatch" and not result.differences):
            what = str(bad[0]) if bad else result.message
            return f"layer {path!r} ({result.config.get('class_name')}), forward: {what}"
    for path, result in reversed(rows):  # backward runs the other way
        bad = [d for d in result.differences if not d.ok]
        if bad:
            return f"layer {path!r} ({result.config.get('class_name')}), backward: {bad[0]}"
    return ""


def check_model_parity(module: torch.nn.Module, keras_file_or_model: str | os.PathLike | Any, inputs: Any = None, *,
                       training: bool = False, grads: bool = True, rtol: float | None = None, seed: int = 0,
                       oracle: Any = None) -> ModelParity:
    """Compare ``module`` (a port whose submodules carry the Keras layer names) with the Keras
    model in ``keras_file_or_model`` (a ``.keras``/whole-model ``.h5`` file, or a Keras model),
    as TensorFlow runs it: the whole model and every layer call (see the module doc).

    ``inputs``: the model's inputs (arrays or tensors; a list for several), random ones of the
    config's shapes by default. ``training``: Keras's flag for both sides (layers that draw
    random numbers are refused then). ``rtol``: the per-layer tolerance (default the dtype's).
    """
    from .parity import require_tensorflow
    from .tf_oracle import TFError, default_oracle

    with tempfile.TemporaryDirectory(prefix="kcompat-model-") as directory:
        path, reference = _model_file(keras_file_or_model, directory)
        graph, written_by = _read(path)
        reference = reference or written_by
        require_tensorflow(reference)
        _refuse_random(graph, training)
        xs = _inputs(graph, inputs, seed)
        dtype = str(xs[0].dtype) if xs[0].dtype.kind == "f" else "float32"
        rtol = rtol_for(dtype) if rtol is None else rtol
        oracle = oracle or default_oracle()
        try:
            trace = oracle.call(_flavour(graph, reference), tf_calls.model_trace, path=path, reference=reference,
                                inputs=xs, training=bool(training), grads=grads)
        except TFError as exc:
            raise ValueError(f"{path}: TensorFlow cannot run this model ({short_error(exc)})") from None
    state, mode = copy.deepcopy(module.state_dict()), module.training
    rows = []
    try:
        module.train(bool(training))
        whole = _compare(module, graph, trace, xs, "", grads, rtol, reference, dtype, rows)
    finally:
        module.load_state_dict(state)
        module.train(mode)
        module.zero_grad(set_to_none=True)
    return ModelParity(os.fspath(keras_file_or_model) if isinstance(keras_file_or_model, (str, os.PathLike)) else
                       graph.name, reference, whole, tuple(rows), _first_divergence(rows) or (
                           "" if whole.ok else f"the whole model ({whole.message or 'see its figures'})"))


def assert_model_parity(module: torch.nn.Module, keras_file_or_model: str | os.PathLike | Any, inputs: Any = None, *,
                        training: bool = False, grads: bool = True, rtol: float | None = None, seed: int = 0,
                        oracle: Any = None) -> ModelParity:
    """:func:`check_model_parity`, raising ``AssertionError`` (naming the first layer that
    differs, with its figures) unless the port matches TensorFlow everywhere."""
    result = check_model_parity(module, keras_file_or_model, inputs, training=training, grads=grads, rtol=rtol,
                                seed=seed, oracle=oracle)
    if not result.ok:
        raise AssertionError(str(result))
    return result
