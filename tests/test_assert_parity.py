"""``kcompat.testing.assert_parity`` and the ``parity`` fixture: passes where kcompat agrees with
TensorFlow, fails with a readable report on planted defects, and agrees on refusals."""

from __future__ import annotations

import importlib.util

import pytest

import kcompat
from kcompat import functional
from kcompat.compat import v1 as tf1
from kcompat.harness.bench_layers import BENCH_LAYERS
from kcompat.testing import TensorFlowMissing, assert_parity, check_parity
from kcompat.testing import tf_calls

REFERENCES = ("keras", "tf_keras", "tf1", "tf.nn")

# The benchmark's layers (scripts/bench.py), at their real sizes: every path it times is exact.


@pytest.mark.slow  # the benchmark's full-size layers (smoke of scripts/bench.py's shapes)
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("config,shape", [pytest.param(c, s, id=n) for n, s, c in BENCH_LAYERS])
def test_benchmark_layers_match_keras(parity, config, shape, data_format):
    if data_format == "channels_first":
        shape = (shape[0], shape[3], shape[1], shape[2])
    layer = kcompat.Conv2DTranspose(**config, data_format=data_format, activation="relu")
    result = parity(layer, shape)
    assert result.status == "match" and result.max_rel < 1e-5


@pytest.mark.parametrize("reference", REFERENCES)
@pytest.mark.parametrize("config", [
    dict(filters=3, kernel_size=3, strides=2, padding="same", activation="tanh"),
    dict(filters=2, kernel_size=(4, 1), strides=(2, 3), padding="valid", output_padding=(1, 2)),
    dict(filters=4, kernel_size=2, dilation_rate=2, padding="same", data_format="channels_first"),
], ids=["same-s2", "valid-op-nonsquare", "dilated-cf"])
def test_agreeing_layer_passes_every_reference(parity, config, reference):
    cls = tf1.layers.Conv2DTranspose if reference == "tf1" else kcompat.Conv2DTranspose
    layer = cls(**config)
    shape = (5, 4, 3) if config.get("data_format") != "channels_first" else (3, 5, 4)
    result = parity(layer, shape, reference=reference)
    assert result.ok and [d.name for d in result.differences] == ["output", "d_input", "d_kernel", "d_bias"]
    assert all(g is None for g in layer.keras_grads())  # the harness leaves the layer's own gradients alone


@pytest.mark.parametrize("dtype", ["float64", "float16", "bfloat16", "mixed_float16", "mixed_bfloat16"])
def test_config_in_every_dtype(parity, dtype):
    result = parity(dict(filters=3, kernel_size=3, strides=2, padding="same"), (4, 5, 2), dtype=dtype)
    assert result.dtype == dtype and result.ok


@pytest.mark.parametrize("api", ["keras", "tf_keras"])
def test_configs_written_by_keras(oracle, api):
    """A full get_config() from Keras 3 or Keras 2 is accepted as the configuration."""
    config = oracle.run(tf_calls.layer_config, reference=api, config=dict(
        filters=4, kernel_size=3, strides=2, padding="same", output_padding=1, activation="relu"))
    result = assert_parity(config, (3, 4, 2), reference=api, oracle=oracle)
    assert result.ok and result.config["output_padding"] == (1, 1)


class Perturbed(kcompat.Conv2DTranspose):
    """A port that loads the weights right but computes with slightly different ones."""

    def forward(self, inputs):
        if not self.built:
            self.build(tuple(inputs.shape))
        return functional.keras_conv_transpose(inputs, self.weight + 1e-3, self.bias, self.strides, self.padding,
                                           self.output_padding, self.data_format, self.dilation_rate)


def test_perturbed_weights_fail_with_report(oracle):
    layer = Perturbed(4, 3, strides=2, padding="same")
    with pytest.raises(AssertionError) as failure:
        assert_parity(layer, (6, 6, 3), oracle=oracle)
    report = str(failure.value)
    assert "DIFFERS" in report and "max abs" in report and "FAIL" in report
    assert "filters=4, kernel_size=(3, 3), strides=(2, 2), padding='same'" in report
    assert report.count("\n") < 12  # short


def test_crop_off_by_one_fails(oracle, crop_off_by_one):
    layer = kcompat.Conv2DTranspose(2, 4, strides=1, padding="same")
    result = check_parity(layer, (5, 5, 3), oracle=oracle)
    assert result.status == "mismatch" and not result.differences[0].ok
    with pytest.raises(AssertionError, match="kcompat DIFFERS from TensorFlow"):
        assert_parity(layer, (5, 5, 3), oracle=oracle)
    # Configurations the bug does not touch still pass.
    assert_parity(kcompat.Conv2DTranspose(2, 3, strides=1, padding="same"), (5, 5, 3), oracle=oracle)


