"""What the TensorFlow workers compute (run inside them, never in the caller's process).

Each function takes and returns plain values (numpy arrays, dicts, tuples); the oracle
(:mod:`.tf_oracle`) is handed the function itself: ``oracle.run(tf_calls.layer_config, reference=..., ...)``.
TensorFlow is imported on first use, so the caller can import this module for the references.
Functions marked :func:`legacy_keras` need ``tf.compat.v1`` layers (``TF_USE_LEGACY_KERAS=1``).
"""

from __future__ import annotations

import inspect

import numpy as np

_tf = None


def make_int(value):
    """TF's ``make_int`` for an int32 attribute (``int(value)``, strings refused), ``None`` where
    TF would refuse it (past int32, TF itself aborts the process)."""
    if isinstance(value, str):
        return None
    try:
        result = int(value)
    except (ValueError, TypeError):
        return None
    return result if -2**31 <= result < 2**31 else None


def legacy_keras(function):
    """Mark ``function`` as needing a worker with tf_keras as ``tf.keras`` (TF1 layers)."""
    function.legacy_keras = True
    return function


def tf():
    global _tf
    if _tf is None:
        import tensorflow

        _tf = tensorflow
    return _tf


def keras_module(reference):
    if reference in ("keras", "tf.nn"):
        import keras

        return keras
    if reference in ("tf_keras", "tf1"):
        import tf_keras

        return tf_keras
    raise ValueError(f"unknown reference {reference!r}")


class _OpLayer:
    """The layer written with the ops: ``tf.nn.conv2d_transpose``, ``tf.nn.bias_add``, activation.

    The output shape is Keras 3's (``compute_output_shape``), as a user computes it for the op.
    """

    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None,
                 data_format=None, dilation_rate=1, activation=None, use_bias=True, dtype=None, **_):
        import keras

        self.shape_layer = keras.layers.Conv2DTranspose(
            filters, kernel_size, strides=strides, padding=padding, output_padding=output_padding,
            data_format=data_format, dilation_rate=dilation_rate)
        self.policy = keras.dtype_policies.get(dtype or "float32")
        self.activation = keras.activations.get(activation)
        self.use_bias = use_bias
        self.trainable_weights = []

    def build(self, input_shape):
        t, sl = tf(), self.shape_layer
        channels = input_shape[-1 if sl.data_format == "channels_last" else 1]
        dtype = self.policy.variable_dtype
        self.kernel = t.Variable(t.zeros((*sl.kernel_size, sl.filters, channels), dtype))
        self.bias = t.Variable(t.zeros((sl.filters,), dtype)) if self.use_bias else None
        self.trainable_weights = [self.kernel] + ([self.bias] if self.use_bias else [])

    def set_weights(self, weights):
        for variable, value in zip(self.trainable_weights, weights):
            variable.assign(value)

    def __call__(self, x):
        t, sl = tf(), self.shape_layer
        compute = self.policy.compute_dtype
        fmt = "NHWC" if sl.data_format == "channels_last" else "NCHW"
        y = t.nn.conv2d_transpose(t.cast(x, compute), t.cast(self.kernel, compute),
                                  output_shape=sl.compute_output_shape(tuple(x.shape)), strides=sl.strides,
                                  padding=sl.padding.upper(), data_format=fmt, dilations=sl.dilation_rate)
        if self.use_bias:
            y = t.nn.bias_add(y, t.cast(self.bias, compute), data_format=fmt)
        return self.activation(y)


def layer_class(reference, rank=2):
    """The Conv{rank}DTranspose that ``reference`` names: Keras 3, Keras 2, TF1 layers, or the ops
    (the last two in 2-D only)."""
    if reference in ("tf.nn", "tf1") and rank != 2:
        raise ValueError(f"kcompat checks {reference!r} in 2-D only; received rank {rank}")
    if reference == "tf.nn":
        return _OpLayer
    if reference == "tf1":
        return tf().compat.v1.layers.Conv2DTranspose
    return getattr(keras_module(reference).layers, f"Conv{rank}DTranspose")


def _nhwc(a, rank):
    return np.moveaxis(a, 1, -1) if a is not None else None


def _nchw(a, rank):
    return np.moveaxis(a, -1, 1) if a is not None else None


def _at_least_float32(tensor):
    """Half-precision results come back as float32 (numpy lacks bfloat16); wider ones as they are."""
    return tf().cast(tensor, "float32") if tensor.dtype.size < 4 else tensor


