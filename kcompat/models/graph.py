"""A Keras model config as a call graph: pure data, no torch, no TensorFlow.

Keras writes a model's layers in call order; each layer config lists its calls
(``inbound_nodes``), each call the tensors it takes, named by ``(layer, node, tensor)``: the
``tensor``-th output of that layer's ``node``-th call. Keras 3 writes a call as
``{"args": [...], "kwargs": {...}}`` with ``__keras_tensor__`` objects (``keras_history``);
Keras 2 as a list of ``[layer, node, tensor, kwargs]``. Both are read into :class:`Call`.
A ``Sequential`` config is a chain; a nested model is a layer whose config has ``layers``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Call", "Graph", "LayerSpec", "TensorRef", "call_training", "parse", "refs", "resolve"]

CONTAINERS = {"Functional", "Sequential", "Model"}


@dataclass(frozen=True)
class TensorRef:
    """The ``tensor``-th output of the ``node``-th call of ``layer``."""

    layer: str
    node: int
    tensor: int


@dataclass
class Call:
    """One call of a layer: its inputs as a nested structure of :class:`TensorRef` (a tensor, or
    a list for layers that take several), and its keyword arguments (tensors among them too)."""

    inputs: object
    kwargs: dict = field(default_factory=dict)


@dataclass
class LayerSpec:
    """A layer of the model: its name, Keras class, config and calls (``graph`` for a nested model)."""

    name: str
    class_name: str
    config: dict
    calls: list
    graph: "Graph | None" = None


@dataclass
class Graph:
    """A model: its layers in call order, its inputs (Input layers) and outputs."""

    name: str
    layers: list
    inputs: list  # TensorRef per model input
    outputs: object  # TensorRef, or a list/dict of them
    sequential: bool = False
    input_names: list = field(default_factory=list)
    input_specs: list = field(default_factory=list)  # (batch shape, dtype name) per input, where the config says
    order: list = field(default_factory=list)  # (LayerSpec, node) per call, in an order that can run them
    keras2: bool = False  # written by Keras 2, whose calls keep their own training= (see call_training)

    def __post_init__(self):
        if not self.order:
            self.order = _schedule(self)


class ConfigError(ValueError):
    """A model config kcompat cannot read; the message says where."""


def refs(structure):
    """The :class:`TensorRef` s in a nested structure (a call's inputs or kwargs), in order."""
    if isinstance(structure, TensorRef):
        yield structure
    elif isinstance(structure, (list, tuple)):
        for v in structure:
            yield from refs(v)
    elif isinstance(structure, dict):
        for v in structure.values():
            yield from refs(v)


def resolve(structure, values):
    """``structure`` (a call's inputs or kwargs) with each :class:`TensorRef` replaced by its value
    in ``values``."""
    if isinstance(structure, TensorRef):
        try:
            return values[structure]
        except KeyError:
            raise ValueError(f"the model's graph uses output {structure.tensor} of call {structure.node} of "
                             f"layer {structure.layer!r}, which no earlier call made") from None
    if isinstance(structure, list):
        return [resolve(v, values) for v in structure]
    if isinstance(structure, dict):
        return {k: resolve(v, values) for k, v in structure.items()}
    return structure


def call_training(graph, call):
    """The ``training`` that ``call`` (of a layer of ``graph``) passes, or ``None`` for the
    model's mode. Keras 2 keeps a call's own ``training=`` whatever mode the model runs in
    (``Dropout(0.5)(x, training=True)`` draws in inference too; ``base(x, training=False)``
    stays in inference while fine-tuning); Keras 3 gives every layer the mode the model is
    called in, over what the call said."""
    value = call.kwargs.get("training")
    return value if graph.keras2 and isinstance(value, bool) else None


def _schedule(graph):
    """Every call once its inputs exist, in the config's layer order where that allows: Keras writes
    a layer at its first call, so a shared layer's later call may need tensors of later layers."""
    made = {(ref.layer, ref.node) for ref in graph.inputs}
    pending = [(spec, node) for spec in graph.layers if spec.class_name != "InputLayer"
               for node in range(len(spec.calls))]
    order = []
    while pending:  # the first ready call each time, so that the config's order decides
        ready = next((i for i, (spec, node) in enumerate(pending)
                      if all((r.layer, r.node) in made for r in refs([spec.calls[node].inputs, spec.calls[node].kwargs]))),
                     None)
        if ready is None:
            spec, node = pending[0]
            missing = next(r for r in refs([spec.calls[node].inputs, spec.calls[node].kwargs])
                           if (r.layer, r.node) not in made)
            raise ConfigError(f"model {graph.name!r}: call {node} of layer {spec.name!r} uses output {missing.tensor} "
                              f"of call {missing.node} of layer {missing.layer!r}, which no call of the model makes")
        spec, node = pending.pop(ready)
        order.append((spec, node))
        made.add((spec.name, node))
    return order


def _ref(value, where):
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        history = (value.get("config") or {}).get("keras_history")
        return _ref(history, where)
    if isinstance(value, (list, tuple)) and len(value) >= 3 and isinstance(value[0], str):
        return TensorRef(value[0], int(value[1]), int(value[2]))
    raise ConfigError(f"{where}: expected a tensor reference [layer, node, tensor]; received {value!r}")


def _structure(value, where):
    """Tensors (``__keras_tensor__`` or history triples) inside lists/dicts, as TensorRefs."""
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        return _ref(value, where)
    if isinstance(value, (list, tuple)):
        if len(value) >= 3 and isinstance(value[0], str) and isinstance(value[1], int) and isinstance(value[2], int):
            return _ref(value, where)
        return [_structure(v, where) for v in value]
    if isinstance(value, dict):
        return {k: _structure(v, where) for k, v in value.items()}
    return value


def _calls(layer, name):
    """The layer's calls, from Keras 3's or Keras 2's ``inbound_nodes``."""
    calls = []
    for i, node in enumerate(layer.get("inbound_nodes") or []):
        where = f"layer {name!r}, call {i}"
        if isinstance(node, dict):  # Keras 3
            args = [_structure(a, where) for a in node.get("args") or []]
            kwargs = {k: _structure(v, where) for k, v in (node.get("kwargs") or {}).items()}
            if not args:
                raise ConfigError(f"{where}: a call without inputs")
            calls.append(Call(args[0] if len(args) == 1 else args, kwargs))
        elif isinstance(node, list):  # Keras 2: [[layer, node, tensor, kwargs], ...]
            refs = [_ref(entry, where) for entry in node]
            kwargs = node[0][3] if node and len(node[0]) > 3 and isinstance(node[0][3], dict) else {}
            calls.append(Call(refs[0] if len(refs) == 1 else refs, _structure(kwargs, where)))
        else:
            raise ConfigError(f"{where}: an inbound node must be an object (Keras 3) or a list (Keras 2); "
                              f"received {type(node).__name__}")
    return calls


def _endpoints(value, where):
    """``input_layers``/``output_layers``: one triple, a list of them, or a dict of them."""
    if isinstance(value, dict):
        return {k: _ref(v, where) for k, v in value.items()}
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], str):
        return _ref(value, where)
    return [_ref(v, where) for v in value or []]


