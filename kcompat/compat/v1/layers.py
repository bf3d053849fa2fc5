"""TF1's ``tf.layers.conv{2,3}d_transpose`` and ``tf.compat.v1.layers.Conv{2,3}DTranspose``.

The same arithmetic and functional core as :class:`kcompat.Conv2DTranspose`; what differs is
TF1's: arguments and defaults (``data_format="channels_last"`` fixed, ``kernel_initializer=None``
meaning the scope's initializer or glorot uniform, dtype inferred from the first input),
variable names and sharing (see :mod:`kcompat.compat.v1.variable_scope`), and the TF1 Layer
surface. Variables are stored as TensorFlow has them: ``kernel`` ``(kh, kw, filters, in)``
(its memory in torch order, so ``weight``, the torch-layout view, costs nothing) and ``bias``.
"""

from __future__ import annotations

import weakref

import numpy as np
import torch

from ... import dtype_policy, initializers as keras_initializers
from ...layers.conv_transpose import BaseConvTranspose
from ...serialization import serialize
from . import variable_scope as vs
from . import initializers as v1_initializers
from .initializers import glorot_uniform_initializer, zeros_initializer

__all__ = ["Conv2DTranspose", "Conv3DTranspose", "conv2d_transpose", "conv3d_transpose"]

_DEFAULT_BIAS_INITIALIZER = zeros_initializer()


