"""The TF1 layer surface (``tf.compat.v1.layers.Layer``), once, over any kcompat Keras layer.

A TF1 layer class is ``class Dense(Layer, kcompat.layers.core.Dense)``: the Keras layer computes,
this mixin adds what TF1 differs in:

- variables as TensorFlow holds them: under their TF names (``kernel``, ``moving_mean``) in TF's
  layout, memory in torch order, so the torch-layout views (``weight``) cost nothing;
- scopes and sharing: built in a module's ``__init__`` the layer owns its variables; built inside
  a running ``forward`` (TF1 graph code) they belong to that module under the layer's scope and
  are shared by every later pass (:mod:`kcompat.compat.v1.variable_scope`); an initializer of
  ``None`` is the scope's initializer, else glorot uniform, as ``tf.compat.v1.get_variable``;
- the dtype of the first input where none is given; ``reuse``; ``scope_name``, ``apply``;
- the graph-only properties a PyTorch user still needs: ``input``/``output`` (the latest call's
  tensors, held weakly), ``input_shape``/``output_shape`` and ``get_*_shape_at(i)`` (node ``i``
  is the ``i``-th distinct input shape), ``weights``/``trainable_weights``/``updates``.
"""

from __future__ import annotations

import weakref

import torch

from ... import dtype_policy, initializers as keras_initializers
from ...layers.base import as_tensor
from ...serialization import serialize, to_snake_case
from . import initializers as v1_initializers
from . import variable_scope as vs
from .initializers import glorot_uniform_initializer

__all__ = ["Layer"]


