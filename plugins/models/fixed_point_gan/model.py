"""``fixed-point-gan``: Fixed-Point GAN (Siddiquee et al., ICCV 2019), trained as its reference implementation does.

One generator G(x, c) translates a slice to domain c (0 healthy, 1
pathological; the label is a constant extra input channel) and outputs a
residual: the translation is tanh(x + G(x, c)). One discriminator gives a
patch map of realness and one domain logit. Each training step takes the
step's healthy and pathological slices together, with their own labels c
and target labels c' (the labels shuffled across the batch, as the
reference does, so about half the targets are the slice's own domain):

1. ``n_critic`` discriminator updates (WGAN-GP): -D(x) + D(tanh(x + G(x, c'))) + ``lambda_cls`` x BCE(D_cls(x), c) +
   ``lambda_gp`` x gradient penalty;
2. one generator update: the adversarial and domain-classification losses of both the cross-domain translation
   x' = G(x, c') and the same-domain one x'' = G(x, c), ``lambda_rec`` x (|x - G(x', c)| + |x - G(x'', c)|)
   (cycles back to the own domain), and the fixed-point loss ``lambda_id`` x |x - x''|: a slice translated to its
   own domain must not change.

Segmentation: the difference between a slice and its translation to
healthy (channel mean), turned into probabilities by the label-free rule of
:class:`~pathogan_bench_plugins.shared.difference.DifferenceModel`.

Networks (StarGAN's): the generator is a 7 x 7 convolution, two stride-2
4 x 4 convolutions down, ``residual_blocks`` residual blocks, two stride-2
transposed convolutions up and a 7 x 7 convolution, instance norm (affine)
and ReLU; the discriminator ``d_layers`` stride-2 4 x 4 convolutions with
LeakyReLU 0.01 (features doubling from 64), a 3 x 3 convolution to the patch
map and a convolution over the whole remaining map to the domain logit.
Features are multiplied by ``width``. Adam (beta 0.5, 0.999), learning rate
1e-4 for both, constant for the first half of the run, then decaying
linearly to zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from pathogan_bench.plugin import HEALTHY, PATHOLOGICAL, ModelContext, ReferenceSchedule, UserError, hookimpl
from pathogan_bench_plugins.shared.difference import DifferenceModel
from pathogan_bench_plugins.shared.gan import gradient_penalty
from pathogan_bench_plugins.shared.training import check_positive, evaluating


@dataclass
class FixedPointGANConfig:
    #: multiplier of every network's feature counts
    width: float = 1.0
    #: residual blocks of the generator (the reference's g_repeat_num)
    residual_blocks: int = 6
    #: stride-2 layers of the discriminator; 0: down to a 2 x 2 map (the reference's 6 at 128 pixels)
    d_layers: int = 0
    lr: float = 1e-4
    beta1: float = 0.5
    #: discriminator updates per generator update
    n_critic: int = 5
    lambda_cls: float = 1.0
    lambda_rec: float = 10.0
    lambda_gp: float = 10.0
    #: the fixed-point (conditional identity) loss
    lambda_id: float = 10.0
    #: fraction of the steps after which both learning rates decay linearly to zero
    decay_start: float = 0.5
    #: label-free rule (DifferenceModel): percentile of the healthy map that becomes the threshold
    percentile: float = 99.0
    smoothing: int = 3
    softness: float = 0.1

    def check(self) -> None:
        check_positive(self, "width", "residual_blocks", "lr", "n_critic", "smoothing", "softness")
        for name in ("lambda_cls", "lambda_rec", "lambda_gp", "lambda_id", "d_layers"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} = {getattr(self, name)}: expected a number >= 0")
        if not 0 <= self.decay_start <= 1:
            raise ValueError(f"decay_start = {self.decay_start}: expected a number in [0, 1]")
        if not 0 < self.percentile <= 100:
            raise ValueError(f"percentile = {self.percentile}: expected a number in (0, 100]")


def scaled(features: int, width: float) -> int:
    return max(2, round(features * width))


class ResidualBlock(nn.Module):
    def __init__(self, features: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(features, features, 3, padding=1, bias=False),
            nn.InstanceNorm2d(features, affine=True),
            nn.ReLU(),
            nn.Conv2d(features, features, 3, padding=1, bias=False),
            nn.InstanceNorm2d(features, affine=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class Generator(nn.Module):
    """(x (B,C,H,W), domain labels (B,)) -> the residual that translates x to those domains (B,C,H,W)."""

    def __init__(self, channels: int, width: float, blocks: int):
        super().__init__()
        f = scaled(64, width)
        layers: list[nn.Module] = [
            nn.Conv2d(channels + 1, f, 7, padding=3, bias=False),
            nn.InstanceNorm2d(f, affine=True),
            nn.ReLU(),
        ]
        for _ in range(2):
            layers += [nn.Conv2d(f, 2 * f, 4, stride=2, padding=1, bias=False), nn.InstanceNorm2d(2 * f, affine=True)]
            layers.append(nn.ReLU())
            f *= 2
        layers += [ResidualBlock(f) for _ in range(blocks)]
        for _ in range(2):
            layers += [nn.ConvTranspose2d(f, f // 2, 4, stride=2, padding=1, bias=False)]
            layers += [nn.InstanceNorm2d(f // 2, affine=True), nn.ReLU()]
            f //= 2
        layers.append(nn.Conv2d(f, channels, 7, padding=3, bias=False))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        plane = labels.to(x.dtype).view(-1, 1, 1, 1).expand(-1, 1, *x.shape[-2:])
        return self.net(torch.cat([x, plane], dim=1))


class Discriminator(nn.Module):
    """(B,C,H,W) -> (realness patch map (B,1,h,w), domain logit (B,))."""

    def __init__(self, channels: int, image_size: int, width: float, layers: int):
        super().__init__()
        seq: list[nn.Module] = []
        previous, f = channels, scaled(64, width)
        for _ in range(layers):
            seq += [nn.Conv2d(previous, f, 4, stride=2, padding=1), nn.LeakyReLU(0.01)]
            previous, f = f, 2 * f
        self.main = nn.Sequential(*seq)
        self.source = nn.Conv2d(previous, 1, 3, padding=1, bias=False)
        self.domain = nn.Conv2d(previous, 1, image_size // 2**layers, bias=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.main(x)
        return self.source(h), self.domain(h).flatten(1)[:, 0]


def discriminator_layers(image_size: int, requested: int) -> int:
    """The requested stride-2 layers, or as many as halve the side down to 2 pixels (at most 6, the reference's)."""
    layers = requested or min(6, max(1, int(math.log2(image_size)) - 1))
    if image_size % 2**layers:
        raise UserError(
            f"model 'fixed-point-gan' needs an image side divisible by 2^{layers} (d_layers = {layers}), "
            f"got {image_size}"
        )
    return layers


class FixedPointGAN(DifferenceModel):
    """StarGAN translator with the fixed-point loss; segments by the difference to its healthy translation (weak)."""

    name = "fixed-point-gan"
    supervision = "weak"
    config_class = FixedPointGANConfig
    config: FixedPointGANConfig
    reference_schedule = ReferenceSchedule(
        "Fixed-Point GAN's 200,000 discriminator iterations of batch 16 with a generator update every 5th "
        "(Siddiquee et al. 2019's reference code; a step here is one generator update)",
        steps=40_000,
    )

    def __init__(self, ctx: ModelContext, **options: Any):
        super().__init__(ctx, **options)
        cfg = self.config
        if ctx.image_size % 4:
            raise UserError(f"model 'fixed-point-gan' needs an image side divisible by 4, got {ctx.image_size}")
        n = ctx.in_channels
        self.generator = Generator(n, cfg.width, cfg.residual_blocks)
        layers = discriminator_layers(ctx.image_size, cfg.d_layers)
        self.discriminator = Discriminator(n, ctx.image_size, cfg.width, layers)
        betas = (cfg.beta1, 0.999)
        self.add_optimizer("generator", self.generator.parameters(), cfg.lr, betas, cfg.decay_start)
        self.add_optimizer("discriminator", self.discriminator.parameters(), cfg.lr, betas, cfg.decay_start)

    def translate_to(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x + self.generator(x, labels))

    def train_step(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        cfg = self.config
        x_a, x_b = batch["x_a"], batch["x_b"]
        x = torch.cat([x_a, x_b])
        own = torch.cat(
            [torch.full((len(x_a),), HEALTHY, device=x.device), torch.full((len(x_b),), PATHOLOGICAL, device=x.device)]
        ).float()
        target = own[torch.randperm(len(own), device=x.device)]

        self.discriminator.requires_grad_(True)
        for i in range(cfg.n_critic):
            with torch.no_grad():
                fake = self.translate_to(x, target)
            real_src, real_cls = self.discriminator(x)
            fake_src, _ = self.discriminator(fake)
            cls_d = F.binary_cross_entropy_with_logits(real_cls.float(), own)
            penalty = gradient_penalty(lambda z: self.discriminator(z)[0], x, fake)
            wasserstein = fake_src.float().mean() - real_src.float().mean()
            loss_d = wasserstein + cfg.lambda_cls * cls_d + cfg.lambda_gp * penalty.float()
            self.update("discriminator", loss_d, advance_schedule=i == cfg.n_critic - 1)

        self.discriminator.requires_grad_(False)
        crossed, same = self.translate_to(x, target), self.translate_to(x, own)
        crossed_src, crossed_cls = self.discriminator(crossed)
        same_src, same_cls = self.discriminator(same)
        adversarial = -crossed_src.float().mean() - same_src.float().mean()
        cls_g = F.binary_cross_entropy_with_logits(crossed_cls.float(), target) + F.binary_cross_entropy_with_logits(
            same_cls.float(), own
        )
        cycle = (x - self.translate_to(crossed, own)).abs().mean() + (x - self.translate_to(same, own)).abs().mean()
        fixed_point = (x - same).abs().mean()
        loss_g = adversarial + cfg.lambda_cls * cls_g + cfg.lambda_rec * cycle + cfg.lambda_id * fixed_point
        self.update("generator", loss_g.float())
        return {
            "D/wasserstein": (-wasserstein).detach(),
            "D/cls": cls_d.detach(),
            "D/gp": penalty.detach().float(),
            "G/adversarial": adversarial.detach(),
            "G/cls": cls_g.detach(),
            "G/cycle": cycle.detach().float(),
            "G/fixed_point": fixed_point.detach().float(),
        }

    @torch.no_grad()
    def to_healthy(self, images: torch.Tensor) -> torch.Tensor:
        with evaluating(self):
            labels = torch.full((len(images),), HEALTHY, device=images.device)
            return self.translate_to(images.float(), labels).float()

    @torch.no_grad()
    def preview(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        x_a, x_b = batch["x_a"], batch["x_b"]
        with evaluating(self):
            to_b = self.translate_to(x_a, torch.full((len(x_a),), PATHOLOGICAL, device=x_a.device))
        to_a = self.to_healthy(x_b)
        return {
            "x_A (healthy)": x_a,
            "G(x_A, pathological)": to_b,
            "x_B (pathological)": x_b,
            "G(x_B, healthy)": to_a,
            "|x_B - G(x_B, healthy)|": (x_b - to_a).abs().mean(dim=1, keepdim=True),
        }


@hookimpl
def register_models() -> list[type]:
    return [FixedPointGAN]
