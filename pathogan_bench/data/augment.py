"""Batched data augmentation on the training device (paper, section 2.5).

Random mirroring across the patient's left-right axis (a brain is nearly
symmetric left to right, not front to back: which array axis that is comes
from the NIfTI affine), a rotation from U[-0.1, 0.1] rad, a scaling 1.1^r
with r ~ U[-1, 1] and an elastic deformation: displacement vectors drawn
from N(0, 5) px on a grid with 128 px spacing, interpolated smoothly
(bicubic) to every pixel. The pixel sizes are the paper's, at 240 px; for
resized images they are scaled by the resize factor
(:meth:`AugmentConfig.for_resize`). All of it becomes one sampling grid per
image and one ``grid_sample`` call per batch; masks follow the same grid
(nearest), so image and mask stay aligned.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class AugmentConfig:
    mirror: bool = True
    #: which image axis is the patient's left-right: "rows" (array axis 0, as in BraTS) or "columns"
    mirror_axis: str = "rows"
    #: maximum absolute rotation in radians
    rotation: float = 0.1
    #: scale = base ** r, r ~ U[-1, 1]; 1 disables it
    scale_base: float = 1.1
    #: elastic grid spacing in pixels and displacement standard deviation in pixels (0 disables it)
    elastic_spacing: int = 128
    elastic_std: float = 5.0
    #: value outside the image after the transform (normalised background)
    fill: float = -1.0

    def for_resize(self, factor: float) -> AugmentConfig:
        """The same augmentation for images resized by ``factor`` (pixel-unit settings scaled with it)."""
        return replace(
            self, elastic_spacing=max(1, round(self.elastic_spacing * factor)), elastic_std=self.elastic_std * factor
        )


class Augmenter(nn.Module):
    """``forward(images (B,C,H,W), masks (B,H,W) or None, generator)`` -> augmented (images, masks)."""

    def __init__(self, config: AugmentConfig | None = None):
        super().__init__()
        self.config = config or AugmentConfig()

    def forward(
        self, images: torch.Tensor, masks: torch.Tensor | None = None, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        cfg = self.config
        b, _, h, w = images.shape
        # parameters are drawn on the CPU generator (reproducible everywhere) and moved once
        u = torch.rand(b, 3, generator=generator)
        flip = (u[:, 0] < 0.5) if cfg.mirror else torch.zeros(b, dtype=torch.bool)
        angle = (u[:, 1] * 2 - 1) * cfg.rotation
        scale = cfg.scale_base ** (u[:, 2] * 2 - 1)
        cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
        # grid x runs along the columns (dim -1), grid y along the rows (dim -2): mirror the one that is left-right
        sign = torch.where(flip, -1.0, 1.0)
        sx, sy = (sign, torch.ones(b)) if cfg.mirror_axis == "columns" else (torch.ones(b), sign)
        theta = torch.stack(
            [
                torch.stack([cos * sx, -sin * sy, torch.zeros(b)], 1),
                torch.stack([sin * sx, cos * sy, torch.zeros(b)], 1),
            ],
            1,
        )
        identity = cfg.rotation == 0 and cfg.scale_base == 1 and not cfg.mirror and cfg.elastic_std == 0
        if identity:
            return images, masks
        grid = F.affine_grid(theta.to(images.device, images.dtype), [b, 1, h, w], align_corners=False)
        if cfg.elastic_std > 0:
            gh = max(2, math.ceil(h / cfg.elastic_spacing) + 1)
            gw = max(2, math.ceil(w / cfg.elastic_spacing) + 1)
            coarse = torch.randn(b, 2, gh, gw, generator=generator) * cfg.elastic_std
            dense = F.interpolate(
                coarse.to(images.device, images.dtype), size=(h, w), mode="bicubic", align_corners=True
            )
            # pixels -> normalised [-1, 1] grid units
            grid = grid + torch.stack([dense[:, 0] * 2 / w, dense[:, 1] * 2 / h], -1)
        shifted = images - self.config.fill  # zero padding then means `fill`
        out = (
            F.grid_sample(shifted, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + self.config.fill
        )
        out_masks = None
        if masks is not None:
            out_masks = (
                F.grid_sample(
                    masks[:, None].to(images.dtype), grid, mode="nearest", padding_mode="zeros", align_corners=False
                )[:, 0]
                > 0.5
            )
            out_masks = out_masks.to(masks.dtype)
        return out, out_masks
