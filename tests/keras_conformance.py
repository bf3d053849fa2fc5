"""Keras's own layer tests, run as they are against kcompat's layers.

Keras 3 ships its layer tests in the package (``keras/src/layers/**/*_test.py``). :func:`load`
reads one from the installed ``keras``, rewrites its ``import`` statements and executes it, so
that ``from keras.src import layers, testing, backend, ops`` bind to the stand-ins below and every
expected value and numpy reference stays as upstream wrote it:

- ``layers``: kcompat's layer under each Keras name, called as Keras calls a layer (a numpy
  array becomes a tensor in the layer's compute dtype) and with Keras's variable surface on each
  weight (``layer.kernel.assign(...)``, ``.numpy()``, ``.constraint``).
- ``testing.TestCase``: ``run_layer_test`` carries out upstream's checks on a kcompat layer:
  config round trip, build from a shape and the weight counts, ``compute_output_shape`` for the
  symbolic call, an eager call (shape, dtype, expected values, losses), a training step
  (backward and an SGD step, all finite) and the ``mixed_float16`` policy. What has no
  counterpart in torch is left out: masks (kcompat has none), seed generators and sparse or
  ragged tensors.
- ``backend`` and ``ops``: what the tests call, on the TensorFlow backend (``backend()`` says
  ``"tensorflow"``: kcompat follows TF's semantics), through numpy.

Anything else a test reaches raises :class:`NotApplicable` naming it; the test module lists such
tests with the reason (``test_keras_conformance.NOT_APPLICABLE``).
"""

from __future__ import annotations

import ast
import functools
import importlib
import importlib.util
import inspect
import json
import os
import pathlib
import tempfile
import types
import unittest

import numpy as np
import pytest
import torch
from absl.testing import parameterized

import kcompat
import kcompat.layers as klayers
from kcompat import activations, constraints, dtype_policy, initializers, regularizers

LAYER_TESTS = pathlib.Path(importlib.util.find_spec("keras").submodule_search_locations[0]) / "src" / "layers"


class NotApplicable(Exception):
    """A test reached a Keras feature kcompat has no counterpart for."""


class _Absent:
    """Stands for a Keras name kcompat has no counterpart for: any use raises NotApplicable."""

    def __init__(self, path):
        self._path = path

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Absent(f"{self._path}.{name}")

    def __call__(self, *args, **kwargs):
        raise NotApplicable(self._path)

    def __mro_entries__(self, bases):
        path = self._path

        def __init__(self, *args, **kwargs):
            raise NotApplicable(path)
        return (type("Absent", (), {"__init__": __init__}),)


# --------------------------------------------------------------------------- values
def _torch_dtype(name):
    return getattr(torch, name) if isinstance(name, str) else name


def standardize_dtype(dtype):
    """Keras's dtype string for a torch/numpy dtype, a string or a Python type."""
    if dtype is None:
        return "float32"
    if isinstance(dtype, torch.dtype):
        return str(dtype).replace("torch.", "")
    if dtype in (float,):
        return "float32"
    if dtype in (int,):
        return "int32"
    if dtype in (bool,):
        return "bool"
    return np.dtype(dtype).name if not isinstance(dtype, str) else dtype


def convert_to_numpy(x):
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        return x.float().numpy() if x.dtype == torch.bfloat16 else x.numpy()
    if isinstance(x, (list, tuple)) and any(isinstance(v, torch.Tensor) for v in x):
        return np.stack([convert_to_numpy(v) for v in x])
    return np.asarray(x)


def _to_layer(value, compute_dtype):
    """A call argument as Keras's layer call converts it: floating arrays to the compute dtype."""
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, (np.ndarray, torch.Tensor)) for v in value):
        return type(value)(_to_layer(v, compute_dtype) for v in value)
    if isinstance(value, dict):
        return {k: _to_layer(v, compute_dtype) for k, v in value.items()}
    if isinstance(value, np.ndarray) or (isinstance(value, list) and value):
        tensor = torch.as_tensor(np.asarray(value))
        return tensor.to(compute_dtype) if tensor.is_floating_point() and compute_dtype is not None else tensor
    return value


def _variable(layer, name, tensor):
    """``tensor`` (a Keras-layout weight) with Keras's variable surface."""
    created = layer._created.get(name)

    def assign(value):
        with torch.no_grad():
            tensor.copy_(torch.as_tensor(convert_to_numpy(value)))
        return tensor

    tensor.assign = assign
    tensor.numpy = lambda: convert_to_numpy(tensor)
    tensor.value = tensor
    tensor.constraint = None if created is None else created[3]
    tensor.regularizer = None if created is None else created[2]
    tensor.path = name
    return tensor