class Conv2DTranspose(BaseConvTranspose):
    """``tf.compat.v1.layers.Conv2DTranspose`` on PyTorch (TF1 output shapes and names).

    Built in a module's ``__init__`` it is an ordinary submodule: its variables are its own
    ``kernel`` and ``bias`` parameters. Built inside a ``forward`` (as TF1 graph code does), its
    variables belong to that module under the layer's TF scope, and are shared by every later
    forward pass; see :mod:`kcompat.compat.v1.variable_scope`.

    Output length per axis: ``valid``: ``I * s + max(k - s, 0)``; ``same``: ``I * s``.
    The tf_keras implementation also accepts Keras's ``output_padding`` and ``dilation_rate``
    keywords, and so does this class.

    Graph-only properties, as a PyTorch user needs them: ``input``/``output`` are the tensors
    of the latest call (held weakly: they are gone once nothing else holds them);
    ``input_shape``/``output_shape`` and ``get_*_shape_at(i)`` count as node ``i`` the
    ``i``-th distinct input shape the layer was called with; ``updates`` is always ``[]``.
    """

    rank = 2
    _nested_names = True
    _keras_storage = True  # variables as TensorFlow holds them: ``kernel`` (TF layout) and ``bias``
    _default_name = "conv2d_transpose"

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format="channels_last",
                 activation=None, use_bias=True, kernel_initializer=None,
                 bias_initializer=_DEFAULT_BIAS_INITIALIZER, kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, trainable=True,
                 name=None, **kwargs):
        reuse = kwargs.pop("_reuse", None)
        scope = kwargs.pop("_scope", None)
        dtype = kwargs.pop("dtype", None)
        if reuse not in (None, False, True, vs.AUTO_REUSE):
            raise ValueError(
                f"The reuse parameter must be True or False or None or AUTO_REUSE. Received: reuse={reuse!r}"
            )
        super().__init__(
            filters=filters, kernel_size=kernel_size, strides=strides, padding=padding,
            data_format=data_format, activation=activation, use_bias=use_bias,
            kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer, kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint, trainable=trainable, name=name,
            dtype="float32" if dtype is None else dtype, **kwargs,
        )
        self._infer_dtype = dtype is None  # TF1 layers take the dtype of their first input
        self._base_name = name or self._default_name
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
    def _initializer(self, initializer):
        """TF1's rule for ``None``: the variable scope's initializer, else glorot uniform."""
        if initializer is None:
            scope_default = self._scope.initializer if self._scope is not None else None
            initializer = scope_default if scope_default is not None else glorot_uniform_initializer()
        return initializer

    def add_weight(self, name, shape, initializer, *, regularizer=None, constraint=None):
        return super().add_weight(name, shape, self._initializer(initializer), regularizer=regularizer,
                                  constraint=constraint)

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
        variable = vs.get_variable_in_pass(
            state, w.keras, shape, self.dtype,
            lambda shape, dtype: keras_initializers.initial_value(initializer, shape, dtype, argument),
            state.current.reuse, self._trainable, self._device, w.layout, regularizer=regularizer,
        )
        constraint = getattr(self, f"{w.keras}_constraint")
        if constraint is not None:
            vs.scope_module(state.owner, self._scope.name).constraints[w.keras] = constraint
        return variable

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

    def forward(self, inputs):
        if not isinstance(inputs, torch.Tensor):
            inputs = torch.as_tensor(np.asarray(inputs))
        if self.rank == 2 and self.dilation_rate[0] != self.dilation_rate[1]:
            # tf_keras's backend (atrous_conv2d_transpose), which TF1 layers call, takes one rate.
            raise ValueError(
                "Expected the 2 dimensions of the `dilation_rate` argument to be equal to each other. "
                f"Received: dilation_rate={self.dilation_rate}"
            )
        if not self.built and self._infer_dtype and inputs.is_floating_point():
            self.dtype_policy = dtype_policy.get(inputs.dtype)
        if torch.compiler.is_compiling() and self._compiles_alone():
            return super().forward(inputs)
        state = vs.current_pass(type(self).__name__, required=self._graph_owner is not None)
        if state is None:
            if self._scope is None:
                self._scope = vs.Scope(self._base_name)
            outputs = super().forward(inputs)
        else:
            self._set_scope(state)
            first = not self.built
            self._running_pass = state  # for the build inside, which would otherwise walk the stack again
            try:
                with vs.variable_scope.in_pass(state, self._scope, reuse=True if self.built else self._reuse):
                    outputs = super().forward(inputs)
            finally:
                self._running_pass = None
            if self._graph_owner is None and (first or id(self) not in state.regularized_layers):
                # A submodule's weight penalties join its owner's pass once, like TF's collection.
                for name, reg, var in (("kernel", self.kernel_regularizer, self.kernel),
                                       ("bias", self.bias_regularizer, self.bias)):
                    if reg is not None and var is not None and self._trainable:
                        state.losses.append((f"{self._scope.name}/{name}", reg(var)))
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
                and self.kernel_regularizer is None and self.bias_regularizer is None
                and self.activity_regularizer is None)

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
        """``[kernel, bias]`` (``[kernel]`` without bias; ``[]`` before the build)."""
        return [v for v in (self.kernel, self.bias) if v is not None]

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
        """Always ``[]``: a transposed convolution has no update ops."""
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
        """What tf_keras's TF1 ``Conv2DTranspose.get_config()`` returns (Keras 2 format)."""
        config = super().get_config()
        config.update({
            "dtype": None if self._infer_dtype and not self.built else self.dtype_policy.name,
            "groups": 1,
            "kernel_initializer": serialize(self.kernel_initializer),
            "bias_initializer": serialize(self.bias_initializer),
        })
        return config

    @classmethod
    def from_config(cls, config):
        """A layer from a config written by tf_keras's TF1 class or by kcompat."""
        config = dict(config)
        if config.get("groups", 1) == 1:
            config.pop("groups", None)
        for key in ("kernel_initializer", "bias_initializer"):
            if isinstance(config.get(key), dict):
                config[key] = v1_initializers.get(config[key])
        return cls(**config)