def layer_call(reference, config, x, weights=None, upstream=None, rewrite=False):
    """Build ``reference``'s Conv{1,2,3}DTranspose (``x``'s rank) from ``config``, load ``weights``, call it on ``x``.

    ``reference``: ``"keras"`` (Keras 3), ``"tf_keras"`` (Keras 2), ``"tf1"``
    (``tf.compat.v1.layers.Conv2DTranspose``, in a ``TF_USE_LEGACY_KERAS=1`` worker) or
    ``"tf.nn"`` (the ops, see :class:`_OpLayer`).

    Returns the output and, with ``upstream``, the gradients of ``sum(output * upstream)``
    with respect to the input, kernel and bias (Keras layout).

    ``rewrite=True`` computes configurations that TensorFlow's non-oneDNN CPU kernel cannot
    run (channels_first, dilation) through mathematically identical ones it can: inputs moved
    to channels_last, and a dilated kernel spelled out with zeros. The activation is then
    applied in the original layout, as the layer would.
    """
    t = tf()
    mod = keras_module(reference)
    config = dict(config)
    rank = x.ndim - 2
    channels_first = config.get("data_format") == "channels_first"
    dilation = config.get("dilation_rate", 1)
    dilation = (dilation,) * rank if isinstance(dilation, int) else tuple(dilation)
    activation = None
    move = rewrite and channels_first
    dilate = rewrite and max(dilation) > 1
    if rewrite and (move or dilate):
        activation = mod.activations.get(config.get("activation"))
        config["activation"] = None
    if move:
        config["data_format"] = "channels_last"
        x, upstream = _nhwc(x, rank), _nhwc(upstream, rank)
    if dilate and reference in ("tf_keras", "tf1") and rank == 2 and dilation[0] != dilation[1]:
        # What the rewrite would compute, Keras 2's backend (and so TF1's layer) refuses in
        # every dtype: its atrous_conv2d_transpose takes one rate (the message is TF's).
        raise ValueError("Expected the 2 dimensions of the `dilation_rate` argument to be equal to each other. "
                         f"Received: dilation_rate={dilation}")
    if dilate:
        k = config["kernel_size"]
        k = (k,) * rank if isinstance(k, int) else tuple(k)
        config["kernel_size"] = tuple((ki - 1) * d + 1 for ki, d in zip(k, dilation))
        config["dilation_rate"] = 1
        if weights is not None:
            kernel = weights[0]
            spread = np.zeros(config["kernel_size"] + kernel.shape[-2:], kernel.dtype)
            spread[tuple(slice(None, None, d) for d in dilation)] = kernel
            weights = [spread] + list(weights[1:])
    layer = layer_class(reference, rank)(**config)
    layer.build(x.shape)
    if weights is not None:
        layer.set_weights(weights)
    xt = t.constant(x)
    with t.GradientTape() as tape:
        tape.watch(xt)
        y = layer(xt)
        if move:
            y = t.experimental.numpy.moveaxis(y, -1, 1)
        if activation is not None:
            y = activation(y)
        if upstream is not None:
            g = t.cast(t.constant(_nchw(upstream, rank) if move else upstream), y.dtype)
            loss = t.reduce_sum(_at_least_float32(y * g))
    result = {"output": np.asarray(_at_least_float32(y))}
    if upstream is not None:
        grads = tape.gradient(loss, [xt] + list(layer.trainable_weights))
        grads = [np.asarray(_at_least_float32(g)) for g in grads]
        if move:
            grads[0] = _nchw(grads[0], rank)
        if dilate:
            grads[1] = grads[1][tuple(slice(None, None, d) for d in dilation)]
        result["grads"] = grads
    return result


def layer_config(reference, config, input_shape=None, rank=2):
    """``get_config()`` of ``reference``'s layer built from ``config`` (after a build if shape given)."""
    layer = layer_class(reference, rank)(**config)
    if input_shape is not None:
        layer.build(input_shape)
    return layer.get_config()


def _plain(value):
    """A config with TF's tracking wrappers (``ListWrapper``, ``_DictWrapper``) as plain lists and dicts."""
    if isinstance(value, dict) or (hasattr(value, "items") and not isinstance(value, (str, bytes))):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    if isinstance(value, list) or type(value).__name__ == "ListWrapper":
        return [_plain(v) for v in value]
    return value