def _weights(layer, trainable):
    out = []
    for name in layer._created:
        stored = layer._stored(layer._stored_name(layer._spec(name)))
        is_trainable = isinstance(stored, torch.nn.Parameter) and layer.trainable
        if trainable is None or is_trainable == trainable:
            out.append(_variable(layer, name, layer.keras_weight(name)))
    return out


class Symbolic:
    """Keras's symbolic tensor (``layers.Input``, ``KerasTensor``): a shape and a dtype.

    A kcompat layer called on one does what Keras's symbolic call does: builds for the shape
    and gives ``compute_output_shape``'s shape (with its errors)."""

    def __init__(self, shape, dtype="float32", sparse=False, ragged=False, name=None):
        if sparse or ragged:
            raise NotApplicable("sparse or ragged tensors")
        self.shape, self.dtype = tuple(shape), standardize_dtype(dtype)

    @property
    def ndim(self):
        return len(self.shape)


def Input(shape=None, batch_size=None, dtype=None, sparse=None, batch_shape=None, name=None, tensor=None,
          optional=False, ragged=None):
    """Keras's ``Input``: a symbolic tensor of ``(batch_size, *shape)``."""
    if tensor is not None or optional:
        raise NotApplicable("Input(tensor=..., optional=...)")
    return Symbolic(batch_shape if batch_shape is not None else (batch_size, *shape), dtype or "float32",
                    sparse=bool(sparse), ragged=bool(ragged))


def _example(symbolic):
    """Zeros of a symbolic tensor's shape (the batch axis 2), where every other axis is known."""
    if any(d is None for d in symbolic.shape[1:]):
        return None
    return torch.zeros((2 if symbolic.shape[0] is None else symbolic.shape[0], *symbolic.shape[1:]),
                       dtype=_torch_dtype(symbolic.dtype))


def _map_symbols(structure, fn):
    if isinstance(structure, (list, tuple)):
        return type(structure)(_map_symbols(s, fn) for s in structure)
    if isinstance(structure, dict):
        return {k: _map_symbols(v, fn) for k, v in structure.items()}
    return fn(structure) if isinstance(structure, Symbolic) else structure


def _symbolic_call(layer, args, kwargs):
    """Keras's symbolic call on kcompat: the layer's forward on zeros where every shape is known
    (its errors are the call's, its outputs' dtypes and count the call's), the shape of a single
    output ``compute_output_shape``'s, as Keras takes it."""
    first = args[0] if args else next(iter(kwargs.values()))
    several = isinstance(first, (list, tuple))
    symbols = list(first) if several else [first]
    shapes = [x.shape for x in symbols] if several else first.shape
    batch = symbols[0].shape[0]
    known = []
    _map_symbols((args, kwargs), lambda x: known.append(_example(x) is not None))
    outputs = None
    if all(known):
        with torch.no_grad():
            out = torch.nn.Module.__call__(layer, *_map_symbols(list(args), _example),
                                           **_map_symbols(kwargs, _example))
        outputs = [Symbolic((batch, *o.shape[1:]), standardize_dtype(o.dtype))
                   for o in (out if isinstance(out, (list, tuple)) else [out])]
    if not layer.built:
        layer.build(shapes)
    if outputs is not None and len(outputs) > 1:
        result = outputs
    else:
        out = layer.compute_output_shape(shapes)
        many = isinstance(out, list) or (isinstance(out, tuple) and out and isinstance(out[0], (tuple, list)))
        dtype = symbols[0].dtype
        dtype = standardize_dtype(layer.compute_dtype) if "float" in dtype else dtype
        dtypes = [o.dtype for o in outputs] if outputs is not None else [dtype] * (len(out) if many else 1)
        result = [Symbolic(o, d) for o, d in zip(out, dtypes)] if many else [Symbolic(out, dtypes[0])]
    for r in result:
        r.history = (layer, args, kwargs)
    return result if len(result) > 1 else result[0]


def _replay(structure, values):
    """The value of a symbolic structure, given the values of a model's inputs (by id)."""
    if isinstance(structure, (list, tuple)):
        return type(structure)(_replay(s, values) for s in structure)
    if not isinstance(structure, Symbolic):
        return structure
    if id(structure) in values:
        return values[id(structure)]
    layer, args, kwargs = structure.history
    outputs = layer(*_replay(list(args), values), **{k: _replay(v, values) for k, v in kwargs.items()})
    return outputs


