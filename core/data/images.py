"""Pictures of image samples for the views: crisp enlargement and tiles with a margin."""

import numpy as np


def zoom(img, size=64):
    """Enlarge (H, W) or (H, W, 3) pixel by pixel (no interpolation) so the width is about ``size`` px."""
    k = max(1, int(size) // img.shape[1])
    return img.repeat(k, axis=0).repeat(k, axis=1)


def tile(img, size=64, margin=4):
    """``zoom(img, size)`` with a white margin of ``margin`` px around it, for a grid of images."""
    pad = [(margin, margin), (margin, margin)] + [(0, 0)] * (img.ndim - 2)
    return np.pad(zoom(img, size), pad, constant_values=1.0)