def keras_layer(reference, class_name, config, x=None, upstream=None, mask=None, weights=None, training=None,
                input_shape=None):
    """Any Keras layer by class name (``reference``: ``"keras"`` or ``"tf_keras"``): its
    ``get_config()``; with ``input_shape`` (batch axis included), its ``compute_output_shape``;
    with ``x`` (an array, or a list of arrays for a merging layer), its output (``mask``: the
    call's mask; ``training``: the call's flag) and the weights it started from (``weights`` to
    set, else those Keras drew) and ended with; with ``upstream``, the gradients of
    ``sum(output * upstream)`` for ``x`` and for each weight (``None`` where there is none), in
    ``get_weights()`` order. A Keras refusal raises."""
    t = tf()
    layer = getattr(keras_module(reference).layers, class_name)(**config)
    out = {"config": _plain(layer.get_config())}
    if input_shape is not None:
        shape = [tuple(s) for s in input_shape] if isinstance(input_shape, list) else tuple(input_shape)
        out["output_shape"] = _plain(layer.compute_output_shape(shape))
    if x is None:
        return out
    many = isinstance(x, list)
    xt = [t.constant(a) for a in (x if many else [x])]
    if not layer.built:
        layer.build([tuple(v.shape) for v in xt] if many else tuple(xt[0].shape))
    if weights is not None:
        layer.set_weights(weights)
        if hasattr(layer, "finalize_state"):  # what loading a file does after the weights (Normalization)
            layer.finalize_state()
    out["weights"] = [np.asarray(w) for w in layer.get_weights()]
    kwargs = {} if training is None else {"training": training}
    if mask is not None:
        kwargs["mask"] = t.constant(mask)
    with t.GradientTape(persistent=True) as tape:
        for v in xt:
            if v.dtype.is_floating:
                tape.watch(v)
        y = layer(xt if many else xt[0], **kwargs)
        loss = None if upstream is None else t.reduce_sum(t.cast(y, upstream.dtype) * upstream)
    out["output"] = np.asarray(_at_least_float32(y))
    out["weights_after"] = [np.asarray(w) for w in layer.get_weights()]
    if upstream is not None:
        grads = [None if g is None else np.asarray(_at_least_float32(g)) for g in tape.gradient(loss, xt)]
        out["grad"] = grads if many else grads[0]
        out["weight_grads"] = [None if g is None else np.asarray(_at_least_float32(t.convert_to_tensor(g)))
                               for g in tape.gradient(loss, layer.weights)]
    return out


def layer_output_shape(reference, config, input_shape):
    layer = layer_class(reference, len(input_shape) - 2)(**config)
    return tuple(layer.compute_output_shape(input_shape))


def layer_construct(reference, config, rank=2):
    """Construct only: ``None`` if Keras accepts the arguments, else its exception."""
    layer_class(reference, rank)(**config)
    return None


def initial_weights(reference, config, input_shape, repeats=1):
    """Weights a fresh layer draws, ``repeats`` times (for initializer statistics)."""
    out = []
    for _ in range(repeats):
        layer = layer_class(reference, len(input_shape) - 2)(**config)
        layer.build(input_shape)
        out.append(layer.get_weights())
    return out


def activation(reference, name, x):
    return activation_vjp(reference, name, x)["output"]


def activation_vjp(reference, name, x, upstream=None):
    """``reference``'s activation ``name`` on ``x``, and the gradient of ``sum(output * upstream)``."""
    t = tf()
    xt = t.constant(x)
    with t.GradientTape() as tape:
        tape.watch(xt)
        y = keras_module(reference).activations.get(name)(xt)
        loss = None if upstream is None else t.reduce_sum(y * t.constant(upstream, y.dtype))
    out = {"output": np.asarray(y)}
    if upstream is not None:
        out["grad"] = np.asarray(tape.gradient(loss, xt))
    return out


def activation_names(reference):
    from keras.src.activations import ALL_OBJECTS_DICT

    return sorted(ALL_OBJECTS_DICT)


def layer_losses(reference, config, x, weights):
    """``layer.losses`` after one call on ``x``, as floats."""
    layer = layer_class(reference, x.ndim - 2)(**config)
    layer.build(x.shape)
    layer.set_weights(weights)
    layer(tf().constant(x))
    return [float(loss) for loss in layer.losses]