class Model:
    """Keras's functional ``Model(inputs, outputs)``, for the graphs upstream's tests build of one
    layer: calling it replays the layer calls on the given values."""

    def __init__(self, inputs, outputs, name=None):
        self.inputs, self.outputs = inputs, outputs

    def __call__(self, data, training=None):
        inputs = self.inputs if isinstance(self.inputs, (list, tuple)) else [self.inputs]
        data = data if isinstance(self.inputs, (list, tuple)) else [data]
        return _replay(self.outputs, {id(s): d for s, d in zip(inputs, data)})

    predict = __call__


# Keras layers that set ``self.autocast = False``: their call keeps a floating input's dtype.
_KEEPS_INPUT_DTYPE = {"LayerNormalization", "GroupNormalization", "Embedding"}


def _takes_mask_at(cls, position):
    """Whether Keras's positional argument ``position`` is a mask for kcompat's ``cls`` (its
    ``forward`` names it ``mask``, or takes no such positional argument: Keras's ``call(inputs, mask)``)."""
    parameters = [p for p in inspect.signature(cls.forward).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)][1:]
    return position >= len(parameters) or parameters[position].name == "mask"


@functools.cache
def adapted(cls):
    """kcompat's ``cls`` called and inspected as Keras's layer of the same name is."""

    def __call__(self, *args, **kwargs):
        first = args[0] if args else next(iter(kwargs.values()), None)
        if isinstance(first, Symbolic) or isinstance(first, (list, tuple)) and any(
                isinstance(x, Symbolic) for x in first):
            return _symbolic_call(self, args, kwargs)
        if "mask" in kwargs or len(args) > 1 and _takes_mask_at(cls, 1):
            raise NotApplicable("masks (the call's mask argument)")
        dtype = None if cls.__name__ in _KEEPS_INPUT_DTYPE else self.compute_dtype
        args = [_to_layer(a, dtype) for a in args]
        kwargs = {k: _to_layer(v, dtype) for k, v in kwargs.items()}
        with torch.no_grad():
            return torch.nn.Module.__call__(self, *args, **kwargs)

    def __getattr__(self, name):
        value = cls.__getattr__(self, name)
        if isinstance(value, torch.Tensor) and name in self.__dict__.get("_created", ()):
            return _variable(self, name, value)
        return value

    namespace = {
        "__call__": __call__,
        "__getattr__": __getattr__,
        "__module__": cls.__module__,
        "__qualname__": cls.__name__,
        "weights": property(lambda self: _weights(self, None)),
        "variables": property(lambda self: _weights(self, None)),
        "trainable_weights": property(lambda self: _weights(self, True)),
        "trainable_variables": property(lambda self: _weights(self, True)),
        "non_trainable_weights": property(lambda self: _weights(self, False)),
        "non_trainable_variables": property(lambda self: _weights(self, False)),
        "supports_masking": property(lambda self: (_ for _ in ()).throw(NotApplicable("masks (supports_masking)"))),
        "call_for_training": lambda self, *a, **k: torch.nn.Module.__call__(self, *a, **k),
    }
    if not hasattr(cls, "compute_mask"):
        namespace["compute_mask"] = lambda self, *a, **k: (_ for _ in ()).throw(NotApplicable("masks (compute_mask)"))
    return type(cls.__name__, (cls,), namespace)


class _Layers(types.ModuleType):
    """``keras.layers``: kcompat's layer under each name kcompat has."""

    def __getattr__(self, name):
        if name == "Input":
            return Input
        cls = getattr(klayers, name, None)
        if isinstance(cls, type) and issubclass(cls, torch.nn.Module):
            return adapted(cls)
        raise NotApplicable(f"keras.layers.{name} (kcompat has no such layer)")


layers = _Layers("keras.layers")


# --------------------------------------------------------------------------- backend, ops, random
def _image_data_format():
    from kcompat.validation import image_data_format
    return image_data_format()


def _set_image_data_format(value):
    home = os.environ["KERAS_HOME"]  # TestCase.setUp points it at a fresh folder
    with open(os.path.join(home, "keras.json"), "w") as f:
        json.dump({"image_data_format": value}, f)