def _shift(structure, offsets):
    if isinstance(structure, TensorRef):
        return TensorRef(structure.layer, structure.node - offsets.get(structure.layer, 0), structure.tensor)
    if isinstance(structure, list):
        return [_shift(v, offsets) for v in structure]
    if isinstance(structure, dict):
        return {k: _shift(v, offsets) for k, v in structure.items()}
    return structure


def _name(layer):
    return (layer.get("config") or {}).get("name") or layer.get("name")


def parse(config):
    """The :class:`Graph` of a Keras model config (``model.get_config()`` wrapped with its
    ``class_name``, as ``config.json`` or an HDF5 file's ``model_config`` holds it)."""
    if not isinstance(config, dict) or "config" not in config:
        raise ConfigError("a model config is an object with `class_name` and `config`")
    class_name, inner = config.get("class_name"), config["config"]
    if not isinstance(inner, dict) or not isinstance(inner.get("layers"), list):
        raise ConfigError(f"the config of {class_name!r} has no list of `layers`: not a Keras model")
    name = inner.get("name") or class_name.lower()
    specs = []
    for layer in inner["layers"]:
        if not isinstance(layer, dict) or not isinstance(layer.get("class_name"), str):
            raise ConfigError(f"model {name!r}: every layer config is an object with a `class_name`")
        layer_name = _name(layer)
        nested = parse(layer) if layer["class_name"] in CONTAINERS or "layers" in (layer.get("config") or {}) \
            else None
        specs.append(LayerSpec(layer_name, layer["class_name"], layer.get("config") or {}, _calls(layer, layer_name),
                               nested))
    if class_name == "Sequential" or ("input_layers" not in inner and "output_layers" not in inner):
        return _sequential(name, specs, inner)
    inputs = _endpoints(inner.get("input_layers"), f"model {name!r} input_layers")
    inputs = list(inputs.values()) if isinstance(inputs, dict) else inputs if isinstance(inputs, list) else [inputs]
    outputs = _endpoints(inner.get("output_layers"), f"model {name!r} output_layers")
    keras2 = str(config.get("keras_version", "")).startswith("2") or any(
        isinstance(node, list) for layer in inner["layers"] for node in layer.get("inbound_nodes") or [])
    if keras2:
        if isinstance(outputs, list) and len(outputs) == 1:
            outputs = outputs[0]  # Keras 2 writes a list and returns a lone output as a tensor
        # Keras 2 leaves out a nested model's first call (its own Input to output) when it writes
        # the calls, but counts it in the references (tf_keras's _should_skip_first_node).
        offsets = {spec.name: 1 for spec, layer in zip(specs, inner["layers"]) if spec.graph is not None and (
            spec.class_name != "Sequential" or ((layer.get("config") or {}).get("layers") or [{}])[0].get(
                "class_name") == "InputLayer")}
        for spec in specs:
            for call in spec.calls:
                call.inputs, call.kwargs = _shift(call.inputs, offsets), _shift(call.kwargs, offsets)
        outputs = _shift(outputs, offsets)
    by_name = {spec.name: spec for spec in specs}
    return Graph(name, specs, inputs, outputs, input_names=[ref.layer for ref in inputs],
                 input_specs=[_input_spec(by_name.get(ref.layer)) for ref in inputs], keras2=keras2)


