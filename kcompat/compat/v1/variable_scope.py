"""TF1 variable scopes on PyTorch: whose weights a ``tf.layers`` call creates, under what name.

TensorFlow 1 builds a graph once and runs it many times; PyTorch runs ``forward`` every step.
kcompat maps one onto the other: the weights created by a TF1 call belong to the
``torch.nn.Module`` whose ``forward`` is running (the *owner*), and **each call of the owner
replays the graph construction**: scope counters start again, the variable a call created on
the first pass is the one it gets on every later pass, and TF1's rules apply within one pass
(a second layer with an existing name and no ``reuse`` fails with "already exists",
``reuse=True`` fails with "does not exist" when nothing was created under that name).

Variables are registered on the owner under their TF names, ``/`` becoming ``.``:
``generator/deconv1/kernel`` is ``owner.generator.deconv1.kernel`` and the ``state_dict`` key
``"generator.deconv1.kernel"``, with TF's shape ``(kh, kw, filters, in_channels)``.
Nothing is global: two instances of one model never share weights.
"""

from __future__ import annotations

import enum
import re
import sys
import weakref

import torch

from ... import layouts

__all__ = ["AUTO_REUSE", "VariableScope", "variable_scope", "get_variable_scope", "get_variable"]


class _ReuseMode(enum.Enum):
    AUTO_REUSE = 1


AUTO_REUSE = _ReuseMode.AUTO_REUSE
"""Create variables that do not exist, share those that do (``tf.compat.v1.AUTO_REUSE``)."""


class VariableScope(torch.nn.Module):
    """A TF1 variable scope in the owner's module tree: child scopes and the variables in it."""

    def __init__(self, name: str):
        super().__init__()
        self.scope_name = name
        self.constraints = {}  # variable name -> constraint, applied by kcompat.apply_constraints

    @torch.no_grad()
    def _apply_own_constraints(self):
        for name, constraint in self.constraints.items():
            variable = self._parameters.get(name)
            if variable is not None:
                variable.copy_(constraint(variable.clone()))

    def extra_repr(self):
        return repr(self.scope_name)


class Scope:
    """The active scope of one pass (TensorFlow's ``VariableScope`` object)."""

    __slots__ = ("name", "reuse", "initializer", "regularizer", "dtype")

    def __init__(self, name="", reuse=False, initializer=None, regularizer=None, dtype=None):
        self.name, self.reuse, self.initializer = name, reuse, initializer
        self.regularizer, self.dtype = regularizer, dtype

    def reuse_variables(self):
        """Share the variables of this scope from here on (``scope.reuse_variables()``)."""
        self.reuse = True

    def __repr__(self):
        return f"<variable scope {self.name!r} reuse={self.reuse!r}>"


class _Pass:
    """One forward call of the owner: TF1's graph construction, replayed."""

    def __init__(self, owner):
        self.owner_ref = weakref.ref(owner)
        self.current = Scope()
        self.counts = {}
        self.claimed = set()
        self.losses = []
        self.regularized_layers = set()

    @property
    def owner(self):
        return self.owner_ref()

    def open(self, name):
        self.counts[name] = self.counts.get(name, 0) + 1

    def close_subscopes(self, name):
        prefix = name + "/"
        for key in self.counts:
            if key.startswith(prefix):
                self.counts[key] = 0

    def unique(self, prefix):
        """TF's ``_get_unique_variable_scope``: ``prefix``, ``prefix_1``, ... in the current scope."""
        full = f"{self.current.name}/{prefix}" if self.current.name else prefix
        if self.counts.get(full, 0) == 0:
            return prefix
        idx = 1
        while self.counts.get(f"{full}_{idx}", 0) > 0:
            idx += 1
        return f"{prefix}_{idx}"


_passes: "weakref.WeakKeyDictionary[torch.nn.Module, _Pass]" = weakref.WeakKeyDictionary()


def _start_pass(module, args):
    _passes[module] = _Pass(module)


@torch.compiler.disable  # frames are invisible to torch.compile: a graph break, run eagerly
def _find_owner():
    """The innermost ``torch.nn.Module`` whose ``forward`` is on the call stack (kcompat layers skipped)."""
    from ...layers.base import Layer

    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_name == "forward" and frame.f_code.co_argcount:
            candidate = frame.f_locals.get(frame.f_code.co_varnames[0])
            if isinstance(candidate, torch.nn.Module) and not isinstance(candidate, Layer):
                return candidate
        frame = frame.f_back
    return None