backend = types.SimpleNamespace(
    backend=lambda: "tensorflow",
    convert_to_numpy=convert_to_numpy,
    standardize_dtype=standardize_dtype,
    image_data_format=_image_data_format,
    set_image_data_format=_set_image_data_format,
    floatx=lambda: "float32",
    compute_output_spec=lambda fn, *args, **kwargs: fn(*args, **kwargs),
    convert_to_tensor=lambda x, dtype=None, sparse=None, ragged=None: _Ops.convert_to_tensor(x, dtype),
    standardize_shape=lambda shape: tuple(shape),
    is_tensor=lambda x: isinstance(x, torch.Tensor),
    is_float_dtype=lambda d: "float" in standardize_dtype(d),
    SUPPORTS_SPARSE_TENSORS=True,
    SUPPORTS_RAGGED_TENSORS=True,
    KerasTensor=Symbolic,
    Variable=torch.Tensor,
)
_flash = {"enabled": False}
backend.config = types.SimpleNamespace(  # kcompat's attention is one computation: flash is a no-op switch
    enable_flash_attention=lambda: _flash.update(enabled=True),
    disable_flash_attention=lambda: _flash.update(enabled=False),
    is_flash_attention_enabled=lambda: _flash["enabled"],
    image_data_format=_image_data_format, set_image_data_format=_set_image_data_format,
    floatx=lambda: "float32", backend=lambda: "tensorflow",
)
for _name in ("common", "tensorflow", "numpy", "jax", "torch", "random", "nn", "math", "core"):
    setattr(backend, _name, _Absent(f"keras.backend.{_name}"))


def _numpy_args(value):
    if isinstance(value, torch.Tensor):
        return convert_to_numpy(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_numpy_args(v) for v in value)
    return value


class _Ops(types.ModuleType):
    """``keras.ops`` through numpy (arrays, float32 by default as Keras's floatx)."""

    @staticmethod
    def convert_to_tensor(x, dtype=None, sparse=None, ragged=None):
        tensor = torch.as_tensor(convert_to_numpy(x))
        return tensor if dtype is None else tensor.to(_torch_dtype(standardize_dtype(dtype)))

    convert_to_numpy = staticmethod(convert_to_numpy)

    @staticmethod
    def shape(x):
        return tuple(x.shape)

    @staticmethod
    def cast(x, dtype):
        return convert_to_numpy(x).astype(standardize_dtype(dtype))

    def __getattr__(self, name):
        if name in ("ones", "zeros", "full", "eye", "ones_like", "zeros_like"):
            fn = getattr(np, name)

            def floatx(*args, dtype=None, **kwargs):
                out = fn(*_numpy_args(args), **kwargs, dtype=dtype)
                return out.astype("float32") if dtype is None and out.dtype == np.float64 else out
            return floatx
        fn = getattr(np, name, None)
        if fn is None or not callable(fn):
            raise NotApplicable(f"keras.ops.{name}")
        return lambda *args, **kwargs: fn(*_numpy_args(args), **{k: _numpy_args(v) for k, v in kwargs.items()})


ops = _Ops("keras.ops")


def _random_uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    return np.random.uniform(minval, maxval, size=shape).astype(standardize_dtype(dtype))


def _random_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    return np.random.normal(mean, stddev, size=shape).astype(standardize_dtype(dtype))


random = types.SimpleNamespace(uniform=_random_uniform, normal=_random_normal,
                               SeedGenerator=_Absent("keras.random.SeedGenerator"))


def _set_random_seed(seed):
    np.random.seed(seed)
    torch.manual_seed(seed)


utils = types.SimpleNamespace(set_random_seed=_set_random_seed)


def skip_if_backend(given_backend, reason):
    """Keras's conftest helper: skip on the named backend (ours is TensorFlow)."""
    return pytest.mark.skipif(given_backend == "tensorflow", reason=reason)


# --------------------------------------------------------------------------- TestCase
def _json(config):
    return json.dumps(config, sort_keys=True, default=lambda v: list(v) if isinstance(v, tuple) else repr(v))


def _nested(structure):
    """A list or tuple of structures (tensors, shapes), not one shape tuple of ints/None."""
    return isinstance(structure, (list, tuple)) and bool(structure) and not all(
        isinstance(e, (int, type(None))) for e in structure)


def _shape_of(structure):
    if _nested(structure):
        return type(structure)(_shape_of(s) for s in structure)
    if isinstance(structure, dict):
        return {k: _shape_of(v) for k, v in structure.items()}
    return tuple(structure.shape) if hasattr(structure, "shape") else tuple(structure)


