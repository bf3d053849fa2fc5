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

from .names import attribute_names

__all__ = ["Call", "Graph", "LayerSpec", "TensorRef", "call_arguments", "call_training", "layer_paths", "locate",
           "parse", "refs", "resolve"]

CONTAINERS = {"Functional", "Sequential", "Model"}
OP_LAYERS = {"TFOpLambda", "SlicingOpLambda", "KerasOp"}  # op nodes: a call's arguments as the op takes them
# The input dtypes a model may declare: Keras's names that torch has (``torch.<name>``).
INPUT_DTYPES = ("float16", "bfloat16", "float32", "float64", "uint8", "int8", "int16", "int32", "int64", "bool",
                "complex64", "complex128")


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
    attr: str = ""  # the submodule name (:mod:`.names`): the Keras name where it is a plain identifier
    input_shape: object = None  # what its first call receives, where the config's shapes say (KerasModel.build)


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


def layer_paths(graph, keras=(), module=()):
    """``(spec, Keras path parts, submodule path)`` of every layer of ``graph``, a nested model's
    own layers after it: the Keras names a file or TensorFlow uses, and the torch path beside them."""
    for spec in graph.layers:
        if spec.class_name == "InputLayer":
            continue
        parts, path = (*keras, spec.name), (*module, spec.attr)
        yield spec, parts, ".".join(path)
        if spec.graph is not None:
            yield from layer_paths(spec.graph, parts, path)


def locate(graph, dotted):
    """The submodule path of the layer that a file's dotted Keras path (``head1.up``) names, or
    ``None``; a Keras name may hold dots itself, so the longest name that fits is taken."""
    path, rest = [], dotted
    while True:
        fits = sorted((s for s in graph.layers if s.class_name != "InputLayer" and (
            rest == s.name or rest.startswith(s.name + "."))), key=lambda s: -len(s.name))
        if not fits:
            return None
        spec = fits[0]
        path.append(spec.attr)
        if rest == spec.name:
            return ".".join(path)
        if spec.graph is None:
            return None
        graph, rest = spec.graph, rest[len(spec.name) + 1:]


def call_arguments(call, values):
    """An op node's keyword arguments with their tensors from ``values`` (``name`` left out)."""
    return {k: v for k, v in resolve(call.kwargs, values).items() if k != "name"}


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


def _index(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _ref(value, where):
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        config = value.get("config")
        return _ref(config.get("keras_history") if isinstance(config, dict) else None, where)
    if isinstance(value, (list, tuple)) and len(value) >= 3 and isinstance(value[0], str) and _index(value[1]) \
            and _index(value[2]):
        return TensorRef(value[0], value[1], value[2])
    raise ConfigError(f"{where}: expected a tensor reference [layer, node, tensor] (a name and two indices); "
                      f"received {_short(value)}")


def _short(value, limit=120):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


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


def _entries(node, where, found):
    """A Keras 2 node's structure of ``[layer, node, tensor, kwargs]`` entries as TensorRefs (a
    lone entry: an op layer's one tensor argument; a list: a list of tensors), ``found`` the entries."""
    if isinstance(node, list) and len(node) >= 3 and node[0] == "_CONSTANT_VALUE" and node[1] == -1:
        found.append(node)  # tf_keras's entry for a constant first argument (tf.einsum's equation)
        return node[2]
    if isinstance(node, list) and node and isinstance(node[0], str):
        found.append(node)
        return _ref(node, where)
    if isinstance(node, list):
        return [_entries(entry, where, found) for entry in node]
    raise ConfigError(f"{where}: expected a tensor reference [layer, node, tensor] (a name and two indices); "
                      f"received {_short(node)}")


def _calls(layer, name):
    """The layer's calls, from Keras 3's or Keras 2's ``inbound_nodes``."""
    calls = []
    nodes = layer.get("inbound_nodes") or []
    if not isinstance(nodes, list):
        raise ConfigError(f"layer {name!r}: inbound_nodes must be a list; received {type(nodes).__name__}")
    for i, node in enumerate(nodes):
        where = f"layer {name!r}, call {i}"
        if isinstance(node, dict):  # Keras 3
            args, kwargs = node.get("args") or [], node.get("kwargs") or {}
            if not isinstance(args, list) or not isinstance(kwargs, dict):
                raise ConfigError(f"{where}: a call's args must be a list and its kwargs an object")
            args = [_structure(a, where) for a in args]
            kwargs = {k: _structure(v, where) for k, v in kwargs.items()}
            if not args:
                raise ConfigError(f"{where}: a call without inputs")
            operation = _is_operation(layer)  # an operation takes its arguments as they are: all of them
            calls.append(Call(args if operation else args[0] if len(args) == 1 else args, kwargs))
        elif isinstance(node, list):  # Keras 2: [[layer, node, tensor, kwargs], ...]
            entries = []
            inputs = _entries(node, where, entries)
            if not entries:
                raise ConfigError(f"{where}: a call without inputs")
            if isinstance(inputs, list) and len(inputs) == 1 and layer.get("class_name") not in OP_LAYERS:
                inputs = inputs[0]  # tf_keras unnests a lone tensor, but for its op layers
            kwargs = entries[-1][3] if len(entries[-1]) > 3 and isinstance(entries[-1][3], dict) else {}
            calls.append(Call(inputs, _structure(kwargs, where)))
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
    if value is not None and not isinstance(value, (list, tuple)):
        raise ConfigError(f"{where}: expected a list of tensor references; received {_short(value)}")
    return [_ref(v, where) for v in value or []]


def _shift(structure, offsets):
    if isinstance(structure, TensorRef):
        return TensorRef(structure.layer, structure.node - offsets.get(structure.layer, 0), structure.tensor)
    if isinstance(structure, list):
        return [_shift(v, offsets) for v in structure]
    if isinstance(structure, dict):
        return {k: _shift(v, offsets) for k, v in structure.items()}
    return structure


def _name(layer, where):
    config = layer.get("config")
    name = (config.get("name") if isinstance(config, dict) else None) or layer.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}: a {layer['class_name']} layer without a name (a non-empty string); "
                          f"received {_short(name)}")
    return name


