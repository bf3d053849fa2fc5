"""The eager module's inference fusion (kcompat.models.fusion): in eval() without autograd a
convolution, its BatchNormalization, a residual Add and the ReLU after them run as one oneDNN
call; the numbers stay TensorFlow's (whole-model tolerance) and the unfused module's (float32
rounding of the fold), the chains it must not fuse stay apart, and a changed weight is seen."""

from __future__ import annotations

import pytest
import torch

import kcompat
from kcompat.models import fusion
from kcompat.testing.tolerance import assert_close

pytestmark = pytest.mark.skipif(not fusion.enabled(), reason="torch built without oneDNN")


@pytest.fixture(scope="module", params=["keras", "tf_keras"])
def saved(request, oracle, tmp_path_factory):
    import tf_fixtures

    directory = tmp_path_factory.mktemp(f"fusion-{request.param}")
    return oracle.run(tf_fixtures.save_fusion_model, reference=request.param, directory=str(directory))


@pytest.fixture
def fused_calls(monkeypatch):
    """The chains that ran fused in the calls made while it is active (their first layer's name)."""
    calls = []
    run = fusion.Chain.run

    def spy(self, values):
        y = run(self, values)
        if y is not None:
            calls.append(self.members[0].name)
        return y

    monkeypatch.setattr(fusion.Chain, "run", spy)
    return calls


def _outputs(model, x, **flags):
    for name, value in flags.items():
        setattr(model, name, value)
    with torch.no_grad():
        return [y.numpy() for y in model(torch.tensor(x))]


def _chains(model):
    by_position, _ = fusion.chains(model)
    return {chain.members[0].class_name + ">" + ">".join(s.class_name for s in chain.members[1:]) or "alone"
            for chain in by_position.values()}, by_position


def test_fused_inference_keeps_tensorflows_numbers(saved, fused_calls):
    model = kcompat.load_model(saved["path"]).eval()
    fused = _outputs(model, saved["x"])
    assert len(fused_calls) >= 8, fused_calls
    unfused = _outputs(model, saved["x"], inference_fusion=False)
    for got, plain, want in zip(fused, unfused, saved["y"]):
        assert_close(got, want, "float32", "fused against TensorFlow")
        assert_close(got, plain, "float32", "fused against the unfused module")


def test_the_chains_found(saved):
    """Each chain kind of the fixture, and what stays apart: a BatchNormalization output read twice
    ends its chain before it, a ZeroPadding2D is no part of one."""
    model = kcompat.load_model(saved["path"]).eval()
    kinds, by_position = _chains(model)
    assert {"Conv2D>BatchNormalization>ReLU", "DepthwiseConv2D>BatchNormalization>ReLU",
            "Conv2D>BatchNormalization>Add>Activation", "Conv2D>BatchNormalization>LeakyReLU",
            "Conv2D>BatchNormalization>Add>ReLU", "Conv2D>BatchNormalization",
            "Conv2DTranspose>BatchNormalization>Dropout>ReLU", "Dense>BatchNormalization>LeakyReLU"} <= kinds, kinds
    members = [s.name for chain in by_position.values() for s in chain.members]
    assert len(members) == len(set(members)), "a layer in two chains"
    outputs = {ref.layer for ref in model.graph.outputs}
    ends = {chain.members[-1].name for chain in by_position.values()}
    inside = set(members) - ends
    assert not outputs & inside, "a model output inside a chain"
    shared = next(s for s in model.graph.layers if s.name in outputs and s.class_name == "BatchNormalization")
    assert shared.name in ends  # its chain ends there: a ReLU and the model's outputs read it
    assert not any(t.class_name == "ZeroPadding2D" for c in by_position.values() for t in c.members)


def test_a_one_channel_input_runs_unfused(saved, fused_calls):
    """The convolution after Conv2D(1, 1) has one input channel: torch 2.13's oneDNN path is wrong
    on some such geometries (plain_strides), so that chain runs its layers one by one."""
    model = kcompat.load_model(saved["path"]).eval()
    _, by_position = _chains(model)
    thin = [c.members[0].name for c in by_position.values() if getattr(c.head, "in_channels", None) == 1]
    assert thin
    _outputs(model, saved["x"])
    assert not set(thin) & set(fused_calls)


@pytest.mark.parametrize("change", ["in place", "data", "replaced module"])
def test_a_changed_weight_is_seen(saved, change):
    """The folded, packed weights are redone when a tensor they came from changes: in place
    (``add_``), by ``.data =``, or a layer replaced in the model."""
    model = kcompat.load_model(saved["path"]).eval()
    _outputs(model, saved["x"])  # the fused form made and kept
    norms = [m for m in model.modules() if type(m).__name__ == "BatchNormalization"]
    convs = [m for m in model.modules() if type(m).__name__ == "Conv2D"]
    with torch.no_grad():
        if change == "in place":
            norms[0].running_mean.add_(0.25)
            convs[0].weight.mul_(1.5)
        elif change == "data":
            norms[1].running_var.data = norms[1].running_var.data * 2.0
            convs[2].weight.data = convs[2].weight.data.flip(0).contiguous()
        else:
            name = next(n for n, m in model.named_children() if m is norms[0])
            replacement = kcompat.layers.BatchNormalization(epsilon=0.5)
            replacement.build((None, norms[0].running_mean.shape[0]))
            setattr(model, name, replacement.eval())
    fused = _outputs(model, saved["x"])
    unfused = _outputs(model, saved["x"], inference_fusion=False)
    assert any(abs(a - b).max() > 1e-3 for a, b in zip(fused, saved["y"]))  # the change shows
    for got, plain in zip(fused, unfused):
        assert_close(got, plain, "float32", f"fused after a change ({change}) against unfused")