class WrongOneDNN:
    """The oracle, with TF's oneDNN kernel returning a wrong input gradient (as its 3-D kernel has)."""

    def __init__(self, oracle):
        self._oracle = oracle

    def layer_call(self, api, config, x, weights=None, upstream=None, *, flavour=None):
        out = self._oracle.layer_call(api, config, x, weights, upstream, flavour=flavour)
        if flavour == "onednn" and "grads" in out:
            out = dict(out, grads=[out["grads"][0] + 1.0, *out["grads"][1:]])
        return out

    def __getattr__(self, name):
        return getattr(self._oracle, name)


@pytest.mark.parametrize("rank", [2, 3])
def test_a_wrong_tensorflow_kernel_is_named_not_blamed_on_kcompat(oracle, rank):
    layer = kcompat.layers.BY_RANK[rank](2, 3, strides=2, padding="same")
    result = check_parity(layer, (4,) * rank + (3,), oracle=WrongOneDNN(oracle))
    assert result.status == "match", str(result)
    assert any("TensorFlow's onednn kernel is wrong here: its d_input" in n and "eigen kernel agrees" in n
               for n in result.notes), result.notes


class CrashingOneDNN(WrongOneDNN):
    """The oracle, with TF's oneDNN worker dying (as TF's bundled oneDNN aborts with one filter)."""

    def layer_call(self, api, config, x, weights=None, upstream=None, *, flavour=None):
        from kcompat.testing.tf_oracle import WorkerCrashed

        if flavour == "onednn":
            raise WorkerCrashed("the TensorFlow worker (onednn) died running layer_call; exit code -6")
        return super().layer_call(api, config, x, weights, upstream, flavour=flavour)


def test_a_crashed_onednn_worker_is_asked_again_on_tensorflows_default_kernel(oracle):
    result = check_parity(kcompat.Conv2DTranspose(1, 3, strides=2, padding="same"), (4, 4, 3),
                          oracle=CrashingOneDNN(oracle))
    assert result.status == "match", str(result)
    assert any("onednn kernel crashed here" in n and "compared with its eigen kernel" in n for n in result.notes)


def test_tensorflow_3d_onednn_input_gradient_defect_is_not_a_kcompat_mismatch(oracle):
    """Found by a 3000-case fuzz: TF's oneDNN d_input off by up to 1e23 here (no kernel axis
    below its stride), while TF's default kernel and the float64 reference agree with kcompat."""
    config = dict(filters=1, kernel_size=(5, 1, 5), strides=(1, 1, 4), padding="same", output_padding=(0, 0, 1),
                  data_format="channels_first")
    result = check_parity(config, (2, 3, 3, 6, 1), reference="tf_keras", oracle=oracle)
    assert result.status == "match", str(result)
    assert all("onednn kernel is wrong" in n for n in result.notes if "kernel" in n)


def test_a_kcompat_bug_survives_the_cross_check(oracle, crop_off_by_one):
    result = check_parity(kcompat.Conv2DTranspose(2, 4, strides=1, padding="same"), (5, 5, 3), oracle=oracle)
    assert result.status == "mismatch"
    assert any(n.startswith("cross-check: kcompat also differs from the float64 reference; TensorFlow's eigen "
                            "kernel agrees") for n in result.notes), result.notes


@pytest.mark.parametrize("config", [
    dict(filters=2, kernel_size=3, strides=2, output_padding=2),  # refused at construction
    dict(filters=2, kernel_size=4, strides=2, padding="same", output_padding=0),  # refused at call
])
def test_configuration_both_refuse_passes_as_refused(oracle, config):
    result = assert_parity(config, (4, 4, 3), oracle=oracle)
    assert result.status == "refused" and "TensorFlow:" in result.message and "\x1b" not in result.message


def test_one_sided_refusals_fail(oracle, patch_shapes):
    # kcompat accepting what TF refuses:
    patch_shapes("check_tf_accepts", lambda *a, **k: None)
    with pytest.raises(AssertionError, match="TensorFlow REFUSES a configuration kcompat accepts"):
        assert_parity(dict(filters=2, kernel_size=4, strides=2, padding="same", output_padding=0), (4, 4, 3),
                      oracle=oracle)
    # kcompat refusing what TF accepts:

    def refuse(*args, **kwargs):
        raise ValueError("planted refusal")

    patch_shapes("check_tf_accepts", refuse)
    with pytest.raises(AssertionError, match="(?s)kcompat REFUSES .* planted refusal"):
        assert_parity(dict(filters=2, kernel_size=3, strides=2, padding="same"), (4, 4, 3), oracle=oracle)