def _is_operation(layer):
    """Whether a Keras 3 config entry is an operation (``keras.ops``), not a layer."""
    module = layer.get("module")
    return isinstance(module, str) and (module.startswith("keras.src.ops.") or module.startswith("keras.ops"))


def _unique(names, model):
    """Keras's rule (``keras/src/ops/function.py``): a model's layer names are unique."""
    for name in names:
        if names.count(name) != 1:
            raise ConfigError(f"model {model!r}: The name \"{name}\" is used {names.count(name)} times in the model. "
                              "All layer names should be unique.")


def parse(config):
    """The :class:`Graph` of a Keras model config (``model.get_config()`` wrapped with its
    ``class_name``, as ``config.json`` or an HDF5 file's ``model_config`` holds it)."""
    if not isinstance(config, dict) or "config" not in config:
        raise ConfigError("a model config is an object with `class_name` and `config`")
    class_name, inner = config.get("class_name"), config["config"]
    if not isinstance(inner, dict) or not isinstance(inner.get("layers"), list):
        raise ConfigError(f"the config of {class_name!r} has no list of `layers`: not a Keras model")
    name = inner.get("name") or (class_name.lower() if isinstance(class_name, str) else "model")
    if not isinstance(name, str):
        raise ConfigError(f"a model's name must be a string; received {_short(name)}")
    specs = []
    for layer in inner["layers"]:
        if not isinstance(layer, dict) or not isinstance(layer.get("class_name"), str) or not isinstance(
                layer.get("config", {}), (dict, type(None))):
            raise ConfigError(f"model {name!r}: every layer config is an object with a `class_name` and an object "
                              f"`config`; received {_short(layer)}")
        layer_name = _name(layer, f"model {name!r}")
        nested = parse(layer) if layer["class_name"] in CONTAINERS or "layers" in (layer.get("config") or {}) \
            else None
        class_name, layer_config = layer["class_name"], layer.get("config") or {}
        if _is_operation(layer):  # Keras 3's keras.ops node: kcompat's KerasOp of that operation
            class_name, layer_config = "KerasOp", {"op": layer["class_name"], **layer_config}
        specs.append(LayerSpec(layer_name, class_name, layer_config, _calls(layer, layer_name), nested))
    _unique([spec.name for spec in specs], name)
    for spec, attr in zip(specs, attribute_names([spec.name for spec in specs]).values()):
        spec.attr = attr
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
    else:
        # Keras 3 numbers a nested Functional model's calls in `output_layers` with its built-in
        # call (Input to output) counted, and subtracts it when reading them (functional.py's
        # get_tensor); its calls' own arguments count only the saved calls.
        outputs = _shift(outputs, {spec.name: 1 for spec in specs if spec.class_name == "Functional"})
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
    if isinstance(dtype, dict):  # a dtype policy: {"class_name": "DTypePolicy", "config": {"name": ...}}
        inner = dtype.get("config")
        dtype = inner.get("name", "float32") if isinstance(inner, dict) else None
    dtype = "float32" if dtype is None else dtype
    where = f"input {config.get('name', '?')!r}"
    if not isinstance(dtype, str) or dtype.removeprefix("mixed_") not in INPUT_DTYPES:
        raise ConfigError(f"{where}: dtype {_short(dtype)} is not a dtype kcompat knows ({', '.join(INPUT_DTYPES)})")
    if not all(n is None or _index(n) for n in shape):
        raise ConfigError(f"{where}: its shape {_short(shape)} is not a list of sizes (non-negative integers or null)")
    return tuple(shape), dtype.removeprefix("mixed_")


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
