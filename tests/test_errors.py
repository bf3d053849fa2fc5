"""Bad arguments: a ValueError/TypeError naming the argument and the value received.

Where Keras 3 raises for the same arguments (checked in the test), so does kcompat; kcompat
also refuses what Keras lets through (bools for ints, floats in sizes, non-bool flags).
"""

from __future__ import annotations

import re

import pytest
import torch

import kcompat
from kcompat.testing.tf_oracle import TFError
from kcompat.testing import tf_calls

BASE = dict(filters=4, kernel_size=3)

CASES = [
    # (overrides, argument named in the message, Keras 3 raises at construction too)
    (dict(filters=0), "filters", True),
    (dict(filters=-2), "filters", True),
    (dict(filters=True), "filters", False),
    (dict(filters=2.5), "filters", False),
    (dict(filters="4"), "filters", True),
    (dict(kernel_size=0), "kernel_size", True),
    (dict(kernel_size=(3,)), "kernel_size", True),
    (dict(kernel_size=(3, 3, 3)), "kernel_size", True),
    (dict(kernel_size="3"), "kernel_size", True),
    (dict(kernel_size=(3, True)), "kernel_size", False),
    (dict(kernel_size=(3, 2.5)), "kernel_size", False),
    (dict(kernel_size=None), "kernel_size", True),
    (dict(strides=0), "strides", True),
    (dict(strides=(1, -1)), "strides", True),
    (dict(strides=False), "strides", False),
    (dict(padding="full"), "padding", True),
    (dict(padding="causal"), "padding", True),
    (dict(padding=3), "padding", True),
    (dict(data_format="NHWC"), "data_format", True),
    (dict(dilation_rate=0), "dilation_rate", True),
    (dict(dilation_rate=(1, 2, 3)), "dilation_rate", True),
    (dict(strides=2, output_padding=2), "output_padding", True),
    (dict(strides=(2, 3), output_padding=(1, 3)), "output_padding", True),
    (dict(output_padding=-1), "output_padding", True),
    (dict(strides=2, output_padding=(1,)), "output_padding", True),
    (dict(strides=2, dilation_rate=2), "dilation_rate", True),
    (dict(strides=(1, 2), dilation_rate=(2, 1)), "dilation_rate", True),
    (dict(activation="nope"), "activation", True),
    (dict(activation=3), "activation", True),
    (dict(kernel_initializer="nope"), "kernel_initializer", True),
    (dict(bias_initializer={"class_name": "Nope", "config": {}}), "bias_initializer", True),
    (dict(kernel_regularizer="l3"), "kernel_regularizer", True),
    (dict(activity_regularizer=5), "activity_regularizer", True),
    (dict(kernel_constraint="nope"), "kernel_constraint", True),
    (dict(bias_constraint={"class_name": "MaxNorm", "config": {"nope": 1}}), None, True),
    (dict(kernel_regularizer={"class_name": "L2", "config": {"l2": -1.0}}), "l2", True),
    (dict(dtype="nope"), "dtype", True),
    (dict(use_bias="yes"), "use_bias", False),
    (dict(foo=1), "foo", True),
]


@pytest.mark.parametrize("overrides,argument,keras_raises", CASES,
                         ids=[f"{'-'.join(f'{k}={v!r}' for k, v in c[0].items())}" for c in CASES])
def test_bad_argument(oracle, overrides, argument, keras_raises):
    kwargs = dict(BASE, **overrides)
    with pytest.raises((ValueError, TypeError)) as info:
        kcompat.Conv2DTranspose(**kwargs)
    message = str(info.value)
    if argument is not None:
        assert argument in message
    if keras_raises:
        with pytest.raises(TFError) as theirs:
            oracle.run(tf_calls.layer_construct, reference="keras", config=kwargs)
        if theirs.value.type_name != "AttributeError":  # Keras crashing on a bad type is not matched
            assert type(info.value).__name__ == theirs.value.type_name, theirs.value  # the class Keras raises


@pytest.mark.parametrize("overrides", [
    dict(filters=0), dict(filters=-3), dict(kernel_size=0), dict(kernel_size=(0, 3)), dict(kernel_size=None),
    dict(kernel_size=(3,)), dict(strides=(1, 0)), dict(strides=None), dict(strides=-1),
    dict(dilation_rate=(1, 0)), dict(output_padding=(-1, 0)), dict(name="a/b")], ids=str)