def test_argument_errors(oracle):
    layer = kcompat.Conv2DTranspose(2, 3)
    with pytest.raises(ValueError, match=r"`reference` must be one of .* Received: reference='keras3'"):
        assert_parity(layer, (4, 4, 3), reference="keras3", oracle=oracle)
    with pytest.raises(ValueError, match=r"`input_shape` must have 3 entries .* Received: input_shape=\(4, 3\)"):
        assert_parity(layer, (4, 3), oracle=oracle)
    with pytest.raises(ValueError, match="`dtype` is 'float64' but layer .* has dtype policy 'float32'"):
        assert_parity(layer, (4, 4, 3), dtype="float64", oracle=oracle)
    with pytest.raises(ValueError, match="needs a Keras activation"):
        assert_parity(kcompat.Conv2DTranspose(2, 3, activation=lambda x: x * 2), (4, 4, 3), oracle=oracle)


def test_without_tensorflow_says_what_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorflow" else real(name, *a))
    with pytest.raises(TensorFlowMissing) as missing:
        assert_parity(kcompat.Conv2DTranspose(2, 3), (4, 4, 3))
    assert "pip install tensorflow-cpu" in str(missing.value) and "\n" not in str(missing.value)


def test_tf1_layers_refuse_unequal_dilation_as_tf_keras_does(oracle):
    """Found by --fuzz: TF1 layers (tf_keras's) take a single dilation rate."""
    result = assert_parity(dict(filters=1, kernel_size=2, dilation_rate=(1, 2)), (3, 3, 1), reference="tf1",
                           oracle=oracle)
    assert result.status == "refused" and "equal to each other" in result.message


@pytest.mark.parametrize("make,input_shape,reference,rank", [
    (lambda: kcompat.Conv1DTranspose(4, 3, 2, padding="same"), (7, 3), "keras", 1),
    (lambda: kcompat.Conv3DTranspose(2, 3, 2, padding="same", data_format="channels_first"), (3, 3, 4, 5), "keras", 3),
    (lambda: dict(filters=3, kernel_size=[2], strides=[2]), (5, 2), "tf_keras", 1),  # as Keras writes 1-D configs
    (lambda: dict(filters=3, kernel_size=2, strides=2), (4, 4, 5, 2), "keras", 2),  # scalars: 2-D, batch included
    (lambda: dict(filters=3, kernel_size=(2, 2, 1), strides=2), (3, 4, 2, 2), "tf_keras", 3),
])
def test_1d_and_3d(oracle, make, input_shape, reference, rank):
    result = assert_parity(make(), input_shape, reference=reference, oracle=oracle)
    assert result.status == "match" and len(result.input_shape) == rank + 2


def test_a_tf1_layer_built_inside_a_forward(oracle):
    """TF1 graph code builds its layers inside a module's forward; such a layer's variables belong
    to that module and it runs only there: assert_parity checks an equal standalone copy."""
    import torch

    import kcompat.compat.v1 as tf1

    class Generator(torch.nn.Module):
        def forward(self, z):
            with tf1.variable_scope("generator"):
                self.deconv = tf1.layers.Conv2DTranspose(4, 3, strides=2, padding="same", name="deconv")
                return self.deconv(z)

    g = Generator()
    g(torch.randn(2, 5, 5, 3))
    assert assert_parity(g.deconv, (5, 5, 3), reference="tf1", oracle=oracle).status == "match"
    with pytest.raises(TypeError, match="Received: a VariableScope .*pass the layer object"):
        assert_parity(g.generator.deconv, (5, 5, 3), reference="tf1", oracle=oracle)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_tf1_unequal_dilation_refused_in_every_dtype(oracle, dtype):
    """TF1's layer refuses it in float64 too (Keras 2's backend takes one rate); the oracle's
    float64 path (TF's default kernel, dilation spelled out in the kernel) once computed it."""
    result = check_parity(dict(filters=4, kernel_size=3, dilation_rate=(2, 1)), (5, 5, 3), reference="tf1",
                          dtype=dtype, oracle=oracle)
    assert result.status == "refused", str(result)
