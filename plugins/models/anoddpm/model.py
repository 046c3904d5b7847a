"""``anoddpm``: AnoDDPM (Wyatt et al. 2022, CVPR workshops), a diffusion model of healthy anatomy with simplex noise.

Training, one step: the denoising U-Net learns to predict the noise of
healthy slices noised to a uniformly drawn timestep (mean squared error). The
noise is octave simplex noise (``noise = "simplex"``, the paper's choice) or
Gaussian (``"gaussian"``, plain DDPM). The model only ever sees healthy
slices (supervision "healthy").

Segmentation: noise a slice to level L (the paper's lambda) and denoise it
with DDPM's ancestral steps, drawing the same kind of noise at every step.
Anatomy the model has never seen (a tumour) is replaced by healthy-looking
tissue; the difference between the slice and its reconstruction (channel
mean) is turned into probabilities by the label-free rule of
:class:`~pathogan_bench_plugins.shared.difference.DifferenceModel`. All slices
of a batch are denoised together. Sampling draws its noise from a generator
seeded with ``seed`` at every call, so a slice batch gets the same map every
time it is segmented.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from pathogan_bench.plugin import ModelContext, hookimpl
from pathogan_bench_plugins.shared.difference import DifferenceModel
from pathogan_bench_plugins.shared.diffusion import (
    PRESET_OPTIONS,
    REFERENCE_SIDE,
    DiffusionOptions,
    NoiseSchedule,
    make_unet,
    predict_noise,
)
from pathogan_bench_plugins.shared.simplex import octave_simplex_noise
from pathogan_bench_plugins.shared.training import check_positive, evaluating

NOISE_KINDS = ("simplex", "gaussian")


@dataclass
class AnoDDPMConfig(DiffusionOptions):
    attention_resolutions: list[int] = field(default_factory=lambda: [16, 8])
    #: lambda, the noise level of partial diffusion (the paper's MRI setting)
    level: int = 250
    #: "simplex" (AnoDDPM) or "gaussian" (plain DDPM)
    noise: str = "simplex"
    simplex_octaves: int = 6
    #: amplitude factor from one octave to the next (the paper's decay gamma)
    simplex_persistence: float = 0.8
    #: period in pixels of the first octave on a 256-pixel side (the paper's frequency 2^-6); scaled with the image
    simplex_period: float = 64.0
    #: standard deviation of the simplex noise per pixel (AnoDDPM's unnormalised 6-octave sum: about 0.5)
    simplex_std: float = 0.5
    #: seed of the sampling noise
    seed: int = 0

    def check(self) -> None:
        super().check()
        check_positive(self, "simplex_octaves", "simplex_persistence", "simplex_period", "simplex_std")
        if self.noise not in NOISE_KINDS:
            raise ValueError(f"noise = {self.noise!r}: expected one of {', '.join(NOISE_KINDS)}")
        if self.simplex_persistence > 1:
            raise ValueError(f"simplex_persistence = {self.simplex_persistence}: expected a number in (0, 1]")


class AnoDDPM(DifferenceModel):
    """Diffusion model of healthy slices with simplex noise; segments by the difference to its partial reconstruction."""

    name = "anoddpm"
    supervision = "healthy"
    config_class = AnoDDPMConfig
    config: AnoDDPMConfig
    preset_options = PRESET_OPTIONS

    def __init__(self, ctx: ModelContext, **options: Any):
        super().__init__(ctx, **options)
        cfg = self.config
        self.unet = make_unet(ctx.in_channels, ctx.image_size, cfg)
        self.schedule = NoiseSchedule(cfg)
        self.add_optimizer("diffusion", self.unet.parameters(), cfg.lr, (0.9, 0.999))

    def draw_noise(self, like: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Noise of the configured kind, shaped like ``like``; every (image, channel) map is an independent draw."""
        cfg = self.config
        if cfg.noise == "gaussian":
            return torch.randn(like.shape, generator=generator, device=like.device)
        period = cfg.simplex_period * like.shape[-1] / REFERENCE_SIDE
        noise = octave_simplex_noise(
            tuple(like.shape),
            period,
            cfg.simplex_octaves,
            cfg.simplex_persistence,
            generator=generator,
            device=like.device,
        )
        return noise * cfg.simplex_std

    # -- training ----------------------------------------------------------
    def train_step(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        x = batch["x_a"]
        t = torch.randint(0, self.config.timesteps, (len(x),), device=x.device)
        noise = self.draw_noise(x)
        eps = predict_noise(self.unet, self.schedule.add_noise(x, noise, t), t)
        mse = F.mse_loss(eps.float(), noise)
        self.update("diffusion", mse)
        return {"diffusion/mse": mse.detach()}

    # -- reconstruction ----------------------------------------------------
    def generator(self, device: torch.device) -> torch.Generator:
        return torch.Generator(device=device).manual_seed(self.config.seed)

    @torch.no_grad()
    def noised(self, images: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, list[int]]:
        """Images noised to the top of the sampling grid (just below lambda), and the grid."""
        cfg = self.config
        grid = self.schedule.grid(cfg.level, cfg.steps())
        t = torch.full((len(images),), grid[-1], device=images.device)
        return self.schedule.add_noise(images.float(), self.draw_noise(images, generator), t), grid

    @torch.no_grad()
    def to_healthy(self, images: torch.Tensor) -> torch.Tensor:
        """Partial diffusion to lambda with the configured noise, then DDPM's ancestral steps back."""
        generator = self.generator(images.device)
        x, grid = self.noised(images, generator)
        stride = self.schedule.stride()
        with evaluating(self):
            for t in reversed(grid):
                eps = predict_noise(self.unet, x, t).float()
                noise = self.draw_noise(x, generator) if t - stride >= 0 else torch.zeros_like(x)
                x = self.schedule.denoise(eps, t, x, eta=1.0, noise=noise)
        return x

    @torch.no_grad()
    def preview(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        x = batch["x_a"]
        noised, _ = self.noised(x, self.generator(x.device))
        healthy = self.reconstruct(x)
        return {
            "x_A": x,
            "noised to lambda": noised.clamp(-1, 1),
            "reconstruction": healthy,
            "|x_A - reconstruction|": (x - healthy).abs().mean(dim=1, keepdim=True),
        }


@hookimpl
def register_models() -> list[type]:
    return [AnoDDPM]