def constraint(reference, identifier, w):
    return np.asarray(keras_module(reference).constraints.get(identifier)(tf().constant(w)))


@legacy_keras
def tf1_graph(source, inputs, assign=None, upstream=None):
    """Build ``build(tf1, **placeholders)`` (defined in ``source``) in a fresh TF1 graph and run it.

    ``assign`` maps variable names (``"gen/deconv1/kernel"``) to values loaded before the run.
    Returns the output, the variables (name -> value, creation order, read before the run), the
    trainable names, the regularization losses, the variables after the run (``UPDATE_OPS``
    run with it, as a TF1 train step runs them: BatchNormalization's moving statistics) and, with
    ``upstream``, the gradients of ``sum(output * upstream)`` for every input and every
    trainable variable (by name).
    """
    t = tf()
    tf1 = t.compat.v1
    namespace = {"tf": t, "regularizers": t.keras.regularizers}
    exec(source, namespace)  # noqa: S102 - test programs written by the test suite
    graph = t.Graph()
    with graph.as_default():
        placeholders = {k: tf1.placeholder(t.as_dtype(v.dtype), v.shape, name=k) for k, v in inputs.items()}
        output = namespace["build"](tf1, **placeholders)
        variables = tf1.global_variables()
        names = [v.op.name for v in variables]
        trainable = [v.op.name for v in tf1.trainable_variables()]
        reg_losses = tf1.losses.get_regularization_losses()
        fetch = {"output": output, "losses": reg_losses, "updates": tf1.get_collection(tf1.GraphKeys.UPDATE_OPS)}
        if upstream is not None:
            loss = t.reduce_sum(output * t.constant(upstream))
            targets = [p for p in placeholders.values() if p.dtype.is_floating] + tf1.trainable_variables()
            fetch["grads"] = [t.zeros_like(v) if g is None else g for v, g in zip(targets, t.gradients(loss, targets))]
        with tf1.Session(graph=graph) as session:
            session.run(tf1.global_variables_initializer())
            for variable, name in zip(variables, names):
                if assign and name in assign:
                    variable.load(assign[name], session)
            before = session.run(variables)
            result = session.run(fetch, feed_dict={placeholders[k]: v for k, v in inputs.items()})
            after = session.run(variables)
    out = {
        "output": result["output"],
        "variables": dict(zip(names, before)),
        "after": dict(zip(names, after)),
        "trainable": trainable,
        "losses": [float(v) for v in result["losses"]],
    }
    if upstream is not None:
        keys = [k for k, v in inputs.items() if np.asarray(v).dtype.kind == "f"] + trainable
        out["grads"] = {k: (None if g is None else np.asarray(g)) for k, g in zip(keys, result["grads"])}
    return out


def _spread(kernel, dilation):
    """A dilated kernel written out with zeros (identical result, dilation 1)."""
    k = tuple((n - 1) * d + 1 for n, d in zip(kernel.shape[:2], dilation))
    spread = np.zeros(k + kernel.shape[2:], kernel.dtype)
    spread[::dilation[0], ::dilation[1]] = kernel
    return spread


