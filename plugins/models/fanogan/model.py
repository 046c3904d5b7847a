"""``fanogan``: f-AnoGAN (Schlegl et al., Med. Image Anal. 2019), trained on healthy slices only.

Training has two phases (supervision "healthy": the engine never gives it a
pathological slice), split at ``gan_fraction`` of the run's steps:

1. a WGAN-GP of healthy slices: per step ``n_critic`` critic updates, D(G(z)) - D(x) + ``gp_weight`` x gradient
   penalty, then one generator update, -D(G(z)), with z ~ N(0, I) of ``z_dim`` dimensions;
2. the izi_f encoder E with G and D frozen: per step one update of
   MSE(x, G(E(x))) + ``kappa`` x MSE(f(x), f(G(E(x)))), f the critic's last
   feature maps (the features its linear output reads).

Segmentation: x is mapped to G(E(x)); the anomaly map is the residual, the
channel mean of |x - G(E(x))|, plus ``kappa`` x the critic-feature residual,
the channel mean of (f(x) - f(G(E(x))))^2 at each position of the critic's
last feature maps upsampled bilinearly to the slice (the paper's anomaly
score A_R + kappa A_D, kept in space). The label-free rule of
:class:`~pathogan_bench_plugins.shared.difference.DifferenceModel` turns it
into probabilities.

Networks (the reference's 64 x 64 residual WGAN-GP): the generator maps z
linearly to 8d maps of 4 x 4 and doubles the side with residual blocks
(batch norm, ReLU, nearest-neighbour upsampling, 3 x 3 convolutions) to the
slice, features 8d, 4d, 2d, d (d = 64 x ``width``), then batch norm, ReLU, a
3 x 3 convolution and tanh; the critic and the encoder mirror it: a 3 x 3
convolution to d features and residual blocks that halve the side (mean
pooling) with features 2d, 4d, 8d, 8d down to 4 x 4, then a linear layer
(to one score; to z for the encoder). The critic normalises with layer norm,
the encoder with batch norm. Adam (beta 0, 0.9), learning rate 1e-4 for the
GAN and 5e-5 for the encoder. Slice sides must be powers of two of at least 8.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from pathogan_bench.plugin import ModelContext, ReferenceSchedule, UserError, hookimpl
from pathogan_bench_plugins.shared.difference import DifferenceModel
from pathogan_bench_plugins.shared.gan import gradient_penalty
from pathogan_bench_plugins.shared.training import brain_mask, check_positive, evaluating


@dataclass
class FAnoGANConfig:
    #: multiplier of every network's feature counts (d = 64 at width 1)
    width: float = 1.0
    z_dim: int = 128
    lr: float = 1e-4
    encoder_lr: float = 5e-5
    n_critic: int = 5
    gp_weight: float = 10.0
    #: kappa: weight of the critic-feature residual in the encoder's loss and in the anomaly map
    kappa: float = 1.0
    #: fraction of the run's steps that train the GAN; the rest train the encoder
    gan_fraction: float = 0.5
    percentile: float = 99.0
    smoothing: int = 3
    softness: float = 0.1

    def check(self) -> None:
        check_positive(self, "width", "z_dim", "lr", "encoder_lr", "n_critic", "smoothing", "softness")
        for name in ("gp_weight", "kappa"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} = {getattr(self, name)}: expected a number >= 0")
        if not 0 < self.gan_fraction < 1:
            raise ValueError(f"gan_fraction = {self.gan_fraction}: expected a number in (0, 1)")
        if not 0 < self.percentile <= 100:
            raise ValueError(f"percentile = {self.percentile}: expected a number in (0, 100]")


class ResidualBlock(nn.Module):
    """The reference's residual block: norm, ReLU, conv, norm, ReLU, conv, with a 1 x 1 shortcut; ``resample``
    "up" doubles the side before the first convolution, "down" halves it after the second (mean pooling)."""

    def __init__(self, cin: int, cout: int, resample: str, norm: str):
        super().__init__()
        self.resample = resample
        middle = cout if resample == "up" else cin

        def normalise(features: int) -> nn.Module:
            return nn.BatchNorm2d(features) if norm == "batch" else nn.GroupNorm(1, features)

        self.norm1, self.conv1 = normalise(cin), nn.Conv2d(cin, middle, 3, padding=1, bias=False)
        self.norm2, self.conv2 = normalise(middle), nn.Conv2d(middle, cout, 3, padding=1)
        self.shortcut = nn.Conv2d(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.resample == "up":
            up = F.interpolate(x, scale_factor=2, mode="nearest")
            h = self.conv1(F.interpolate(F.relu(self.norm1(x)), scale_factor=2, mode="nearest"))
            return self.shortcut(up) + self.conv2(F.relu(self.norm2(h)))
        h = self.conv2(F.relu(self.norm2(self.conv1(F.relu(self.norm1(x))))))
        return self.shortcut(F.avg_pool2d(x, 2)) + F.avg_pool2d(h, 2)


def level_features(d: int, levels: int) -> list[int]:
    """Features after each halving block, from the slice down to 4 x 4: 2d, 4d, 8d, 8d, ... (at most 8d)."""
    return [d * min(8, 2 ** (i + 1)) for i in range(levels)]


class Generator(nn.Module):
    def __init__(self, channels: int, z_dim: int, d: int, levels: int):
        super().__init__()
        features = list(reversed(level_features(d, levels)))[1:] + [d]  # 8d, 4d, 2d, d at 64 px
        self.start = features[0]
        self.linear = nn.Linear(z_dim, 16 * self.start)
        blocks, previous = [], self.start
        for f in features:
            blocks.append(ResidualBlock(previous, f, "up", "batch"))
            previous = f
        self.blocks = nn.Sequential(*blocks)
        self.out = nn.Sequential(nn.BatchNorm2d(previous), nn.ReLU(), nn.Conv2d(previous, channels, 3, padding=1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.linear(z).view(len(z), self.start, 4, 4)
        return torch.tanh(self.out(self.blocks(h)))


class Encoder(nn.Module):
    """(B,C,H,W) -> (last feature maps (B,8d,4,4), linear output (B,out)); the critic (layer norm, one score) and
    the encoder (batch norm, z) are this network."""

    def __init__(self, channels: int, d: int, levels: int, out: int, norm: str):
        super().__init__()
        features = level_features(d, levels)
        blocks: list[nn.Module] = [nn.Conv2d(channels, d, 3, padding=1)]
        previous = d
        for f in features:
            blocks.append(ResidualBlock(previous, f, "down", norm))
            previous = f
        self.blocks = nn.Sequential(*blocks)
        self.linear = nn.Linear(16 * previous, out)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.blocks(x)
        return features, self.linear(features.flatten(1))


class FAnoGAN(DifferenceModel):
    """WGAN-GP of healthy slices and its izi_f encoder; segments by the residual plus critic-feature residual."""

    name = "fanogan"
    supervision = "healthy"
    config_class = FAnoGANConfig
    config: FAnoGANConfig
    reference_schedule = ReferenceSchedule(
        "f-AnoGAN's 50,000 encoder iterations of batch 64 after its WGAN's 7 epochs (Schlegl et al. 2019's "
        "reference code; the encoder trains in the second half of a run)",
        steps=100_000,
    )

    def __init__(self, ctx: ModelContext, **options: Any):
        super().__init__(ctx, **options)
        cfg = self.config
        side = ctx.image_size
        if side < 8 or side & (side - 1):
            raise UserError(f"model 'fanogan' needs an image side that is a power of two of at least 8, got {side}")
        levels, d, n = int(math.log2(side)) - 2, max(2, round(64 * cfg.width)), ctx.in_channels
        self.generator = Generator(n, cfg.z_dim, d, levels)
        self.critic = Encoder(n, d, levels, 1, "layer")
        self.encoder = Encoder(n, d, levels, cfg.z_dim, "batch")
        self.add_optimizer("generator", self.generator.parameters(), cfg.lr, (0.0, 0.9))
        self.add_optimizer("critic", self.critic.parameters(), cfg.lr, (0.0, 0.9))
        self.add_optimizer("encoder", self.encoder.parameters(), cfg.encoder_lr, (0.0, 0.9))

    def gan_steps(self) -> int:
        return max(1, round(self.config.gan_fraction * self.ctx.total_steps))

    def score(self, x: torch.Tensor) -> torch.Tensor:
        return self.critic(x)[1][:, 0]

    def train_step(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        x = batch["x_a"]
        return self.gan_step(x) if step < self.gan_steps() else self.encoder_step(x)

    def gan_step(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        cfg = self.config
        self.critic.requires_grad_(True)
        for _ in range(cfg.n_critic):
            with torch.no_grad():
                fake = self.generator(torch.randn(len(x), cfg.z_dim, device=x.device))
            distance = self.score(fake).mean() - self.score(x).mean()
            penalty = gradient_penalty(self.score, x, fake)
            self.update("critic", distance + cfg.gp_weight * penalty)
        self.critic.requires_grad_(False)
        adversarial = -self.score(self.generator(torch.randn(len(x), cfg.z_dim, device=x.device))).mean()
        self.update("generator", adversarial)
        return {"critic/distance": (-distance).detach(), "critic/gp": penalty.detach(), "G/wgan": adversarial.detach()}

    def encoder_step(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        self.generator.eval()
        self.critic.requires_grad_(False)
        self.generator.requires_grad_(False)
        recon = self.generator(self.encoder(x)[1])
        image = F.mse_loss(recon, x)
        features = F.mse_loss(self.critic(recon)[0], self.critic(x)[0])
        self.update("encoder", image + self.config.kappa * features)
        self.generator.requires_grad_(True)
        self.generator.train()
        return {"E/image": image.detach(), "E/features": features.detach()}

    @torch.no_grad()
    def to_healthy(self, images: torch.Tensor) -> torch.Tensor:
        with evaluating(self):
            return self.generator(self.encoder(images.float())[1]).float()

    def difference(self, images: torch.Tensor, healthy: torch.Tensor) -> torch.Tensor:
        """Residual plus ``kappa`` x the critic-feature residual upsampled to the slice, smoothed, 0 outside the
        brain."""
        residual = (images.float() - healthy.float()).abs().mean(dim=1, keepdim=True)
        with evaluating(self):
            feature = (
                (self.critic(images.float())[0] - self.critic(healthy.float())[0]).pow(2).mean(dim=1, keepdim=True)
            )
        feature = F.interpolate(feature, size=images.shape[-2:], mode="bilinear", align_corners=False)
        anomaly = residual + self.config.kappa * feature
        k = self.config.smoothing
        if k > 1:
            anomaly = F.avg_pool2d(F.pad(anomaly, [k // 2, (k - 1) // 2] * 2, mode="replicate"), k, stride=1)
        return anomaly[:, 0] * brain_mask(images)

    @torch.no_grad()
    def preview(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        x = batch["x_a"]
        with evaluating(self):
            sampled = self.generator(torch.randn(len(x), self.config.z_dim, device=x.device))
        recon = self.to_healthy(x)
        return {"x_A": x, "G(z)": sampled, "G(E(x_A))": recon, "|x_A - G(E(x_A))|": (x - recon).abs().mean(1, True)}


@hookimpl
def register_models() -> list[type]:
    return [FAnoGAN]