def _input_spec(spec, fallback=None):
    """``(batch shape, dtype)`` of an ``InputLayer`` (Keras 3's ``batch_shape``, Keras 2's
    ``batch_input_shape``), else of ``fallback`` (a config dict), else ``None``."""
    config = spec.config if spec is not None else (fallback or {})
    shape = config.get("batch_shape") or config.get("batch_input_shape")
    if not isinstance(shape, (list, tuple)):
        return None
    dtype = config.get("dtype")
    dtype = dtype if isinstance(dtype, str) else (dtype or {}).get("config", {}).get("name", "float32") \
        if isinstance(dtype, dict) else "float32"
    return tuple(shape), dtype


def _sequential(name, specs, inner):
    """A chain: an ``InputLayer`` (written, or implied by ``build_input_shape``), then each layer
    called on the previous one's output."""
    layers = [s for s in specs if s.class_name != "InputLayer"]
    input_name = next((s.name for s in specs if s.class_name == "InputLayer"), f"{name}_input")
    previous = TensorRef(input_name, 0, 0)
    for spec in layers:
        spec.calls = [Call(previous)]
        previous = TensorRef(spec.name, 0, 0)
    input_spec = next((s for s in specs if s.class_name == "InputLayer"), None)
    fallback = layers[0].config if layers else None
    shape = inner.get("build_input_shape")
    spec = _input_spec(input_spec, fallback) or (
        (tuple(shape), "float32") if isinstance(shape, (list, tuple)) else None)
    return Graph(name, layers, [TensorRef(input_name, 0, 0)], previous, sequential=True, input_names=[input_name],
                 input_specs=[spec])