def current_pass(what, required=True):
    """The pass of the module whose ``forward`` is running; an error (or ``None``) outside one."""
    owner = _find_owner()
    if owner is None:
        if not required:
            return None
        raise RuntimeError(
            f"{what} creates or looks up TF1 variables, so it must run inside the `forward` of a "
            "torch.nn.Module: that module owns the variables (they appear in its parameters() and "
            "state_dict() under their TF names). Call it from a module's forward, or build the "
            "layer object (kcompat.compat.v1.layers.Conv2DTranspose) in __init__ instead."
        )
    state = _passes.get(owner)
    if state is None:  # first TF1 call ever inside this module: later calls start passes via the hook
        owner.register_forward_pre_hook(_start_pass)
        state = _passes[owner] = _Pass(owner)
    return state


@torch.compiler.disable  # finds its module on the call stack: runs eagerly in compiled code
def get_variable_scope():
    """The current variable scope of the running pass (``tf.compat.v1.get_variable_scope``)."""
    return current_pass("get_variable_scope()").current


class variable_scope:  # noqa: N801 - TensorFlow's spelling
    """``tf.compat.v1.variable_scope``: a context manager naming and sharing TF1 variables.

    Use it inside a module's ``forward`` exactly as in TF1 code::

        with tf1.variable_scope("generator", reuse=tf1.AUTO_REUSE):
            x = tf1.layers.conv2d_transpose(z, 64, 5, 2, "same", name="deconv1")

    ``reuse`` is ``None``/``False`` (inherit), ``True`` or ``AUTO_REUSE``; ``initializer``,
    ``regularizer`` and ``dtype`` become the defaults of variables created inside.
    ``default_name`` gives ``name``, ``name_1``, ... when ``name_or_scope`` is ``None``.
    """

    def __init__(self, name_or_scope, default_name=None, values=None, initializer=None, regularizer=None,
                 caching_device=None, partitioner=None, custom_getter=None, reuse=None, dtype=None,
                 use_resource=None, constraint=None, auxiliary_name_scope=True):
        if reuse not in (None, False, True, AUTO_REUSE):
            raise ValueError(
                f"The reuse parameter must be True or False or None or AUTO_REUSE. Received: reuse={reuse!r}"
            )
        if name_or_scope is None and default_name is None:
            raise TypeError("If default_name is None then name_or_scope is required")
        if name_or_scope is not None and not isinstance(name_or_scope, (str, Scope)):
            raise TypeError(
                f"VariableScope: name_or_scope must be a string or VariableScope. Received: {name_or_scope!r}"
            )
        if name_or_scope is None and reuse is True:
            raise ValueError("reuse=True cannot be used without a name_or_scope")
        for arg, value in (("caching_device", caching_device), ("partitioner", partitioner),
                           ("custom_getter", custom_getter), ("constraint", constraint)):
            if value is not None:
                raise NotImplementedError(f"kcompat's variable_scope does not support `{arg}`. Received: {value!r}")
        self._name_or_scope, self._default_name = name_or_scope, default_name
        self._reuse, self._initializer, self._regularizer, self._dtype = reuse, initializer, regularizer, dtype
        self._given_pass = None

    @classmethod
    def in_pass(cls, state, name_or_scope, **kwargs):
        """The scope entered in ``state``, a pass the caller already found (one stack walk, not two)."""
        scope = cls(name_or_scope, **kwargs)
        scope._given_pass = state
        return scope

    def __enter__(self):
        state = self._pass = self._given_pass or current_pass("variable_scope", required=False)
        if state is None:
            # Outside a forward (TF1 code that opens a scope in a constructor): nothing can be
            # created in it (get_variable and tf.layers calls fail clearly), so it names nothing.
            name = self._name_or_scope.name if isinstance(self._name_or_scope, Scope) else (
                self._name_or_scope or self._default_name)
            return Scope(name, self._reuse or False, self._initializer, self._regularizer, self._dtype)
        old = self._old = state.current
        name_or_scope = self._name_or_scope
        if isinstance(name_or_scope, Scope):
            name = name_or_scope.name
            reuse = self._reuse or name_or_scope.reuse
            base = name_or_scope
            state.open(name)
            self._snapshot = dict(state.counts)
        else:
            if name_or_scope is None:
                name_or_scope = state.unique(self._default_name)
            name = f"{old.name}/{name_or_scope}" if old.name else name_or_scope
            reuse = self._reuse or old.reuse
            base = old
            self._snapshot = None
        scope = Scope(
            name, reuse,
            self._initializer if self._initializer is not None else base.initializer,
            self._regularizer if self._regularizer is not None else base.regularizer,
            self._dtype if self._dtype is not None else base.dtype,
        )
        if self._snapshot is None:
            state.open(name)
        state.current = self._scope = scope
        return scope

    def __exit__(self, *exc):
        state = self._pass
        if state is None:
            return False
        if state.current is not self._scope:
            raise RuntimeError("Improper nesting of variable_scope.")
        if self._snapshot is not None:
            state.counts = self._snapshot
        else:
            state.close_subscopes(self._scope.name)
        state.current = self._old
        return False