def _flat(structure):
    if _nested(structure):
        return [x for s in structure for x in _flat(s)]
    if isinstance(structure, dict):
        return [x for s in structure.values() for x in _flat(s)]
    return [structure]


def _create_inputs(shape, dtype):
    """Keras's ``create_eager_tensors``: uniform in [0, 3), cast to ``dtype``."""
    if isinstance(shape, dict):
        return {k.removesuffix("_shape"): _create_inputs(v, dtype[k]) for k, v in shape.items()}
    if _nested(shape):
        return type(shape)(_create_inputs(s, d) for s, d in zip(shape, dtype))
    return (np.random.uniform(size=shape).astype("float32") * 3).astype(dtype)


def _same_structure_dtype(shape, dtype):
    if isinstance(shape, dict):
        return {k: dtype for k in shape}
    if _nested(shape):
        return type(shape)(_same_structure_dtype(s, dtype) for s in shape)
    return dtype


class TestCase(parameterized.TestCase):
    """Keras's ``testing.TestCase``, its checks carried out on kcompat layers."""

    maxDiff = None

    def setUp(self):
        super().setUp()
        home = tempfile.mkdtemp()
        previous = os.environ.get("KERAS_HOME")
        os.environ["KERAS_HOME"] = home

        def restore():
            if previous is None:
                os.environ.pop("KERAS_HOME", None)
            else:
                os.environ["KERAS_HOME"] = previous
        self.addCleanup(restore)

    def get_temp_dir(self):
        return self.create_tempdir().full_path

    def convert_to_numpy(self, x):
        return convert_to_numpy(x)

    def assertAllClose(self, actual, desired, atol=1e-6, rtol=1e-6, tpu_atol=None, tpu_rtol=None, msg=None):
        np.testing.assert_allclose(convert_to_numpy(actual), convert_to_numpy(desired), atol=atol, rtol=rtol,
                                   err_msg=msg or "")

    def assertNotAllClose(self, x1, x2, atol=1e-6, rtol=1e-6, msg=None):
        try:
            self.assertAllClose(x1, x2, atol=atol, rtol=rtol)
        except AssertionError:
            return
        raise AssertionError(f"The two values are close at all elements. \n{msg or ''}.\nValues: {x1}")

    def assertAlmostEqual(self, actual, desired, decimal=3, tpu_decimal=None, msg=None):
        np.testing.assert_almost_equal(convert_to_numpy(actual), convert_to_numpy(desired), decimal=decimal,
                                       err_msg=msg or "")

    def assertAllEqual(self, actual, desired, msg=None):
        np.testing.assert_array_equal(convert_to_numpy(actual), convert_to_numpy(desired), err_msg=msg or "")

    def assertDType(self, x, dtype, msg=None):
        x_dtype = standardize_dtype(x.dtype if hasattr(x, "dtype") else type(x))
        self.assertEqual(x_dtype, standardize_dtype(dtype), msg=msg)

    def assertSparse(self, x, sparse=True):
        raise NotApplicable("sparse tensors")

    def assertRagged(self, x, ragged=True):
        raise NotApplicable("ragged tensors")

    def run_class_serialization_test(self, instance, custom_objects=None):
        """Upstream's config round trip: ``from_config(get_config())`` gives the same config and attributes."""
        config = instance.get_config()
        revived = type(instance).from_config(config)
        self.assertEqual(_json(config), _json(revived.get_config()))
        self.assertEqual(set(dir(instance)), set(dir(revived)))
        return revived

    def run_layer_test(self, layer_cls, init_kwargs, input_shape=None, input_dtype=None, input_sparse=False,
                       input_ragged=False, input_data=None, call_kwargs=None, expected_output_shape=None,
                       expected_output_dtype=None, expected_output_sparse=False, expected_output_ragged=False,
                       expected_output=None, expected_num_trainable_weights=None,
                       expected_num_non_trainable_weights=None, expected_num_non_trainable_variables=None,
                       expected_num_seed_generators=None, expected_num_losses=None, supports_masking=None,
                       expected_mask_shape=None, custom_objects=None, run_training_check=True,
                       run_mixed_precision_check=True, assert_built_after_instantiation=False, tpu_atol=None,
                       tpu_rtol=None):
        """Upstream's ``run_layer_test`` checks, on kcompat's layer."""
        if expected_output_sparse or expected_output_ragged or input_data is None and (input_sparse or input_ragged):
            raise NotApplicable("sparse or ragged tensors")
        init_kwargs = init_kwargs or {}
        call_kwargs = call_kwargs or {}
        if input_shape is not None and input_dtype is None:
            input_dtype = _same_structure_dtype(input_shape, "float32")

        def call(layer, data, **extra):
            if isinstance(data, dict):
                return layer(**data, **call_kwargs, **extra)
            return layer(data, **call_kwargs, **extra)

        if input_data is not None or input_shape is not None:
            if input_data is None:
                input_data = _create_inputs(input_shape, input_dtype)
            layer = layer_cls(**init_kwargs)
            call(layer, input_data)
            if expected_num_trainable_weights is None:
                expected_num_trainable_weights = len(layer.trainable_weights)
            if expected_num_non_trainable_weights is None:
                expected_num_non_trainable_weights = len(layer.non_trainable_weights)
            if expected_num_non_trainable_variables is None:
                expected_num_non_trainable_variables = len(layer.non_trainable_variables)

        layer = layer_cls(**init_kwargs)
        self.run_class_serialization_test(layer, custom_objects)

        def run_build_asserts(layer):
            self.assertTrue(layer.built)
            if expected_num_trainable_weights is not None:
                self.assertLen(layer.trainable_weights, expected_num_trainable_weights,
                               msg="Unexpected number of trainable_weights")
            if expected_num_non_trainable_weights is not None:
                self.assertLen(layer.non_trainable_weights, expected_num_non_trainable_weights,
                               msg="Unexpected number of non_trainable_weights")
            if expected_num_non_trainable_variables is not None:
                self.assertLen(layer.non_trainable_variables, expected_num_non_trainable_variables,
                               msg="Unexpected number of non_trainable_variables")

        def run_output_asserts(layer, output, eager):
            if expected_output_shape is not None:
                shapes = _flat(expected_output_shape) if not isinstance(expected_output_shape, dict) else list(
                    expected_output_shape.values())
                got = _flat(_shape_of(output)) if not isinstance(output, dict) else [
                    tuple(v.shape) for v in output.values()]
                if isinstance(output, torch.Tensor) or isinstance(output, tuple) and all(
                        isinstance(e, int) for e in output):
                    got = [_shape_of(output)]
                if len(shapes) == 1 and not isinstance(shapes[0], (list, tuple)):
                    shapes = [tuple(expected_output_shape)]
                self.assertEqual(len(shapes), len(got), msg=f"Expected output shapes {expected_output_shape} "
                                                            f"but received {got}")
                for want, have in zip(shapes, got):
                    self.assertTrue(len(want) == len(have) and all(w is None or w == h for w, h in zip(want, have)),
                                    msg=f"Expected output shapes {expected_output_shape} but received {got}")
            if eager and expected_output_dtype is not None:
                dtypes = _flat(expected_output_dtype) if isinstance(expected_output_dtype, (list, tuple)) else [
                    expected_output_dtype]
                outputs = _flat(output)
                self.assertEqual(dtypes, [standardize_dtype(x.dtype) for x in outputs][:len(dtypes)] if len(
                    dtypes) > 1 else [standardize_dtype(outputs[0].dtype)])
            if eager:
                if expected_output is not None:
                    for ref, value in zip(_flat(expected_output), _flat(output)):
                        self.assertAllClose(ref, value, msg="Unexpected output value")
                if expected_num_losses is not None:
                    self.assertLen(layer.losses, expected_num_losses)

        if input_data is not None or input_shape is not None:
            build_shape = input_shape if input_shape is not None else _shape_of(input_data)
            layer = layer_cls(**init_kwargs)
            if isinstance(build_shape, dict):
                layer.build(**build_shape)
            else:
                layer.build(build_shape)
            run_build_asserts(layer)

            # The symbolic call: Keras's output spec is kcompat's compute_output_shape.
            layer = layer_cls(**init_kwargs)
            if isinstance(build_shape, dict):
                symbolic = layer.compute_output_shape(**build_shape)
            else:
                symbolic = layer.compute_output_shape(build_shape)
            run_output_asserts(layer, symbolic, eager=False)

            if assert_built_after_instantiation:
                self.assertTrue(layer_cls(**init_kwargs).built)

            layer = layer_cls(**init_kwargs)
            output = call(layer, input_data)
            run_output_asserts(layer, output, eager=True)

            if run_training_check:
                self._training_step(layer_cls(**init_kwargs), input_data, call_kwargs)
            if run_mixed_precision_check:
                self._mixed_precision(layer_cls, init_kwargs, input_data, call_kwargs)

    def _training_step(self, layer, data, call_kwargs):
        """Keras fits one SGD step on ``sum(output)``: forward in training mode, backward, step."""
        args = [_to_layer(data, layer.compute_dtype)] if not isinstance(data, dict) else []
        kwargs = {k: _to_layer(v, layer.compute_dtype) for k, v in (data if isinstance(data, dict) else {}).items()}
        kwargs.update({k: _to_layer(v, layer.compute_dtype) for k, v in call_kwargs.items()})
        layer.train()
        output = layer.call_for_training(*args, **kwargs)
        floats = [o for o in _flat(output) if isinstance(o, torch.Tensor) and o.is_floating_point()]
        loss = sum(o.sum() for o in floats)
        parameters = [p for p in layer.parameters() if p.requires_grad]
        if floats and isinstance(loss, torch.Tensor) and loss.requires_grad:
            loss.backward()
            with torch.no_grad():
                for p in parameters:
                    self.assertIsNotNone(p.grad, msg="a trainable weight got no gradient")
                    self.assertTrue(bool(torch.isfinite(p.grad).all()), msg="a non-finite gradient")
                    p -= 0.01 * p.grad
        layer.apply_constraints()

    def _mixed_precision(self, layer_cls, init_kwargs, data, call_kwargs):
        """Keras's mixed_float16 check: each output in the dtype Keras's own output spec gives (asked of
        Keras's layer of the same name), floating weights in float32."""
        layer = layer_cls(**{**init_kwargs, "dtype": "mixed_float16"})
        output = layer(data, **call_kwargs) if not isinstance(data, dict) else layer(**data, **call_kwargs)
        expected = _keras_output_dtypes(layer_cls.__name__, init_kwargs, data, call_kwargs)
        self.assertEqual([standardize_dtype(t.dtype) for t in _flat(output)], expected)
        for weight in layer.weights:
            if weight.is_floating_point():
                self.assertEqual(standardize_dtype(weight.dtype), "float32")


