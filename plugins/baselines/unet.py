"""``unet``: a standard 2D U-Net (Ronneberger et al. 2015) trained with Dice + cross-entropy.

Four resolution levels below the top (64-128-256-512-1024 features at
width 1), two 3 x 3 convolutions with instance norm and ReLU per level,
max-pool down, transposed convolution up, skip connections; one output
channel (whole tumour) through a sigmoid. Adam 2e-4, constant then linear
decay.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from pathogan_bench.model import ModelContext, SegmentationModel, guarded_step, linear_decay_schedule, make_adam


@dataclass
class UNetConfig:
    width: float = 1.0
    base: int = 64
    levels: int = 4
    lr: float = 2e-4
    decay_start: float = 0.5


def double_conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.InstanceNorm2d(cout, affine=True), nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, padding=1), nn.InstanceNorm2d(cout, affine=True), nn.ReLU(inplace=True))


class UNet(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, base: int, levels: int):
        super().__init__()
        feats = [base * 2 ** i for i in range(levels + 1)]
        self.down = nn.ModuleList([double_conv(in_channels, feats[0])] +
                                  [double_conv(feats[i], feats[i + 1]) for i in range(levels)])
        self.up = nn.ModuleList([nn.ConvTranspose2d(feats[i + 1], feats[i], 2, stride=2) for i in reversed(range(levels))])
        self.merge = nn.ModuleList([double_conv(2 * feats[i], feats[i]) for i in reversed(range(levels))])
        self.head = nn.Conv2d(feats[0], out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        skips.pop()
        for up, merge in zip(self.up, self.merge):
            x = up(x)
            skip = skips.pop()
            if x.shape[-2:] != skip.shape[-2:]:  # odd sizes
                x = F.interpolate(x, size=skip.shape[-2:])
            x = merge(torch.cat([x, skip], dim=1))
        return self.head(x)


def dice_ce_loss(logits: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """Soft Dice loss plus binary cross-entropy, on (B,1,H,W) logits and {0,1} targets."""
    ce = F.binary_cross_entropy_with_logits(logits, target)
    prob = torch.sigmoid(logits)
    inter = (prob * target).flatten(1).sum(1)
    dice = (2 * inter + eps) / (prob.flatten(1).sum(1) + target.flatten(1).sum(1) + eps)
    return ce + (1 - dice).mean()


class UNetModel(SegmentationModel):
    """2D U-Net trained with Dice + cross-entropy on pixel labels (fully supervised)."""

    name: ClassVar[str] = "unet"
    supervision = "full"

    def __init__(self, ctx: ModelContext, **options: Any):
        super().__init__()
        self.config = cfg = UNetConfig(**options)
        self.net = UNet(ctx.in_channels, 1, max(4, int(round(cfg.base * cfg.width))), cfg.levels).to(ctx.device)
        self.ctx = ctx
        self.opt = make_adam(self.net.parameters(), cfg.lr, (0.9, 0.999))
        self.sched = linear_decay_schedule(self.opt, ctx.total_steps, cfg.decay_start)

    def train_step(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        self.opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.ctx.amp):
            logits = self.net(batch["image"])
        loss = dice_ce_loss(logits.float(), batch["mask"])
        loss.backward()
        guarded_step(self.opt, loss)
        self.sched.step()
        return {"S/dice_ce": loss.detach()}

    @torch.no_grad()
    def segment(self, images: torch.Tensor) -> torch.Tensor:
        self.eval()
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.ctx.amp):
            return torch.sigmoid(self.net(images)[:, 0].float())

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"net": self.opt}

    def schedulers(self) -> dict[str, Any]:
        return {"net": self.sched}
