"""pytest plugin (registered through the ``pytest11`` entry point): parity checks without boilerplate.

    def test_my_decoder(parity):
        parity(model.up1, (32, 32, 256))                      # Keras 3, forward and gradients
        parity(model.up2, (64, 64, 128), reference="tf1")

``parity`` is :func:`kcompat.testing.assert_parity`; TensorFlow runs in worker processes
shared by the whole session and stopped at its end. Nothing is imported until a test asks.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tf_oracle():
    """The session's TensorFlow workers (:class:`kcompat.testing.tf_oracle.TFOracle`)."""
    from .tf_oracle import default_oracle

    return default_oracle()


@pytest.fixture
def parity(tf_oracle):
    """``parity(layer_or_config, input_shape, **options)``: :func:`~kcompat.testing.assert_parity`."""
    from .parity import assert_parity

    def check(layer_or_config, input_shape, **options):
        options.setdefault("oracle", tf_oracle)
        return assert_parity(layer_or_config, input_shape, **options)

    return check