def _keras_output_dtypes(class_name, init_kwargs, data, call_kwargs):
    """The output dtypes of Keras's ``class_name`` under mixed_float16 for ``data``: its output spec."""
    import keras
    layer = getattr(keras.layers, class_name)(**{**init_kwargs, "dtype": "mixed_float16"})

    def spec(x):
        x = convert_to_numpy(x)
        dtype = layer.compute_dtype if layer.autocast and "float" in x.dtype.name else x.dtype.name
        return keras.KerasTensor(x.shape, dtype=dtype)
    specs = {k: spec(v) for k, v in data.items()} if isinstance(data, dict) else (
        type(data)(spec(x) for x in data) if isinstance(data, (list, tuple)) else spec(data))
    out = layer.compute_output_spec(**specs, **call_kwargs) if isinstance(data, dict) else layer.compute_output_spec(
        specs, **call_kwargs)
    return [keras.backend.standardize_dtype(o.dtype) for o in keras.tree.flatten(out)]


testing = types.SimpleNamespace(TestCase=TestCase, test_case=types.SimpleNamespace(TestCase=TestCase))
for _name in ("uses_gpu", "uses_tpu", "jax_uses_gpu", "jax_uses_tpu", "tensorflow_uses_gpu", "torch_uses_gpu"):
    setattr(testing, _name, lambda: False)  # the CPU: no device-specific tolerances