def nn_call(version, x, filters, output_shape, strides, padding="SAME", data_format="NHWC", dilations=None,
            upstream=None, rewrite=False):
    """``tf.nn.conv2d_transpose`` (``"v2"``) or ``tf.compat.v1.nn.conv2d_transpose`` (``"v1"``).

    ``rewrite=True`` (TF's non-oneDNN CPU kernel): NCHW and dilation are computed through the
    identical NHWC, dilation-1 call; arguments TF would refuse are passed through unchanged
    so that its own error comes back.
    """
    t = tf()
    op = t.nn.conv2d_transpose if version == "v2" else t.compat.v1.nn.conv2d_transpose
    move = spread = False
    if rewrite:
        from tensorflow.python.ops.nn_ops import _get_sequence  # TF's own rule, not kcompat's

        channel = 1 if data_format == "NCHW" else 3
        try:
            s4 = [make_int(v) for v in _get_sequence(strides, 2, channel, "strides")]
            d4 = [make_int(v) for v in _get_sequence(dilations, 2, channel, "dilations")]
        except (ValueError, TypeError):
            s4 = d4 = None
        if s4 is None or None in s4 + d4:
            s4 = d4 = None  # left to TF, whose own error comes back
        if s4 is not None and data_format == "NCHW" and len(np.asarray(output_shape)) in (2, 4) and x.ndim == 4:
            move = True
            data_format = "NHWC"
            strides = [s4[0], s4[2], s4[3], s4[1]]
            d4 = [d4[0], d4[2], d4[3], d4[1]]
            dilations = d4 if dilations is not None else None
            if len(output_shape) == 4:
                output_shape = [output_shape[0], output_shape[2], output_shape[3], output_shape[1]]
            if isinstance(padding, (list, tuple)) and len(padding) == 4:
                padding = [padding[0], padding[2], padding[3], padding[1]]
            x = np.moveaxis(x, 1, -1)
            upstream = None if upstream is None else np.moveaxis(upstream, 1, -1)
        if d4 is not None and d4[0] == d4[3] == 1 and max(d4[1:3]) > 1 and filters.ndim == 4:
            spread = tuple(d4[1:3])
            filters_in = filters
            filters = _spread(filters, spread)
            dilations = None
    xt, ft = t.constant(x), t.constant(filters)
    with t.GradientTape() as tape:
        tape.watch([xt, ft])
        kwargs = dict(output_shape=output_shape, strides=strides, padding=padding, data_format=data_format,
                      dilations=dilations)
        y = op(xt, ft, **kwargs)
        if upstream is not None:
            loss = t.reduce_sum(y * t.constant(upstream))
    y = np.asarray(y)
    result = {"output": np.moveaxis(y, -1, 1) if move else y}
    if upstream is not None:
        gx, gf = (np.asarray(g) for g in tape.gradient(loss, [xt, ft]))
        if move:
            gx = np.moveaxis(gx, -1, 1)
        if spread:
            gf = gf[::spread[0], ::spread[1]]
            assert gf.shape == filters_in.shape
        result["grads"] = [gx, gf]
    return result


def nn_values_call(rank, x, filters, **kwargs):
    """``tf.nn.conv{1,2,3}d_transpose`` on ``x`` and ``filters`` as given (numpy arrays, lists),
    so that TF's own conversion types them; the output with its dtype."""
    t = tf()
    op = {1: t.nn.conv1d_transpose, 2: t.nn.conv2d_transpose, 3: t.nn.conv3d_transpose}[rank]
    return {"output": np.asarray(op(x, filters, **kwargs))}


def nn_nd_call(rank, x, filters, upstream=None, **kwargs):
    """``tf.nn.conv1d_transpose`` / ``conv3d_transpose`` (``rank`` 1 or 3) on ``x``; with
    ``upstream``, also the gradients of ``sum(y * upstream)`` for input and filters."""
    t = tf()
    op = {1: t.nn.conv1d_transpose, 3: t.nn.conv3d_transpose}[rank]
    xt, ft = t.constant(x), t.constant(filters)
    with t.GradientTape() as tape:
        tape.watch([xt, ft])
        y = op(xt, ft, **kwargs)
        loss = None if upstream is None else t.reduce_sum(y * t.constant(upstream, y.dtype))
    result = {"output": np.asarray(y)}
    if upstream is not None:
        result["grads"] = [np.asarray(g) for g in tape.gradient(loss, [xt, ft])]
    return result


def model_layers(path, reference):
    """Every Conv{1,2,3}DTranspose of the Keras model saved at ``path`` (loaded by ``reference``'s Keras):
    ``[{"path": dotted name path, "input_shape": shape (batch None), "config": ..., "weights": [...]}]``."""
    model = keras_module(reference).models.load_model(path, compile=False)
    found = []
    for dotted, layer in conv_transposes(model):
        shape = layer.input.shape if hasattr(layer, "input") else None
        shape = tuple(None if d is None else int(d) for d in shape) if shape is not None else None
        found.append({"path": dotted, "input_shape": shape, "config": layer.get_config(),
                      "weights": [np.asarray(w) for w in layer.get_weights()]})
    return found


def _own_nodes(model):
    """``(functional, [(layer, call index, node)])``: the calls a model makes (a Keras 3 Sequential's
    graph is its ``_functional``), each numbered among that layer's calls in this model, as the
    model's config numbers them."""
    func = getattr(model, "_functional", None) or model
    if hasattr(func, "_nodes"):  # Keras 3
        from keras.src.ops.function import make_node_key

        def own(layer, i):
            return make_node_key(layer, i) in func._nodes
    else:  # Keras 2
        def own(layer, i):
            return f"{layer.name}_ib-{i}" in func._network_nodes
    calls = []
    for layer in getattr(func, "operations", None) or func.layers:  # Keras 3: keras.ops nodes too
        if type(layer).__name__ == "InputLayer":
            continue
        mine = [node for i, node in enumerate(layer._inbound_nodes) if own(layer, i)]
        calls += [(layer, j, node) for j, node in enumerate(mine)]
    return func, calls


