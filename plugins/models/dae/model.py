"""``dae``: the denoising autoencoder of Kascenas et al. (MIDL 2022), the strongest simple unsupervised baseline.

Training, one step: healthy slices (supervision "healthy": the engine never
gives it a pathological image) get coarse noise, Gaussian noise drawn at
``noise_res`` x ``noise_res`` per image and channel (standard deviation
``noise_std``), upsampled bilinearly (corners aligned) to the image size,
shifted by a random circular roll and kept inside the brain only; the U-Net
learns to return the clean slice (mean squared error inside the brain).

Segmentation: the slice is passed through the U-Net unchanged (no noise);
the anomaly map is the reconstruction error, the channel mean of
|x - U-Net(x)| inside the brain mask eroded by a ``erode`` x ``erode`` mean
filter (a pixel stays when more than 95 % of its window is brain), then a
2D median filter of ``median`` pixels: the paper's scoring. The label-free
rule of :class:`~pathogan_bench_plugins.shared.difference.DifferenceModel`
turns it into probabilities (threshold at the ``percentile`` of the map over
healthy validation brain pixels).

The U-Net (Kascenas et al.'s): ``depth`` levels of two 3 x 3 convolutions with
reflection padding, each followed by Swish and group norm, 2^wf x 2^level
features, 2 x 2 average pooling down, stride-2 transposed convolutions up,
skip connections by concatenation, a 1 x 1 output convolution; as many
output channels as input ones. Adam with AMSGrad, learning rate 1e-4, weight
decay 1e-5, batch 16. Deviations (docs/BASELINES.md): plain convolutions
instead of weight-standardised ones, a constant learning rate instead of
their cosine schedule restarted every 100 epochs of 32 batches, noise
resolution scaled with the image side (16 at 128 pixels).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from pathogan_bench.plugin import ModelContext, hookimpl
from pathogan_bench_plugins.shared.difference import DifferenceModel
from pathogan_bench_plugins.shared.training import brain_mask, check_positive

#: the side the paper's noise resolution refers to
REFERENCE_SIDE = 128


def groups_for(channels: int) -> int:
    """The middle divisor of ``channels`` (the paper's group-norm group count)."""
    divisors = sorted(
        {d for i in range(1, int(math.isqrt(channels)) + 1) if channels % i == 0 for d in (i, channels // i)}
    )
    return divisors[len(divisors) // 2]


def conv_block(cin: int, cout: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in ((cin, cout), (cout, cout)):
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(a, b, 3), nn.SiLU(), nn.GroupNorm(groups_for(b), b)]
    return nn.Sequential(*layers)


class DenoisingUNet(nn.Module):
    """(B,C,H,W) -> (B,C,H,W): Kascenas et al.'s U-Net (sides divisible by 2^(depth-1))."""

    def __init__(self, channels: int, depth: int = 4, wf: int = 6, width: float = 1.0):
        super().__init__()
        features = [max(2, int(round(2 ** (wf + i) * width))) for i in range(depth)]
        self.depth = depth
        self.down = nn.ModuleList()
        previous = channels
        for f in features:
            self.down.append(conv_block(previous, f))
            previous = f
        self.up = nn.ModuleList()
        self.up_blocks = nn.ModuleList()
        for f in reversed(features[:-1]):
            self.up.append(nn.ConvTranspose2d(previous, f, 2, stride=2))
            self.up_blocks.append(conv_block(2 * f, f))
            previous = f
        self.last = nn.Conv2d(previous, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        factor = 2 ** (self.depth - 1)
        if x.shape[-1] % factor or x.shape[-2] % factor:
            raise ValueError(f"a depth-{self.depth} U-Net needs sides divisible by {factor}, got {tuple(x.shape[-2:])}")
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else F.avg_pool2d(x, 2))
            skips.append(x)
        skips.pop()
        for up, block in zip(self.up, self.up_blocks):
            x = block(torch.cat([up(x), skips.pop()], dim=1))
        return self.last(x)


def coarse_noise(
    images: torch.Tensor, resolution: int, std: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Noise shaped like ``images``: N(0, std) at ``resolution`` x ``resolution`` per image and channel, upsampled
    bilinearly (corners aligned) to the image size, rolled by a random shift, zero outside the brain."""
    b, c, h, w = images.shape
    low = torch.randn((b, c, resolution, resolution), generator=generator, device=images.device) * std
    noise = F.interpolate(low, size=(h, w), mode="bilinear", align_corners=True)
    shift = torch.randint(0, max(h, w), (2,), generator=generator, device=images.device).tolist()
    noise = torch.roll(noise, shifts=(shift[0] % h, shift[1] % w), dims=(-2, -1))
    return noise * brain_mask(images)[:, None].to(noise.dtype)


def median_filter_2d(maps: torch.Tensor, size: int) -> torch.Tensor:
    """(B,H,W) maps filtered by a size x size median (reflection at the edges); size 1 returns them."""
    if size <= 1:
        return maps
    pad = size // 2
    padded = F.pad(maps[:, None], [pad, size - 1 - pad] * 2, mode="reflect")
    windows = F.unfold(padded, size)  # (B, size*size, H*W)
    return windows.median(dim=1).values.view_as(maps)


@dataclass
class DAEConfig:
    #: multiplier of every feature count (the quick preset uses 0.125)
    width: float = 1.0
    #: U-Net levels; features 2^wf x 2^level (64-128-256-512 at width 1)
    depth: int = 4
    wf: int = 6
    #: noise grid side at a 128-pixel image (scaled with the image side) and its standard deviation
    noise_res: int = 16
    noise_std: float = 0.2
    lr: float = 1e-4
    weight_decay: float = 1e-5
    #: scoring: erosion window of the brain mask and median filter size (pixels)
    erode: int = 5
    median: int = 5
    #: label-free rule (DifferenceModel): percentile of the healthy map that becomes the threshold
    percentile: float = 99.0
    #: box filter of the difference map (1: none; the median above is the paper's smoothing)
    smoothing: int = 1
    softness: float = 0.1

    def check(self) -> None:
        check_positive(self, "width", "depth", "wf", "noise_res", "noise_std", "lr", "erode", "median", "smoothing")
        check_positive(self, "softness")
        if not 0 < self.percentile <= 100:
            raise ValueError(f"percentile = {self.percentile}: expected a number in (0, 100]")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay = {self.weight_decay}: expected a number >= 0")


class DenoisingAE(DifferenceModel):
    """U-Net denoising autoencoder trained on healthy slices with coarse noise; the map is its reconstruction error."""

    name = "dae"
    supervision = "healthy"
    config_class = DAEConfig
    config: DAEConfig
    preset_options = {"paper": {"width": 1.0}}

    def __init__(self, ctx: ModelContext, **options: Any):
        super().__init__(ctx, **options)
        cfg = self.config
        self.net = DenoisingUNet(ctx.in_channels, cfg.depth, cfg.wf, cfg.width)
        optimizer = self.add_optimizer("net", self.net.parameters(), cfg.lr, (0.9, 0.999))
        for group in optimizer.param_groups:
            group["amsgrad"] = True
            group["weight_decay"] = cfg.weight_decay

    def noise_resolution(self, side: int) -> int:
        return max(1, int(round(self.config.noise_res * side / REFERENCE_SIDE)))

    def train_step(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        x = batch["x_a"]
        noisy = x + coarse_noise(x, self.noise_resolution(x.shape[-1]), self.config.noise_std)
        inside = brain_mask(x)[:, None].float()
        loss = ((self.net(noisy).float() - x) ** 2 * inside).mean()
        self.update("net", loss)
        return {"dae/mse": loss.detach()}

    def to_healthy(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images.float()).float()

    def difference(self, images: torch.Tensor, healthy: torch.Tensor) -> torch.Tensor:
        """Channel mean of |x - reconstruction| inside the eroded brain, 2D median filtered (the paper's scoring)."""
        k = self.config.erode
        brain = brain_mask(images)[:, None].float()
        eroded = F.avg_pool2d(F.pad(brain, [k // 2, (k - 1) // 2] * 2), k, stride=1) > 0.95
        error = ((images.float() - healthy.float()).abs() * eroded).mean(dim=1)
        return median_filter_2d(error, self.config.median) * brain_mask(images)

    @torch.no_grad()
    def preview(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        x = batch["x_a"]
        noisy = x + coarse_noise(x, self.noise_resolution(x.shape[-1]), self.config.noise_std)
        clean = self.reconstruct(noisy)
        return {"x_A": x, "noised": noisy.clamp(-1, 1), "denoised": clean, "|x_A - denoised|": (x - clean).abs()}


@hookimpl
def register_models() -> list[type]:
    return [DenoisingAE]