# ------------------------------------------------------------------ variables
def _child(module, component, full_name, create):
    if not component or "." in component:
        raise ValueError(
            f"kcompat cannot register the TF1 variable {full_name!r} on a torch module: scope and "
            "variable names must be non-empty and free of '.' between the '/' separators."
        )
    child = module._modules.get(component)
    if child is None:
        if not create:
            return None
        if component in module.__dict__ or component in module._parameters or component in module._buffers:
            raise ValueError(
                f"The TF1 scope {component!r} of {full_name!r} clashes with the attribute "
                f"{type(module).__name__}.{component}; rename the scope or the attribute."
            )
        child = VariableScope(full_name.rsplit("/", 1)[0])
        if hasattr(type(module), component):
            # A scope named like a method of its module (``def generator`` opening
            # ``variable_scope("generator")``, as TF1 GAN code does): registered beside the
            # method, so that the code ports unchanged and state_dict() keys keep TF's names;
            # ``module.generator`` is still the method.
            module._modules[component] = child
        else:
            module.add_module(component, child)
    elif not isinstance(child, VariableScope):
        raise ValueError(
            f"The TF1 scope {component!r} of {full_name!r} clashes with the submodule "
            f"{type(module).__name__}.{component} ({type(child).__name__}); rename one of them."
        )
    return child


def _lookup(owner, full_name):
    *scopes, leaf = full_name.split("/")
    module = owner
    for component in scopes:
        module = module._modules.get(component)
        if not isinstance(module, VariableScope):
            return None
    return module._parameters.get(leaf)


def scope_module(owner, scope_name):
    """The :class:`VariableScope` module of an existing scope (``owner`` itself for the root)."""
    module = owner
    for component in scope_name.split("/") if scope_name else ():
        module = module._modules[component]
    return module


def _tf_shaped(value, layout, device, requires_grad):
    """A ``Parameter`` of TF's shape whose memory is in torch's layout (so the torch view is free)."""
    value = value if device is None else value.to(device)
    return torch.nn.Parameter(layout.keras_view_of_torch_memory(value), requires_grad=requires_grad)