def _node_outputs(node):
    return list(tf().nest.flatten(node.outputs))


def _node_arguments(node, values):
    """A call's positional and keyword arguments with its tensors' values (``values``: by id of
    the symbolic tensor), as the model passed them."""
    if hasattr(node, "arguments"):  # Keras 3
        return node.arguments.fill_in(values)

    class _Popped(dict):  # Keras 2 pops each value from a list per consumer
        def __getitem__(self, key):
            return [values[int(key)]]

    return node.map_arguments(_Popped())


def _leaf_layers(model, prefix=""):
    for layer in model.layers:
        if hasattr(layer, "layers"):
            yield from _leaf_layers(layer, f"{prefix}{layer.name}.")
        elif type(layer).__name__ != "InputLayer":
            yield f"{prefix}{layer.name}", layer


def _weight_grads(layer, by_weight):
    """Per weight of ``layer`` (Keras's order): its gradient (zeros where none flows), ``None``
    for a non-trainable one."""
    return [None if id(w) not in by_weight else np.zeros_like(np.asarray(w)) if by_weight[id(w)] is None
            else np.asarray(by_weight[id(w)]) for w in layer.weights]


def _trace(mod, model, xs, upstream, training, grads):
    t = tf()
    func, calls = _own_nodes(model)
    symbolic = [kt for _, _, node in calls for kt in _node_outputs(node)]
    probe = mod.Model(func.inputs, symbolic)
    xs = [t.constant(x) for x in xs]
    with t.GradientTape(persistent=True) as tape:
        tape.watch(xs)
        got = probe(xs[0] if len(xs) == 1 else xs, training=training)
        got = list(got) if isinstance(got, (list, tuple)) else [got]
        values = {id(kt): v for kt, v in zip(symbolic, got)}
        values.update({id(kt): x for kt, x in zip(func.inputs, xs)})
        outputs = [values[id(kt)] for kt in t.nest.flatten(func.outputs)]
        if upstream is None:
            upstream = [np.random.default_rng(0).standard_normal(tuple(o.shape)).astype(o.dtype.as_numpy_dtype)
                        for o in outputs]
        loss = t.add_n([t.reduce_sum(o * t.constant(u, o.dtype)) for o, u in zip(outputs, upstream)])
    leaves = list(_leaf_layers(model))
    out = {"outputs": [np.asarray(o) for o in outputs], "upstream": upstream,
           "weights_after": {path: [np.asarray(w) for w in layer.weights] for path, layer in leaves}, "calls": []}
    if grads:
        # One backward pass for every gradient (one tape.gradient call per layer ran the whole
        # backward again each time: 50 s of DenseNet121's trace).
        weights = [w for _, layer in leaves for w in layer.trainable_weights]
        found = tape.gradient(loss, list(got) + xs + weights)
        d_values, d_xs, d_weights = found[:len(got)], found[len(got):len(got) + len(xs)], found[len(got) + len(xs):]
        d_by_id = {id(kt): g for kt, g in zip(symbolic, d_values)}
        out["d_inputs"] = [np.asarray(g) if g is not None else np.zeros(x.shape, x.dtype.as_numpy_dtype)
                           for x, g in zip(xs, d_xs)]
        every = {id(w): g for w, g in zip(weights, d_weights)}
        out["weight_grads"] = {path: _weight_grads(layer, {id(w): every[id(w)] for w in layer.trainable_weights})
                               for path, layer in leaves}
    for layer, j, node in calls:
        args, kwargs = _node_arguments(node, values)
        inputs = [a for a in t.nest.flatten(args) if t.is_tensor(a)]
        outs = _node_outputs(node)
        record = {"layer": layer.name, "node": j, "class_name": type(layer).__name__,
                  "outputs": [np.asarray(values[id(kt)]) for kt in outs],
                  "input_shapes": [tuple(int(d) for d in a.shape) for a in inputs]}
        d_out = None
        if grads:
            d_out = [np.zeros(tuple(values[id(kt)].shape), values[id(kt)].dtype.as_numpy_dtype)
                     if d_by_id[id(kt)] is None else np.asarray(d_by_id[id(kt)]) for kt in outs]
            record["d_outputs"] = d_out
        # The mode the call runs in, as the model runs it: Keras 3 gives every layer the model's
        # (functional.operation_fn), Keras 2 keeps a call's own training= where it has one.
        own = kwargs.get("training")
        mode = own if not hasattr(node, "arguments") and isinstance(own, bool) else training
        if hasattr(layer, "layers"):  # a nested model: traced on the inputs it really gets
            record["inner"] = _trace(mod, layer, [np.asarray(a) for a in inputs], d_out, mode, grads)
            record["isolated"] = record["inner"]["outputs"]
        else:
            call = dict(kwargs)
            if "training" in inspect.signature(layer.call).parameters:
                call["training"] = mode
            weights = list(getattr(layer, "trainable_weights", []))  # an operation has none
            with t.GradientTape() as local:
                local.watch(inputs)
                y = t.nest.flatten(layer(*args, **call))
            record["isolated"] = [np.asarray(v) for v in y]
            if grads:
                sources = inputs + weights
                found = local.gradient(y, sources, output_gradients=[t.constant(g) for g in d_out])
                record["d_inputs"] = [np.zeros(tuple(a.shape), a.dtype.as_numpy_dtype) if g is None else np.asarray(g)
                                      for a, g in zip(inputs, found)]
                by_weight = {id(w): g for w, g in zip(weights, found[len(inputs):])}
                record["d_weights"] = _weight_grads(layer, by_weight) if hasattr(layer, "weights") else []
        out["calls"].append(record)
    return out


