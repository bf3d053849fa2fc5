"""kcompat reports through ``logging`` under ``"kcompat"`` (what it loaded, which chains it fuses,
which path it measured), never by printing; by default the records go nowhere (a NullHandler)."""

from __future__ import annotations

import logging

import torch

import kcompat
from kcompat import _paths, examples


def test_loading_and_fusing_are_logged_and_nothing_is_printed(caplog, capsys):
    assert any(isinstance(h, logging.NullHandler) for h in logging.getLogger("kcompat").handlers)
    with caplog.at_level(logging.DEBUG, logger="kcompat"):
        model = kcompat.load_model(examples.path()).eval()
        with torch.no_grad():
            model(torch.randn(1, 32, 32, 3))
    messages = [(r.name, r.levelno, r.getMessage()) for r in caplog.records]
    assert ("kcompat.models.loading", logging.INFO, f"{examples.path()}: 37 layers, 56 tensors loaded") in messages
    fused = [m for name, _, m in messages if name == "kcompat.models.fusion"]
    assert len(fused) == 1 and fused[0].startswith("example_unet: ") and "down1_conv1+down1_bn1+down1_relu1" in fused[0]
    assert capsys.readouterr() == ("", "")


def test_a_measured_path_is_logged(caplog):
    runs = {"slow": lambda: sum(range(20000)), "fast": lambda: None}
    key = ("test_logging", object())
    with caplog.at_level(logging.DEBUG, logger="kcompat"):
        assert _paths.choose(key, tuple(runs), "slow", 10 ** 12, True, lambda name: runs[name]) == "fast"
    (record,) = [r for r in caplog.records if r.name == "kcompat._paths"]
    assert record.getMessage().startswith(f"path fast for {key} (measured, seconds per call: ")
