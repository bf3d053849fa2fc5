"""copy.deepcopy, pickling (torch.save of the module) and state_dict round trips keep the full
configuration and the weights, for every rank."""

from __future__ import annotations

import copy
import io
import pickle

import pytest
import torch

import kcompat

CONFIG = dict(filters=3, kernel_size=3, strides=2, padding="same", activation="gelu", kernel_regularizer="l2",
              kernel_constraint="max_norm", kernel_initializer={"class_name": "HeNormal", "config": {"seed": 3}})
LAYERS = kcompat.layers.BY_RANK


def _layer(rank, **extra):
    layer = LAYERS[rank](**CONFIG, **extra, in_channels=2)
    with torch.no_grad():
        layer.bias.normal_()
    return layer


def _input(rank):
    return torch.randn(2, *(4, 3, 2)[:rank], 2)


def _same(a, b, x):
    assert type(a) is type(b) and a.get_config() == b.get_config()
    for p, q in zip(a.state_dict().values(), b.state_dict().values()):
        assert torch.equal(p, q)
    torch.testing.assert_close(a(x), b(x), rtol=0, atol=0)
    assert len(a.losses) == len(b.losses)


@pytest.mark.parametrize("dtype", [None, "mixed_bfloat16"])
@pytest.mark.parametrize("rank", [1, 2, 3])
def test_deepcopy(rank, dtype):
    layer, x = _layer(rank, dtype=dtype), _input(rank)
    layer(x)  # a called layer (cached per-shape state) copies too
    clone = copy.deepcopy(layer)
    _same(layer, clone, x)
    with torch.no_grad():
        clone.weight.add_(1)
    assert not torch.equal(clone.weight, layer.weight)  # no shared storage


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_pickle_and_torch_save(rank):
    layer, x = _layer(rank), _input(rank)
    layer(x)
    _same(layer, pickle.loads(pickle.dumps(layer)), x)
    buffer = io.BytesIO()
    torch.save(layer, buffer)
    buffer.seek(0)
    _same(layer, torch.load(buffer, weights_only=False), x)


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_state_dict_into_a_layer_rebuilt_from_config(rank):
    layer, x = _layer(rank), _input(rank)
    rebuilt = LAYERS[rank].from_config(layer.get_config())  # unbuilt: builds from the state dict
    rebuilt.load_state_dict(layer.state_dict())
    _same(layer, rebuilt, x)


def test_tf1_layer_deepcopy_and_pickle():
    from kcompat.compat.v1 import layers as tf1

    layer = tf1.Conv2DTranspose(3, 3, strides=2, padding="same", activation=torch.tanh)
    x = torch.randn(2, 4, 4, 2)
    y = layer(x)
    for clone in (copy.deepcopy(layer), pickle.loads(pickle.dumps(layer))):
        torch.testing.assert_close(clone(x), y, rtol=0, atol=0)
        assert clone.get_config() == layer.get_config()


class _Generator(torch.nn.Module):
    """TF1 graph code in a forward: its variables live on the module, created by the first pass."""

    def forward(self, z):
        from kcompat.compat import v1 as tf1

        with tf1.variable_scope("generator", reuse=tf1.AUTO_REUSE):
            x = tf1.layers.conv2d_transpose(z, 4, 3, strides=2, padding="same", name="deconv1")
            return tf1.layers.conv2d_transpose(x, 2, 3, strides=2, padding="same", name="deconv2")


def test_tf1_graph_module_deepcopy_and_pickle():
    g, z = _Generator(), torch.randn(2, 3, 3, 5)
    y = g(z)
    for clone in (copy.deepcopy(g), pickle.loads(pickle.dumps(g))):
        assert list(clone.state_dict()) == list(g.state_dict())
        torch.testing.assert_close(clone(z), y, rtol=0, atol=0)  # later passes reuse the copied variables
        assert [n for n, _ in clone.named_parameters()] == [n for n, _ in g.named_parameters()]
