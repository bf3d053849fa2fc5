"""``tf.compat.v1.losses.get_regularization_loss(es)`` for a module's TF1 layers.

TF1 collects weight and activity penalties in the graph; kcompat collects them per forward
pass of the module that owns the TF1 variables, so they are read from that module.
"""

from __future__ import annotations

import torch

from .variable_scope import regularization_losses

__all__ = ["get_regularization_losses", "get_regularization_loss"]


def get_regularization_losses(module, scope=None):
    """Penalties collected during ``module``'s latest forward pass (``scope``: a regex on names)."""
    return regularization_losses(module, scope)


def get_regularization_loss(module, scope=None, name="total_regularization_loss"):
    """Their sum, or ``0.0`` when there are none."""
    losses = regularization_losses(module, scope)
    if not losses:
        return torch.tensor(0.0)
    return torch.stack([loss.to(losses[0].dtype) for loss in losses]).sum()
