"""Image grids for TensorBoard and reports: reconstructions and latent traversals."""

from __future__ import annotations

import numpy as np
import torch


def tile(images: np.ndarray, rows: int, cols: int, pad: int = 1) -> np.ndarray:
    """(rows*cols, C, H, W) in [0, 1] -> one (C, rows*(H+pad)+pad, cols*(W+pad)+pad) image."""
    n, c, h, w = images.shape
    if n != rows * cols:
        raise ValueError(f"tile: {n} images do not fill a {rows}x{cols} grid")
    grid = np.ones((c, rows * (h + pad) + pad, cols * (w + pad) + pad), dtype=np.float32)
    for k in range(n):
        r, q = divmod(k, cols)
        y, x = pad + r * (h + pad), pad + q * (w + pad)
        grid[:, y : y + h, x : x + w] = images[k]
    return grid


@torch.no_grad()
def reconstruction_grid(model: torch.nn.Module, x: torch.Tensor) -> np.ndarray:
    """Originals on the top row, mean reconstructions below."""
    mu, _ = model.encode(x)
    recon = torch.sigmoid(model.decode(mu))
    both = torch.cat([x, recon]).float().cpu().numpy()
    return tile(both, 2, x.shape[0])


@torch.no_grad()
def traversal_grid(
    model: torch.nn.Module, x: torch.Tensor, steps: int = 8, limit: float = 2.0
) -> np.ndarray:
    """One row per latent: that latent swept over [-limit, limit] around x's mean code."""
    mu, _ = model.encode(x[:1])
    d = mu.shape[1]
    values = torch.linspace(-limit, limit, steps, device=mu.device)
    z = mu.repeat(d * steps, 1)
    for i in range(d):
        z[i * steps : (i + 1) * steps, i] = values
    images = torch.sigmoid(model.decode(z)).float().cpu().numpy()
    return tile(images, d, steps)