# --------------------------------------------------------------------------- loading a test module
_BOUND = {
    ("keras.src", "layers"): layers,
    ("keras.src", "testing"): testing,
    ("keras.src", "backend"): backend,
    ("keras.src", "ops"): ops,
    ("keras.src", "random"): random,
    ("keras.src", "utils"): utils,
    ("keras.src", "constraints"): constraints,
    ("keras.src", "activations"): activations,
    ("keras.src", "initializers"): initializers,
    ("keras.src", "regularizers"): regularizers,
    ("keras.src", "dtype_policies"): dtype_policy,
    ("keras.src", "models"): types.SimpleNamespace(Model=Model),
    ("keras.src.models", "Model"): Model,
    ("keras.src.testing", "test_case"): testing.test_case,
    ("keras.backend", "set_image_data_format"): _set_image_data_format,
    ("conftest", "skip_if_backend"): skip_if_backend,
    ("keras.src.backend.common.keras_tensor", "KerasTensor"): Symbolic,
    ("keras.src.backend.common", "keras_tensor"): types.SimpleNamespace(KerasTensor=Symbolic),
    **{("keras.src.backend.config", name): getattr(backend.config, name) for name in vars(backend.config)},
}
_ACTIVATION_MODULES = {"relu", "elu", "leaky_relu", "prelu", "softmax", "activation"}


