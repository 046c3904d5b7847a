"""``unet``: a standard 2D U-Net (Ronneberger et al. 2015) trained with Dice + cross-entropy.

``levels`` (default 4) stride-2 max-pool steps below the top level, features
``base`` x 2^level (64-128-256-512-1024 at width 1); every level has two
3 x 3 convolutions, each followed by a norm (instance norm by default, or
batch norm) and ReLU; the decoder upsamples with stride-2 transposed
convolutions and concatenates the encoder's features of the same level. One
output channel (whole tumour) through a sigmoid; loss: binary cross-entropy
plus soft Dice; Adam 1e-4 with betas (0.9, 0.999), constant learning rate by
default. Image sides must be divisible by 2^levels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import torch
from torch import nn

from pathogan_bench.plugin import ModelContext, SegmentationModel, hookimpl
from pathogan_bench_plugins.shared.training import autocast, check_positive, dice_bce_loss, evaluating, to_layout

NORMS: dict[str, type[nn.Module]] = {"instance": nn.InstanceNorm2d, "batch": nn.BatchNorm2d}


def double_conv(cin: int, cout: int, norm: type[nn.Module]) -> nn.Sequential:
    """Two (3 x 3 convolution, norm, ReLU); the convolutions have no bias since a norm follows."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        norm(cout, affine=True),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False),
        norm(cout, affine=True),
        nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """(B,C,H,W) -> (B,out_channels,H,W) logits."""

    def __init__(self, in_channels: int, out_channels: int, base: int = 64, levels: int = 4, norm: str = "instance"):
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {sorted(NORMS)}, got '{norm}'")
        norm_layer = NORMS[norm]
        features = [base * 2**i for i in range(levels + 1)]
        self.levels = levels
        self.encoder = nn.ModuleList(
            [double_conv(in_channels, features[0], norm_layer)]
            + [double_conv(features[i], features[i + 1], norm_layer) for i in range(levels)]
        )
        self.pool = nn.MaxPool2d(2)
        self.upsample = nn.ModuleList(
            [nn.ConvTranspose2d(features[i + 1], features[i], 2, stride=2) for i in reversed(range(levels))]
        )
        self.decoder = nn.ModuleList(
            [double_conv(2 * features[i], features[i], norm_layer) for i in reversed(range(levels))]
        )
        self.head = nn.Conv2d(features[0], out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        factor = 2**self.levels
        if x.shape[-1] % factor or x.shape[-2] % factor:
            raise ValueError(
                f"a {self.levels}-level U-Net needs sides divisible by {factor}, got {tuple(x.shape[-2:])}"
            )
        skips = []
        for i, block in enumerate(self.encoder):
            x = block(x if i == 0 else self.pool(x))
            skips.append(x)
        skips.pop()  # the bottleneck is not a skip connection
        for upsample, block in zip(self.upsample, self.decoder):
            x = block(torch.cat([upsample(x), skips.pop()], dim=1))
        return self.head(x)


@dataclass
class UNetConfig:
    #: multiplier of every feature count
    width: float = 1.0
    #: features of the top level at width 1
    base: int = 64
    levels: int = 4
    #: "instance" or "batch"
    norm: str = "instance"
    lr: float = 1e-4
    beta1: float = 0.9
    #: fraction of the steps after which the learning rate decays linearly to zero (1 = constant)
    decay_start: float = 1.0

    def check(self) -> None:
        check_positive(self, "width", "lr", "base", "levels")


class UNetModel(SegmentationModel):
    """2D U-Net trained with Dice + cross-entropy on pixel labels (fully supervised)."""

    name = "unet"
    supervision = "full"
    config_class = UNetConfig
    config: UNetConfig

    def __init__(self, ctx: ModelContext, **options: Any):
        super().__init__(ctx, **options)
        cfg = self.config
        self.net = UNet(ctx.in_channels, 1, max(2, int(round(cfg.base * cfg.width))), cfg.levels, cfg.norm)
        self.add_optimizer("net", self.net.parameters(), cfg.lr, (cfg.beta1, 0.999), cfg.decay_start)

    def train_step(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        # batch norm updates its running statistics in the forward pass; keep them to undo a skipped step
        running = [b.clone() for b in self._running_statistics()]
        with autocast(self.ctx):
            logits = self.net(to_layout(batch["image"], self.ctx))
        loss = dice_bce_loss(logits.float(), batch["mask"])
        applied = self.update("net", loss)
        for buffer, before in zip(self._running_statistics(), running):
            buffer.copy_(torch.where(applied, buffer, before))
        return {"S/dice_ce": loss.detach()}

    def _running_statistics(self) -> list[torch.Tensor]:
        # the statistics of a BatchNorm that tracks them (the default) are never None
        return cast(
            "list[torch.Tensor]",
            [
                b
                for m in self.net.modules()
                if isinstance(m, nn.BatchNorm2d)
                for b in (m.running_mean, m.running_var, m.num_batches_tracked)
            ],
        )

    @torch.no_grad()
    def segment(self, images: torch.Tensor) -> torch.Tensor:
        """The sigmoid probability of whole tumour, (B,H,W)."""
        with evaluating(self), autocast(self.ctx):
            logits = self.net(to_layout(images, self.ctx))
        return torch.sigmoid(logits.float()[:, 0])


@hookimpl
def register_models() -> list[type]:
    return [UNetModel]