def test_keras_words_where_keras_tests_check_them(oracle, overrides):
    """Keras 3's own messages (its tests match on them), read from the installed Keras by running it."""
    kwargs = dict(BASE, **overrides)
    with pytest.raises(TFError) as theirs:
        oracle.run(tf_calls.layer_construct, reference="keras", config=kwargs)
    with pytest.raises(ValueError) as ours:
        kcompat.Conv2DTranspose(**kwargs)
    assert theirs.value.type_name == "ValueError"
    assert str(ours.value) == theirs.value.message


@pytest.mark.parametrize("overrides", [dict(filters=0), dict(kernel_size=(3,)), dict(strides=(1, -1)),
                                       dict(padding="full"), dict(data_format="NHWC"),
                                       dict(strides=2, output_padding=2)], ids=str)
def test_message_shows_the_value_received(overrides):
    with pytest.raises((ValueError, TypeError)) as info:
        kcompat.Conv2DTranspose(**dict(BASE, **overrides))
    name, value = next(iter(overrides.items())) if len(overrides) == 1 else ("output_padding", overrides["output_padding"])
    assert "Received" in str(info.value) and str(value) in str(info.value)


def test_wrong_input_rank():
    layer = kcompat.Conv2DTranspose(2, 3)
    with pytest.raises(ValueError, match=r"expected ndim=4, found ndim=3.*\(10, 8, 128\)"):
        layer(torch.zeros(10, 8, 128))


def test_wrong_channel_count_after_build():
    layer = kcompat.Conv2DTranspose(2, 3)
    layer(torch.zeros(1, 4, 4, 3))
    with pytest.raises(ValueError, match=r"expected axis -1 of input shape to have value 3.*\(1, 4, 4, 5\)"):
        layer(torch.zeros(1, 4, 4, 5))
    cf = kcompat.Conv2DTranspose(2, 3, data_format="channels_first", in_channels=3)
    with pytest.raises(ValueError, match="expected axis 1"):
        cf(torch.zeros(1, 4, 4, 4))


def test_set_weights_of_an_unbuilt_layers_own_weights_is_a_no_op():
    layer = kcompat.Conv2DTranspose(2, 3)
    layer.set_weights(layer.get_weights())
    assert not layer.built
    with pytest.raises(ValueError, match="expected 2 arrays"):
        layer.set_weights([torch.zeros(3, 3, 2, 1)])


def test_set_weights_checks_count_and_shape():
    layer = kcompat.Conv2DTranspose(2, 3, in_channels=4)
    kernel, bias = layer.get_weights()
    with pytest.raises(ValueError, match="expected 2 arrays.*received 1"):
        layer.set_weights([kernel])
    with pytest.raises(ValueError, match=r"`kernel`: expected \(3, 3, 2, 4\).*received \(3, 3, 4, 2\)"):
        layer.set_weights([kernel.transpose(0, 1, 3, 2), bias])
    with pytest.raises(ValueError, match="`bias`"):
        layer.set_weights([kernel, bias[:1]])


def test_tf_refusal_is_explained_at_call():
    layer = kcompat.Conv2DTranspose(2, 2, strides=2, padding="same", output_padding=0)
    with pytest.raises(ValueError, match="spatial axis 0.*output_padding >= 1"):
        layer(torch.zeros(1, 3, 3, 1))


@pytest.mark.parametrize("make,names", [
    (lambda: kcompat.Conv2DTranspose(2**40, 3, in_channels=3), "filters=1099511627776, kernel_size=(3, 3)"),
    (lambda: kcompat.Conv2DTranspose(4, 3, strides=10**9)(torch.zeros(1, 5, 5, 3)), "strides=(1000000000, 1000000000)"),
    (lambda: kcompat.Conv3DTranspose(4, 3, strides=(1, 10**6, 10**6))(torch.zeros(1, 2, 5, 5, 3)),
     "strides=(1, 1000000, 1000000)"),
], ids=["filters", "strides-2d", "strides-3d"])
def test_sizes_too_large_to_allocate_name_the_argument(make, names):
    with pytest.raises(ValueError, match=re.escape(names) + ".*more than this machine's memory"):
        make()


@pytest.mark.parametrize("tool", ["kcompat-parity", "kcompat-port", "kcompat-convert"])
def test_every_command_says_its_version(tool, capsys):
    """``--version``: the tool, kcompat's version and torch's, exit 0."""
    import importlib

    module = {"kcompat-parity": "kcompat.harness.cli", "kcompat-port": "kcompat.models.cli",
              "kcompat-convert": "kcompat.convert.cli"}[tool]
    main = importlib.import_module(module).main
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"{tool} (kcompat {kcompat.__version__}, torch {torch.__version__})"


def test_the_package_says_it_is_typed():
    from pathlib import Path

    assert (Path(kcompat.__file__).parent / "py.typed").is_file()