@pytest.mark.filterwarnings("ignore:TF32 acceleration")  # torch's, from mkldnn.flags on a CPU build
def test_what_runs_unfused(saved, fused_calls):
    """With autograd, in training mode, with a hook on a layer of the chain, with oneDNN turned
    off, in float64, or with ``inference_fusion = False``, every layer runs on its own."""
    model = kcompat.load_model(saved["path"])
    x = torch.tensor(saved["x"])
    model.eval()(x)  # autograd on
    trained = kcompat.load_model(saved["path"]).train()
    with torch.no_grad():
        trained(x)  # (batch statistics: its moving ones move)
    model.inference_fusion = False
    with torch.no_grad():
        model(x)
    assert fused_calls == []
    model.inference_fusion = True
    first = next(m for m in model.modules() if type(m).__name__ == "Conv2D")
    seen = []
    handle = first.register_forward_hook(lambda m, i, o: seen.append(o.shape))
    with torch.no_grad():
        model(x)
    handle.remove()
    assert seen and fused_calls and next(
        c for c in fusion.chains(model)[0].values() if c.head is first).members[0].name not in fused_calls
    fused_calls.clear()
    with torch.no_grad(), torch.backends.mkldnn.flags(enabled=False):
        model(x)
    assert fused_calls == []  # oneDNN turned off by the user
    with torch.no_grad():
        y = model.double()(x.double())
    assert fused_calls == [] and y[0].dtype == torch.float64
    assert_close(y[0].numpy(), saved["y"][0], "float32")


def test_the_model_tensors_stay_every_tensor(saved):
    """``model.tensors`` (the parity tools' per-layer view) computes every layer's output, chains
    or not."""
    model = kcompat.load_model(saved["path"]).eval()
    with torch.no_grad():
        values = model.tensors([torch.tensor(saved["x"])])
    assert {spec.name for spec in model.graph.layers if spec.class_name != "InputLayer"} <= {
        ref.layer for ref in values}


def test_the_fused_form_is_made_once(saved, monkeypatch):
    """Folded and packed on the first call, then reused: a depthwise kernel, a new view of its
    parameter on each read, once refolded every chain on every call."""
    model = kcompat.load_model(saved["path"]).eval()
    _outputs(model, saved["x"])
    folds = []
    fold = fusion.fold_batch_norm
    monkeypatch.setattr(fusion, "fold_batch_norm", lambda *a, **k: folds.append(1) or fold(*a, **k))
    _outputs(model, saved["x"])
    _outputs(model, saved["x"])
    assert folds == []


def test_a_subclass_put_in_a_layers_place_runs_its_own_forward(saved):
    """A module the user substituted for a layer (a subclass of kcompat's, its forward changed)
    starts no chain and joins none: what its forward computes is what the model computes."""
    model = kcompat.load_model(saved["path"]).eval()

    class Shifted(type(next(m for m in model.modules() if type(m).__name__ == "BatchNormalization"))):
        def forward(self, inputs, training=None):
            return super().forward(inputs, training) + 1.0

    class Doubled(kcompat.layers.Conv2D):
        def forward(self, inputs):
            return super().forward(inputs) * 2.0

    name = next(n for n, m in model.named_children() if type(m).__name__ == "Conv2D")
    conv = getattr(model, name)
    doubled = Doubled.from_config(conv.get_config())
    doubled.build((None, None, None, conv.in_channels))
    doubled.load_state_dict(conv.state_dict())
    setattr(model, name, doubled)
    norm_name = next(n for n, m in model.named_children() if type(m).__name__ == "BatchNormalization"
                     and n != name)
    norm = getattr(model, norm_name)
    shifted = Shifted.from_config(norm.get_config())
    shifted.build((None, 1, 1, norm.running_mean.shape[0]))
    shifted.load_state_dict(norm.state_dict())
    setattr(model, norm_name, shifted.eval())
    members = {s.attr for c in fusion.chains(model)[0].values() for s in c.members}
    assert name not in members and norm_name not in members
    fused = _outputs(model, saved["x"])
    unfused = _outputs(model, saved["x"], inference_fusion=False)
    assert any(abs(a - b).max() > 1e-2 for a, b in zip(fused, saved["y"]))
    for got, plain in zip(fused, unfused):
        assert_close(got, plain, "float32", "fused with substituted modules against unfused")