class Conv3DTranspose(Conv2DTranspose):
    """``tf.compat.v1.layers.Conv3DTranspose`` on PyTorch: the 2-D class's TF1 semantics (names,
    scopes, sharing, dtype from the first input, output length per axis ``valid``:
    ``I * s + max(k - s, 0)``, ``same``: ``I * s``), in three spatial dimensions.

    TensorFlow's class is Keras 2's ``Conv3DTranspose``, which takes ``dilation_rate`` and
    ignores it; kcompat refuses a ``dilation_rate`` other than 1 rather than compute something
    other than what was asked. Its ``get_config()`` has no ``dilation_rate``, as Keras 2's.
    """

    rank = 3
    _default_name = "conv3d_transpose"

    def __init__(self, filters, kernel_size, strides=(1, 1, 1), padding="valid", data_format="channels_last",
                 activation=None, use_bias=True, kernel_initializer=None,
                 bias_initializer=_DEFAULT_BIAS_INITIALIZER, kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, trainable=True,
                 name=None, **kwargs):
        super().__init__(filters, kernel_size, strides=strides, padding=padding, data_format=data_format,
                         activation=activation, use_bias=use_bias, kernel_initializer=kernel_initializer,
                         bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
                         bias_regularizer=bias_regularizer, activity_regularizer=activity_regularizer,
                         kernel_constraint=kernel_constraint, bias_constraint=bias_constraint, trainable=trainable,
                         name=name, **kwargs)
        if max(self.dilation_rate) > 1:
            raise ValueError(
                "tf.compat.v1.layers.Conv3DTranspose (Keras 2's Conv3DTranspose) ignores `dilation_rate`; kcompat "
                f"refuses it rather than compute without it. Received: dilation_rate={self.dilation_rate}")

    def get_config(self):
        """What tf_keras's TF1 ``Conv3DTranspose.get_config()`` returns (no ``dilation_rate``)."""
        config = super().get_config()
        config.pop("dilation_rate")
        return config


def _functional(cls, op_name, inputs, reuse, name, **arguments):
    """The functional spelling: a new layer of ``cls`` called once, under its own name scope."""
    vs.current_pass(op_name)
    layer = cls(**arguments, name=name, _reuse=reuse, _scope=name)
    return layer(inputs)


@torch.compiler.disable  # TF1 graph code finds its module on the call stack: it runs eagerly in compiled code
def conv2d_transpose(inputs, filters, kernel_size, strides=(1, 1), padding="valid", data_format="channels_last",
                     activation=None, use_bias=True, kernel_initializer=None,
                     bias_initializer=_DEFAULT_BIAS_INITIALIZER, kernel_regularizer=None, bias_regularizer=None,
                     activity_regularizer=None, kernel_constraint=None, bias_constraint=None, trainable=True,
                     name=None, reuse=None):
    """``tf.layers.conv2d_transpose`` (TF1): call it inside a module's ``forward``.

    Creates ``<scope>/<name>/kernel`` and ``.../bias`` on the first forward pass, as variables of
    the module whose ``forward`` is running; later passes reuse them. ``name=None`` gives
    ``conv2d_transpose``, ``conv2d_transpose_1``, ... within the current variable scope;
    ``reuse=True`` shares an existing layer's variables; a second layer with the same name in
    one pass fails ("already exists") unless ``reuse`` is set.
    """
    return _functional(Conv2DTranspose, "tf.layers.conv2d_transpose", **locals())  # TF1 argument names


@torch.compiler.disable  # TF1 graph code finds its module on the call stack: it runs eagerly in compiled code
def conv3d_transpose(inputs, filters, kernel_size, strides=(1, 1, 1), padding="valid", data_format="channels_last",
                     activation=None, use_bias=True, kernel_initializer=None,
                     bias_initializer=_DEFAULT_BIAS_INITIALIZER, kernel_regularizer=None, bias_regularizer=None,
                     activity_regularizer=None, kernel_constraint=None, bias_constraint=None, trainable=True,
                     name=None, reuse=None):
    """``tf.layers.conv3d_transpose`` (TF1): :func:`conv2d_transpose`'s rules in three dimensions
    (``name=None`` gives ``conv3d_transpose``, ``conv3d_transpose_1``, ...)."""
    return _functional(Conv3DTranspose, "tf.layers.conv3d_transpose", **locals())  # TF1 argument names
