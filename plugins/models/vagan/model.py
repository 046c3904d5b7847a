"""``vagan``: the visual attribution GAN (Baumgartner et al., CVPR 2018), trained as its reference code does.

A map generator M (a U-Net) sees a pathological slice x and outputs an
additive map; y = tanh(x + M(x)) is meant to look healthy. A WGAN-GP critic
D tells healthy slices from such y. Each training step:

1. critic updates (``critic_iters``, or ``critic_iters_long`` during the first ``long_first`` generator updates and
   on every ``long_every``-th one): D(healthy) - D(y) + ``gp_weight`` x gradient penalty (the reference's sign:
   the critic scores generated images high);
2. one generator update: D(y) + ``l1_weight`` x mean |y - x|, the L1 norm of the map that keeps it to what must
   change.

Segmentation: the map's magnitude, the channel mean of |y - x| (= |M(x)|
where tanh does not saturate), turned into probabilities by the label-free
rule of :class:`~pathogan_bench_plugins.shared.difference.DifferenceModel`.

Networks (the reference's 2D ones): M is a U-Net with 16 features at the top
level, doubling over 4 levels, two 3 x 3 convolutions with batch norm and
ReLU per level, max pooling down, stride-2 transposed convolutions up (to 16
features) with skip connections, a 3 x 3 output convolution; D is 3 x 3
convolutions with ReLU and no normalisation, 16-32-64-64-128-128-256-256
features with max pooling after the first, second, fourth and sixth, a
further 256-feature convolution, a 1 x 1 convolution to one map and its
global average. Features are multiplied by ``width``. Adam (beta 0, 0.9),
learning rate 1e-4 (the reference code's; its paper used 1e-3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from pathogan_bench.plugin import ModelContext, ReferenceSchedule, UserError, hookimpl
from pathogan_bench_plugins.shared.difference import DifferenceModel
from pathogan_bench_plugins.shared.gan import gradient_penalty
from pathogan_bench_plugins.shared.training import check_positive, evaluating

#: U-Net levels of the map generator (3 poolings)
LEVELS = 4


@dataclass
class VAGANConfig:
    #: multiplier of every network's feature counts
    width: float = 1.0
    lr: float = 1e-4
    #: weight of the L1 norm of the map (the reference's l1_map_weight)
    l1_weight: float = 100.0
    gp_weight: float = 10.0
    #: critic updates per generator update, and during the long phases
    critic_iters: int = 5
    critic_iters_long: int = 100
    #: generator updates at the start with long critic phases, and every how many generator updates another one
    #: comes (0: never)
    long_first: int = 25
    long_every: int = 100
    percentile: float = 99.0
    smoothing: int = 3
    softness: float = 0.1

    def check(self) -> None:
        check_positive(self, "width", "lr", "critic_iters", "critic_iters_long", "smoothing", "softness")
        for name in ("l1_weight", "gp_weight", "long_first", "long_every"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} = {getattr(self, name)}: expected a number >= 0")
        if not 0 < self.percentile <= 100:
            raise ValueError(f"percentile = {self.percentile}: expected a number in (0, 100]")


def scaled(features: int, width: float) -> int:
    return max(2, round(features * width))


def conv_bn_relu(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU()]


class MapGenerator(nn.Module):
    """(B,C,H,W) -> the additive map M(x) (B,C,H,W): the reference's 2D U-Net with batch norm."""

    def __init__(self, channels: int, width: float):
        super().__init__()
        base = scaled(16, width)
        features = [base * 2**level for level in range(LEVELS)]
        self.down = nn.ModuleList()
        previous = channels
        for f in features:
            self.down.append(nn.Sequential(*conv_bn_relu(previous, f), *conv_bn_relu(f, f)))
            previous = f
        self.up = nn.ModuleList()
        self.up_blocks = nn.ModuleList()
        for f in reversed(features[:-1]):
            self.up.append(
                nn.Sequential(nn.ConvTranspose2d(previous, base, 4, stride=2, padding=1), nn.BatchNorm2d(base))
            )
            self.up_blocks.append(nn.Sequential(*conv_bn_relu(base + f, f), *conv_bn_relu(f, f)))
            previous = f
        self.out = nn.Conv2d(previous, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        skips.pop()
        for up, block in zip(self.up, self.up_blocks):
            x = block(torch.cat([F.relu(up(x)), skips.pop()], dim=1))
        return self.out(x)


class Critic(nn.Module):
    """(B,C,H,W) -> (B,) scores: the reference's fully convolutional 2D critic without normalisation."""

    #: (features, pool after) per convolution, at width 1
    LAYOUT = ((16, True), (32, True), (64, False), (64, True), (128, False), (128, True), (256, False), (256, False))

    def __init__(self, channels: int, width: float):
        super().__init__()
        layers: list[nn.Module] = []
        previous = channels
        for features, pool in self.LAYOUT:
            f = scaled(features, width)
            layers += [nn.Conv2d(previous, f, 3, padding=1), nn.ReLU()]
            if pool:
                layers.append(nn.MaxPool2d(2))
            previous = f
        f = scaled(256, width)
        layers += [nn.Conv2d(previous, f, 3, padding=1), nn.ReLU(), nn.Conv2d(f, 1, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).mean(dim=(1, 2, 3))


def critic_iterations(generator_update: int, cfg: VAGANConfig) -> int:
    """Critic updates before generator update number ``generator_update`` (counted from 0), as the reference."""
    long = generator_update < cfg.long_first or (cfg.long_every > 0 and generator_update % cfg.long_every == 0)
    return cfg.critic_iters_long if long else cfg.critic_iters


class VAGAN(DifferenceModel):
    """Additive map generator against a WGAN-GP critic of healthy slices; the map is the segmentation (weak)."""

    name = "vagan"
    supervision = "weak"
    config_class = VAGANConfig
    config: VAGANConfig
    reference_schedule = ReferenceSchedule(
        "VA-GAN's 100,000 generator iterations of batch 32 (Baumgartner et al. 2018's reference code)", steps=100_000
    )
    #: on a CPU the long critic phases (100 critic updates on one step's batch) would take more than the whole run
    preset_options = {"quick": {"long_first": 0, "long_every": 0}}

    def __init__(self, ctx: ModelContext, **options: Any):
        super().__init__(ctx, **options)
        cfg = self.config
        if ctx.image_size % 16:
            raise UserError(f"model 'vagan' needs an image side divisible by 16, got {ctx.image_size}")
        self.generator = MapGenerator(ctx.in_channels, cfg.width)
        self.critic = Critic(ctx.in_channels, cfg.width)
        self.add_optimizer("generator", self.generator.parameters(), cfg.lr, (0.0, 0.9))
        self.add_optimizer("critic", self.critic.parameters(), cfg.lr, (0.0, 0.9))

    def made_healthy(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x + self.generator(x))

    def train_step(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        cfg = self.config
        healthy, pathological = batch["x_a"], batch["x_b"]
        self.critic.requires_grad_(True)
        for _ in range(critic_iterations(step, cfg)):
            with torch.no_grad():
                fake = self.made_healthy(pathological)
            distance = self.critic(healthy).mean() - self.critic(fake).mean()
            penalty = gradient_penalty(self.critic, healthy, fake)
            self.update("critic", distance + cfg.gp_weight * penalty)
        self.critic.requires_grad_(False)
        fake = self.made_healthy(pathological)
        l1 = (fake - pathological).abs().mean()
        adversarial = self.critic(fake).mean()
        self.update("generator", adversarial + cfg.l1_weight * l1)
        return {
            "critic/distance": (-distance).detach(),
            "critic/gp": penalty.detach(),
            "generator/adversarial": adversarial.detach(),
            "generator/l1_map": l1.detach(),
        }

    @torch.no_grad()
    def to_healthy(self, images: torch.Tensor) -> torch.Tensor:
        with evaluating(self):
            return self.made_healthy(images.float()).float()

    @torch.no_grad()
    def preview(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        x_b = batch["x_b"]
        healthy = self.to_healthy(x_b)
        return {
            "x_A (healthy)": batch["x_a"],
            "x_B (pathological)": x_b,
            "tanh(x_B + M(x_B))": healthy,
            "|M(x_B)|": (healthy - x_b).abs().mean(dim=1, keepdim=True),
        }


@hookimpl
def register_models() -> list[type]:
    return [VAGAN]