def _binding(module, name):
    if (module, name) in _BOUND:
        return _BOUND[module, name]
    if module == "keras.src.layers.activations" and name in _ACTIVATION_MODULES:
        return layers  # upstream reads relu.ReLU from the module: the same class
    if module.startswith("keras.src.layers.") and module.endswith("_test"):
        return getattr(load(module.removeprefix("keras.src.layers.").replace(".", "/") + ".py"), name)
    if module in ("keras.src.testing.test_utils", "keras.src.backend.common.backend_utils"):
        return getattr(importlib.import_module(module), name)  # pure helpers (named_product)
    return _Absent(f"{module}.{name}")


class _Imports(ast.NodeTransformer):
    """``from keras... import x`` becomes ``x = _bind("keras...", "x")``; other imports of TF stand absent."""

    def visit_ImportFrom(self, node):
        module = node.module or ""
        if module.split(".")[0] not in ("keras", "tensorflow", "grain", "conftest"):
            return node
        return [ast.parse(f"{a.asname or a.name} = _bind({module!r}, {a.name!r})").body[0] for a in node.names]

    def visit_Import(self, node):
        kept = [a for a in node.names if a.name.split(".")[0] not in ("keras", "tensorflow", "grain")]
        absent = [a for a in node.names if a not in kept]
        out = [ast.parse(f"{a.asname or a.name.split('.')[0]} = _bind({a.name!r}, '')").body[0] for a in absent]
        if kept:
            node.names = kept
            out.insert(0, node)
        return out


@functools.cache
def load(relative):
    """Upstream's test module ``relative`` (under ``keras/src/layers``) with the stand-ins bound."""
    path = LAYER_TESTS / relative
    tree = ast.fix_missing_locations(_Imports().visit(ast.parse(path.read_text(), str(path))))
    module = types.ModuleType(f"keras_upstream.{relative[:-3].replace('/', '.')}")
    module.__file__ = str(path)
    module._bind = _binding
    exec(compile(tree, str(path), "exec"), module.__dict__)
    return module


def test_functions(relative):
    """``{class name: [test function names]}`` as upstream's source defines them."""
    tree = ast.parse((LAYER_TESTS / relative).read_text())
    return {node.name: [f.name for f in node.body if isinstance(f, ast.FunctionDef) and f.name.startswith("test")]
            for node in tree.body if isinstance(node, ast.ClassDef)}


def cases(relative):
    """``(class name, generated test name, upstream function name)`` for each case of a module."""
    module = load(relative)
    out = []
    for class_name, functions in test_functions(relative).items():
        cls = getattr(module, class_name)
        if not (isinstance(cls, type) and issubclass(cls, unittest.TestCase)):
            continue
        for generated in unittest.TestLoader().getTestCaseNames(cls):
            base = max((f for f in functions if generated == f or generated.startswith(f)), key=len, default=None)
            if base is not None:
                out.append((class_name, generated, base))
    return out


def run_case(relative, class_name, generated, partly=False):
    """Run one upstream case; raises what it raised (NotApplicable for a feature kcompat lacks).

    ``partly``: the test's checks up to a feature kcompat lacks apply; reaching it ends the test."""
    cls = getattr(load(relative), class_name)
    case = cls(generated)
    method = getattr(case, generated)
    for mark in getattr(getattr(cls, generated), "pytestmark", []):
        if mark.name == "skipif" and mark.args and mark.args[0]:
            pytest.skip(f"upstream skips it on TensorFlow: {mark.kwargs.get('reason', '')}")
        if mark.name == "skip":
            pytest.skip(f"upstream skips it: {mark.kwargs.get('reason', '')}")
    case.setUp()
    try:
        np.random.seed(1337)
        torch.manual_seed(1337)
        method()
    except NotApplicable:
        if not partly:
            raise
    finally:
        case.doCleanups()


__all__ = ["LAYER_TESTS", "NotApplicable", "cases", "kcompat", "load", "run_case", "test_functions"]