class Layer:
    """Mixin: put it first, before the kcompat Keras layer it gives TF1's surface to."""

    _nested_names = True
    _keras_storage = True  # variables as TensorFlow holds them (TF names and layout)

    def __init__(self, *args, **kwargs):
        reuse = kwargs.pop("_reuse", None)
        scope = kwargs.pop("_scope", None)
        dtype = kwargs.pop("dtype", None)
        if reuse not in (None, False, True, vs.AUTO_REUSE):
            raise ValueError(
                f"The reuse parameter must be True or False or None or AUTO_REUSE. Received: reuse={reuse!r}"
            )
        super().__init__(*args, dtype="float32" if dtype is None else dtype, **kwargs)
        self._infer_dtype = dtype is None  # TF1 layers take the dtype of their first input
        self._base_name = kwargs.get("name") or to_snake_case(type(self).__name__)
        self._reuse = reuse
        self._scope = None
        self._nodes = []
        self._last = None
        # Built inside a running forward: TF1 graph code; the variables go to that module.
        self._graph_owner = None
        self._running_pass = None
        state = vs.current_pass(type(self).__name__, required=False)
        if state is not None:
            self._graph_owner = weakref.ref(state.owner)
            if scope is not None:
                with vs.variable_scope.in_pass(state, scope) as captured:
                    self._scope = captured

    # Copies and pickles: the weak references (the last call's tensors, the module a graph
    # layer belongs to) cannot be pickled; the owner travels as a strong reference and is
    # weakly held again on arrival, the last call's tensors are dropped.
    def __getstate__(self):
        state = self.__dict__.copy()
        state["_last"] = None
        if self._graph_owner is not None:
            state["_graph_owner"] = (self._graph_owner(),)
        return state

    def __setstate__(self, state):
        owner = state.pop("_graph_owner")
        super().__setstate__(state)
        if owner is None:
            self._graph_owner = None
        else:
            self._graph_owner = weakref.ref(owner[0]) if owner[0] is not None else (lambda: None)

    # ------------------------------------------------------------- variables
    def add_weight(self, name, shape, initializer, *, regularizer=None, constraint=None):
        if initializer is None:  # TF1's rule: the variable scope's initializer, else glorot uniform
            scope_default = self._scope.initializer if self._scope is not None else None
            initializer = scope_default if scope_default is not None else glorot_uniform_initializer()
        variable = super().add_weight(name, shape, initializer, regularizer=regularizer, constraint=constraint)
        if constraint is not None and self._graph_owner is not None:
            vs.scope_module(self._graph_owner(), self._scope.name).constraints[name] = constraint
        return variable

    def _create_variable(self, w, shape, initializer, regularizer):
        """Built in a module's forward: the variable is that module's ``<scope>/<name>``, shared
        through the variable scope; otherwise the layer's own."""
        if self._graph_owner is None:
            return super()._create_variable(w, shape, initializer, regularizer)
        state = self._running_pass or vs.current_pass(type(self).__name__)
        if state.owner is not self._graph_owner():
            raise RuntimeError(
                f"Layer {self.name} was created inside the forward of another module than the one "
                "now running; TF1 layers built in a forward belong to that module."
            )
        argument = f"{w.keras}_initializer"
        return vs.get_variable_in_pass(
            state, w.keras, shape, self.dtype,
            lambda shape, dtype: keras_initializers.initial_value(initializer, shape, dtype, argument),
            state.current.reuse, self._trainable and w.trainable, self._device, w.layout, regularizer=regularizer,
        )

    # ------------------------------------------------------------- calling
    def _set_scope(self, state):
        if self._scope is not None:
            return
        if self._reuse:
            with vs.variable_scope.in_pass(state, self._base_name) as captured:
                self._scope = captured
        else:
            with vs.variable_scope.in_pass(state, None, default_name=self._base_name) as captured:
                self._scope = captured

    def _check_inputs(self, inputs):
        """Where TF1's class refuses what the Keras layer takes (a subclass's hook)."""

    def forward(self, inputs, *args, **kwargs):
        inputs = as_tensor(inputs)
        self._check_inputs(inputs)
        if not self._nodes and not self._created and self._infer_dtype and inputs.is_floating_point():
            self.dtype_policy = dtype_policy.get(inputs.dtype)
        if torch.compiler.is_compiling() and self._compiles_alone():
            return super().forward(inputs, *args, **kwargs)
        state = vs.current_pass(type(self).__name__, required=self._graph_owner is not None)
        if state is None:
            if self._scope is None:
                self._scope = vs.Scope(self._base_name)
            outputs = super().forward(inputs, *args, **kwargs)
        else:
            self._set_scope(state)
            first = not self.built
            self._running_pass = state  # for the build inside, which would otherwise walk the stack again
            try:
                with vs.variable_scope.in_pass(state, self._scope, reuse=True if self.built else self._reuse):
                    outputs = super().forward(inputs, *args, **kwargs)
            finally:
                self._running_pass = None
            if self._graph_owner is None and (first or id(self) not in state.regularized_layers) and self._trainable:
                # A submodule's weight penalties join its owner's pass once, like TF's collection.
                for name, (_, _, regularizer, _) in self._created.items():
                    if regularizer is not None and self._spec(name).trainable:
                        state.losses.append((f"{self._scope.name}/{name}", regularizer(self.keras_weight(name))))
            state.regularized_layers.add(id(self))
            for loss in self._activity_losses:
                state.losses.append((self._scope.name, loss))
        shapes = (tuple(inputs.shape), tuple(outputs.shape))
        if shapes not in self._nodes:
            self._nodes.append(shapes)
        self._last = (weakref.ref(inputs), weakref.ref(outputs))
        return outputs

    def _compiles_alone(self):
        """Under torch.compile/export: a built layer object with nothing to record in its
        owner's pass (no weight or activity penalty) is its computation alone; the TF1
        bookkeeping (finding the owner on the call stack, the node history) is eager-only."""
        return (self.built and self._scope is not None and self._graph_owner is None
                and self.activity_regularizer is None
                and all(regularizer is None for _, _, regularizer, _ in self._created.values()))

    def apply(self, inputs, *args, **kwargs):
        """TF1's alias of ``__call__``."""
        return self(inputs, *args, **kwargs)

    # ------------------------------------------------------------- TF1 Layer surface
    @property
    def scope_name(self):
        if self._scope is None:
            raise ValueError(
                f'No name available for layer scope because the layer "{self.name}" has not been used '
                "yet. The scope name  is determined the first time the layer instance is called. You "
                "must therefore call the layer before querying `scope_name`."
            )
        return self._scope.name

    @property
    def weights(self):
        """The variables in TF's order (``[kernel, bias]``; ``[]`` before the build)."""
        return self._variables()

    variables = weights

    @property
    def trainable_weights(self):
        return [v for v in self.weights if v.requires_grad] if self._trainable else []

    trainable_variables = trainable_weights

    @property
    def non_trainable_weights(self):
        return [v for v in self.weights if not (self._trainable and v.requires_grad)]

    non_trainable_variables = non_trainable_weights

    @property
    def updates(self):
        """Always ``[]``: kcompat applies an update (BatchNormalization's moving statistics) in
        the training pass itself, where TF1 leaves an op in ``UPDATE_OPS`` to run."""
        return []

    def _node(self, index, what):
        if not self._nodes:
            raise RuntimeError(
                f"The layer {self.name} has never been called and thus has no defined {what}."
            )
        if not 0 <= index < len(self._nodes):
            raise ValueError(
                f"Asked to get {what} at node {index}, but the layer has only {len(self._nodes)} "
                "inbound nodes."
            )
        return self._nodes[index]

    def get_input_shape_at(self, node_index):
        """Input shape of node ``node_index`` (the ``node_index``-th distinct input shape)."""
        return self._node(node_index, "input shape")[0]

    def get_output_shape_at(self, node_index):
        return self._node(node_index, "output shape")[1]

    def _single(self, position, what):
        if not self._nodes:
            raise AttributeError(f"The layer {self.name} has never been called and thus has no defined {what}.")
        values = {node[position] for node in self._nodes}
        if len(values) > 1:
            raise AttributeError(
                f'The layer "{self.name}" has multiple inbound nodes, with different {what}s. Hence '
                f"the notion of \"{what}\" is ill-defined for the layer. Use `get_{what.replace(' ', '_')}_at"
                "(node_index)` instead."
            )
        return self._nodes[0][position]

    @property
    def input_shape(self):
        return self._single(0, "input shape")

    @property
    def output_shape(self):
        return self._single(1, "output shape")

    def _last_tensor(self, position, what):
        if self._last is None:
            raise AttributeError(f"Layer {self.name} is not connected, no input to return.")
        tensor = self._last[position]()
        if tensor is None:
            raise AttributeError(
                f"The {what} of the latest call of layer {self.name} is no longer alive: kcompat holds "
                "it weakly so that a layer does not keep a whole step's autograd graph in memory."
            )
        return tensor

    @property
    def input(self):
        """The input tensor of the latest call (held weakly)."""
        return self._last_tensor(0, "input")

    @property
    def output(self):
        """The output tensor of the latest call (held weakly)."""
        return self._last_tensor(1, "output")

    def get_config(self):
        """The Keras layer's config with TF1's dtype (``None`` until inferred) and TF1 initializers."""
        config = super().get_config()
        inferred = self._infer_dtype and not (self._created or self._nodes)
        config["dtype"] = None if inferred else self.dtype_policy.name
        for key in config:
            if key.endswith("_initializer"):
                config[key] = serialize(getattr(self, key))
        return config

    @classmethod
    def from_config(cls, config):
        """A layer from a config written by tf_keras's TF1 class or by kcompat."""
        config = dict(config)
        for key, value in config.items():
            if key.endswith("_initializer") and isinstance(value, dict):
                config[key] = v1_initializers.get(value)
        return cls(**config)


def functional(cls, op_name, inputs, reuse, name, training=None, **arguments):
    """The functional spelling: a new layer of ``cls`` called once, under its own name scope."""
    vs.current_pass(op_name)
    layer = cls(**arguments, name=name, _reuse=reuse, _scope=name)
    return layer(inputs) if training is None else layer(inputs, training=training)
