"""``tf.compat.v1.image.resize_*``: TF1's resize coordinates, which torch's ``interpolate`` lacks.

TF1's default maps output pixel ``i`` to input coordinate ``i * in / out`` (``align_corners=False``,
``half_pixel_centers=False``); torch's ``align_corners=False`` is the half-pixel rule
(``(i + 0.5) * in / out - 0.5``), TF2's. Both, and ``align_corners=True``, are computed here as
TF's kernels compute them: float32 coordinates and weights; bilinear interpolates along the
width, then the height (``top + (bottom - top) * dy``), and returns float32 whatever the input;
nearest rounds (``align_corners``) or floors the coordinate and keeps the input's dtype.
Images are ``(batch, height, width, channels)`` (or one image without the batch axis).
"""

from __future__ import annotations

import enum

import torch

from .ops import to_ints, to_tensor

__all__ = ["ResizeMethod", "resize", "resize_bilinear", "resize_images", "resize_nearest_neighbor"]


class ResizeMethod(enum.IntEnum):
    """``tf.compat.v1.image.ResizeMethod``."""

    BILINEAR = 0
    NEAREST_NEIGHBOR = 1
    BICUBIC = 2
    AREA = 3


def _scale(in_size, out_size, align_corners):
    """TF's ``CalculateResizeScale``, in float32."""
    if align_corners and out_size > 1:
        return torch.tensor((in_size - 1) / (out_size - 1), dtype=torch.float32)
    return torch.tensor(in_size, dtype=torch.float32) / torch.tensor(out_size, dtype=torch.float32)


def _coordinates(in_size, out_size, align_corners, half_pixel_centers):
    scale = _scale(in_size, out_size, align_corners)
    i = torch.arange(out_size, dtype=torch.float32)
    return (i + 0.5) * scale - 0.5 if half_pixel_centers else i * scale


def _linear_weights(in_size, out_size, align_corners, half_pixel_centers):
    """TF's ``compute_interpolation_weights``: lower, upper and the float32 fraction per output pixel."""
    coordinate = _coordinates(in_size, out_size, align_corners, half_pixel_centers)
    floor = torch.floor(coordinate)
    lower = floor.long().clamp(min=0)
    upper = torch.ceil(coordinate).long().clamp(max=in_size - 1)
    return lower, upper, coordinate - floor


def _check(images, size, align_corners, half_pixel_centers):
    images = to_tensor(images)
    if images.dim() not in (3, 4):
        raise ValueError(f"'images' must have either 3 or 4 dimensions. Received: shape={tuple(images.shape)}")
    size = to_ints(size)
    if len(size) != 2:
        raise ValueError(f"'size' must be a 1-D Tensor of 2 elements: new_height, new_width. Received: size={size}")
    if align_corners and half_pixel_centers:
        raise ValueError("If half_pixel_centers is True, align_corners must be False.")
    return images, size


def resize_bilinear(images, size, align_corners=False, name=None, half_pixel_centers=False):
    """``tf.compat.v1.image.resize_bilinear``: float32 output, TF1's coordinates by default."""
    images, (height, width) = _check(images, size, align_corners, half_pixel_centers)
    single = images.dim() == 3
    x = images.unsqueeze(0) if single else images
    x = x.to(torch.float32)
    device = x.device
    lo, hi, dx = (t.to(device) for t in _linear_weights(x.shape[2], width, align_corners, half_pixel_centers))
    dx = dx.view(1, 1, -1, 1)
    left, right = x.index_select(2, lo), x.index_select(2, hi)
    rows = left + (right - left) * dx
    lo, hi, dy = (t.to(device) for t in _linear_weights(x.shape[1], height, align_corners, half_pixel_centers))
    dy = dy.view(1, -1, 1, 1)
    top, bottom = rows.index_select(1, lo), rows.index_select(1, hi)
    y = top + (bottom - top) * dy
    return y.squeeze(0) if single else y


def _nearest_index(in_size, out_size, align_corners, half_pixel_centers):
    scale = _scale(in_size, out_size, align_corners)
    i = torch.arange(out_size, dtype=torch.float32)
    coordinate = (i + 0.5) * scale if half_pixel_centers else i * scale
    # roundf (half away from zero) for align_corners, else floorf; clamped as TF clamps
    index = torch.floor(coordinate + 0.5) if align_corners else torch.floor(coordinate)
    return index.long().clamp(0, in_size - 1)


def resize_nearest_neighbor(images, size, align_corners=False, name=None, half_pixel_centers=False):
    """``tf.compat.v1.image.resize_nearest_neighbor``: the input's dtype, TF1's coordinates by default."""
    images, (height, width) = _check(images, size, align_corners, half_pixel_centers)
    single = images.dim() == 3
    x = images.unsqueeze(0) if single else images
    rows = _nearest_index(x.shape[1], height, align_corners, half_pixel_centers).to(x.device)
    cols = _nearest_index(x.shape[2], width, align_corners, half_pixel_centers).to(x.device)
    y = x.index_select(1, rows).index_select(2, cols)
    return y.squeeze(0) if single else y


def resize_images(images, size, method=ResizeMethod.BILINEAR, align_corners=False, preserve_aspect_ratio=False,
                  name=None):
    """``tf.compat.v1.image.resize_images`` (and ``resize``): TF1's coordinates (no half-pixel centres);
    ``BILINEAR`` gives float32, ``NEAREST_NEIGHBOR`` the input's dtype; an image already of
    ``size`` is returned as it is, as TF1 returns it."""
    if preserve_aspect_ratio:
        raise NotImplementedError("kcompat's resize_images does not reproduce preserve_aspect_ratio=True")
    images = to_tensor(images)
    size = to_ints(size)
    if list(images.shape[-3:-1]) == size:  # TF1 returns an image of the requested size as it is
        return images
    if method in (ResizeMethod.BILINEAR, "bilinear"):
        return resize_bilinear(images, size, align_corners)
    if method in (ResizeMethod.NEAREST_NEIGHBOR, "nearest"):
        return resize_nearest_neighbor(images, size, align_corners)
    raise ValueError(f"kcompat's resize_images reproduces BILINEAR and NEAREST_NEIGHBOR. Received: method={method!r}")


resize = resize_images