def get_variable_in_pass(state, name, shape, dtype, initializer, reuse, trainable, device, layout,
                 regularizer=None, collect_regularizer=True):
    """TF1's ``get_variable`` in the current scope of ``state`` (one pass of its owner).

    ``initializer(shape, dtype)`` makes the value in TF's shape; the parameter is stored with
    its memory in ``layout``'s torch order (:mod:`kcompat.layouts`). Returns the parameter.
    """
    scope = state.current
    full = f"{scope.name}/{name}" if scope.name else name
    owner = state.owner
    existing = _lookup(owner, full)
    if full in state.claimed:
        if not reuse:
            raise ValueError(
                f"Variable {full} already exists, disallowed. Did you mean to set reuse=True or "
                "reuse=tf.AUTO_REUSE in VarScope?"
            )
    elif existing is None and reuse is True:
        raise ValueError(
            f"Variable {full} does not exist, or was not created with tf.get_variable(). "
            "Did you mean to set reuse=tf.AUTO_REUSE in VarScope?"
        )
    if existing is not None:
        if tuple(existing.shape) != tuple(shape):
            raise ValueError(
                f"Trying to share variable {full}, but specified shape {tuple(shape)} and found shape "
                f"{tuple(existing.shape)}."
            )
        if existing.dtype != dtype:
            raise ValueError(
                f"Trying to share variable {full}, but specified dtype {_tf_dtype(dtype)} and found "
                f"dtype {_tf_dtype(existing.dtype)}."
            )
        variable = existing
        created = full not in state.claimed  # replayed from an earlier pass: this pass "creates" it
    else:
        *scopes, leaf = full.split("/")
        module = owner
        for i, component in enumerate(scopes):
            module = _child(module, component, "/".join(scopes[: i + 1] + [leaf]), create=True)
        if not leaf or "." in leaf or hasattr(module, leaf):
            raise ValueError(f"kcompat cannot register the TF1 variable {full!r} on {type(module).__name__}.")
        value = initializer(tuple(shape), dtype)
        if device is None:
            device = next((p.device for p in owner.parameters()), None)
        variable = _tf_shaped(value, layout, device, trainable)
        module.register_parameter(leaf, variable)
        created = True
    state.claimed.add(full)
    if created and collect_regularizer:
        regularizer = regularizer if regularizer is not None else scope.regularizer
        if regularizer is not None:
            penalty = regularizer(variable)
            if penalty is not None:
                state.losses.append((full, penalty))
    return variable


def _tf_dtype(dtype):
    return f"<dtype: '{str(dtype).replace('torch.', '')}'>"


def regularization_losses(module, scope=None):
    """Regularization losses of ``module``'s latest forward pass, optionally filtered by scope."""
    state = _passes.get(module)
    if state is None:
        return []
    return [loss for name, loss in state.losses if scope is None or re.match(scope, name)]


@torch.compiler.disable  # finds its module on the call stack: runs eagerly in compiled code
def get_variable(name, shape=None, dtype=None, initializer=None, regularizer=None, trainable=None,
                 collections=None, caching_device=None, partitioner=None, validate_shape=True, use_resource=None,
                 custom_getter=None, constraint=None, **kwargs):
    """``tf.compat.v1.get_variable``: create or share ``<scope>/<name>`` as a variable of the running module.

    Rank-4 variables are stored with their memory in torch's convolution order, so that a
    ``(kh, kw, out, in)`` filter handed to :func:`kcompat.tf_nn.conv2d_transpose` costs no copy.
    """
    from ... import initializers as keras_initializers

    state = current_pass("get_variable")
    scope = state.current
    if initializer is not None and not callable(initializer):  # a constant value gives the shape
        value = torch.as_tensor(initializer.detach() if isinstance(initializer, torch.Tensor) else initializer)
        if shape is not None:
            raise ValueError("If initializer is a constant, do not specify shape.")
        shape, initializer = tuple(value.shape), keras_initializers.get(value.numpy())
        dtype = dtype if dtype is not None else value.dtype
    dtype = dtype if dtype is not None else (scope.dtype if scope.dtype is not None else torch.float32)
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype)
    full = f"{scope.name}/{name}" if scope.name else name
    existing = _lookup(state.owner, full)
    if shape is None:
        if existing is None and scope.reuse is not True:
            if initializer is None:
                raise ValueError(
                    f"Variable {full} did not get an initializer, so its `shape` argument must be specified."
                )
            raise ValueError(
                "The initializer passed is not valid. It should be a callable with no arguments and the "
                "shape should not be provided or an instance of `tf.keras.initializers.*' and `shape` "
                "should be fully defined."
            )
        shape = tuple(existing.shape) if existing is not None else ()
    shape = tuple(int(n) for n in shape)
    if initializer is None:
        initializer = scope.initializer
    if initializer is None:
        from .initializers import glorot_uniform_initializer

        initializer = glorot_uniform_initializer()
    variable = get_variable_in_pass(
        state, name, shape, dtype, lambda s, d: keras_initializers.initial_value(initializer, s, d, "initializer"),
        scope.reuse, True if trainable is None else bool(trainable), None,
        layouts.KERNEL if len(shape) == 4 else layouts.SAME, regularizer=regularizer,
    )
    if constraint is not None:
        scope_name, leaf = full.rsplit("/", 1) if "/" in full else ("", full)
        scope_module(state.owner, scope_name).constraints[leaf] = constraint
    return variable