def model_trace(path, reference, inputs, training=False, grads=True, upstream=None):
    """The Keras model saved at ``path`` (loaded by ``reference``'s Keras) on ``inputs``: its
    outputs, the gradients of ``sum(output * upstream)`` (random upstream unless given) for its
    inputs and every weight, the weights after the pass; and per layer call, in the model's graph,
    what it received and gave (``outputs``, ``d_outputs``) and the layer called alone on those
    inputs (``isolated``, ``d_inputs``, ``d_weights``; a nested model traced the same way, ``inner``)."""
    model = keras_module(reference).models.load_model(path, compile=False)
    return _trace(keras_module(reference), model, [np.asarray(x) for x in inputs], upstream, training, grads)


def conv_transposes(container, prefix=""):
    """``(dotted name path, layer)`` of every transposed convolution of a model, nested models included
    (the paths kcompat-convert writes: ``head1.up``)."""
    for layer in container.layers:
        dotted = f"{prefix}{layer.name}"
        if hasattr(layer, "layers"):
            yield from conv_transposes(layer, dotted + ".")
        elif type(layer).__name__ in ("Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose"):
            yield dotted, layer


def keras_torch_call(config, x, weights, upstream=None):
    """Keras 3 on its torch backend (a ``KERAS_BACKEND=torch`` worker): output, and gradients of
    ``sum(output * upstream)`` when ``upstream`` fits the output. A peer, not a reference."""
    import torch

    layer = layer_class("keras", x.ndim - 2)(**config)
    layer.build(x.shape)
    layer.set_weights(weights)
    xt = torch.tensor(x, requires_grad=upstream is not None)
    y = layer(xt)
    result = {"output": y.detach().float().numpy() if y.dtype != torch.float64 else y.detach().numpy()}
    if upstream is not None and tuple(y.shape) == upstream.shape:
        (y * torch.tensor(upstream).to(y.dtype)).sum().backward()
        result["grads"] = [xt.grad.numpy()] + [v.value.grad.numpy() for v in layer.trainable_weights]
    return result


@legacy_keras
def tf1_class_info(config, input_shape):
    """What TF1's ``Conv2DTranspose(**config)`` reports before and after ``build(input_shape)``."""
    layer = tf().compat.v1.layers.Conv2DTranspose(**config)
    before = layer.get_config()
    layer.build(input_shape)
    return {
        "config": before,
        "built_config": layer.get_config(),
        "output_shape": tuple(layer.compute_output_shape(input_shape).as_list()),
        "count_params": layer.count_params(),
        "weights": [(w.name.split("/")[-1].split(":")[0], tuple(w.shape)) for w in layer.weights],
        "trainable": len(layer.trainable_weights),
        "non_trainable": len(layer.non_trainable_weights),
    }
