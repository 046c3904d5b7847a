"""``pddpm``: the patched diffusion model (Behrendt et al., MIDL 2023), trained on healthy slices only.

Training, one step: each healthy slice gets one square patch from a fixed
grid (``patch`` of the slice's side, the paper's 48 of 96 pixels) drawn at
random; only that patch is noised, to a uniformly drawn timestep t (the
rest of the slice stays clean and gives the context), and the U-Net predicts
the clean slice (the paper's x0 objective); the loss is the L1 error inside
the patch (supervision "healthy": the engine never gives it a pathological
slice).

Segmentation: for every patch of the grid, the slice with only that patch
noised to timestep ``level`` - 1 (the paper's 500 of 1,000) is passed
through the U-Net once; the prediction inside the patch is that patch's
reconstruction, and the patches together make the reconstructed slice. The
channel mean of |x - reconstruction| is turned into probabilities by the
label-free rule of
:class:`~pathogan_bench_plugins.shared.difference.DifferenceModel`. The test
noise comes from a generator seeded with ``seed`` at every call, so a slice
gets the same map every time it is segmented.

Noise is octave simplex noise (``noise = "simplex"``, the official
configuration's) with AnoDDPM's parameters, or Gaussian. The U-Net is the
diffusers one the other diffusion models use, with the paper's channel
multipliers 1, 2, 2, 128 features at width 1, 3 residual blocks per level
and no attention (the official configuration's attention resolutions fall on
no level); the forward process is the project's diffusers schedule (linear
betas, T = 1,000). Adam, learning rate 1e-4.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from pathogan_bench.plugin import ModelContext, ReferenceSchedule, hookimpl
from pathogan_bench_plugins.shared.difference import DifferenceModel
from pathogan_bench_plugins.shared.diffusion import REFERENCE_SIDE, DiffusionOptions, NoiseSchedule, make_unet
from pathogan_bench_plugins.shared.simplex import octave_simplex_noise
from pathogan_bench_plugins.shared.training import brain_mask, check_positive, evaluating

NOISE_KINDS = ("simplex", "gaussian")
#: the paper's channel multipliers per U-Net level
MULTIPLIERS = (1.0, 2.0, 2.0)


@dataclass
class PatchedDDPMConfig(DiffusionOptions):
    res_blocks: int = 3
    attention_resolutions: list[int] = field(default_factory=list)
    #: the test noise level: patches are noised to timestep level - 1 (the paper's 500)
    level: int = 500
    #: patch side as a fraction of the slice side (the paper's 48 of 96 pixels)
    patch: float = 0.5
    #: "simplex" (the official configuration) or "gaussian"
    noise: str = "simplex"
    #: seed of the test noise
    seed: int = 0

    def check(self) -> None:
        super().check()
        check_positive(self, "patch")
        if self.patch > 1:
            raise ValueError(f"patch = {self.patch}: expected a fraction of the side in (0, 1]")
        if self.noise not in NOISE_KINDS:
            raise ValueError(f"noise = {self.noise!r}: expected one of {', '.join(NOISE_KINDS)}")
        if self.sampling_steps not in (0, 1):
            raise ValueError(f"sampling_steps = {self.sampling_steps}: pddpm reconstructs in one step (0 or 1)")


def patch_grid(side: int, patch: int) -> list[tuple[int, int]]:
    """Top-left corners of the square patches tiling a side x side slice (the last row and column flush with the
    edge, overlapping the one before when the side is not a multiple of the patch)."""
    starts = list(range(0, side - patch + 1, patch))
    if starts[-1] + patch < side:
        starts.append(side - patch)
    return [(r, c) for r in starts for c in starts]


def patch_masks(corners: list[tuple[int, int]], patch: int, side: int, device: torch.device) -> torch.Tensor:
    """(len(corners), 1, side, side) float masks, 1 inside each patch."""
    masks = torch.zeros(len(corners), 1, side, side, device=device)
    for i, (r, c) in enumerate(corners):
        masks[i, :, r : r + patch, c : c + patch] = 1
    return masks


class PatchedDDPM(DifferenceModel):
    """DDPM of healthy slices that reconstructs a slice patch by patch; segments by the difference."""

    name = "pddpm"
    supervision = "healthy"
    config_class = PatchedDDPMConfig
    config: PatchedDDPMConfig
    reference_schedule = ReferenceSchedule(
        "pDDPM's at most 1,600 epochs (Behrendt et al. 2023's official configuration, the best validation "
        "checkpoint kept)",
        epochs=1600,
    )
    masks: torch.Tensor  # the grid's patch masks (a buffer, registered in __init__)

    def __init__(self, ctx: ModelContext, **options: Any):
        super().__init__(ctx, **options)
        cfg = self.config
        self.unet = make_unet(ctx.in_channels, ctx.image_size, cfg, multipliers=MULTIPLIERS)
        self.schedule = NoiseSchedule(cfg)
        self.patch = max(1, round(cfg.patch * ctx.image_size))
        corners = patch_grid(ctx.image_size, self.patch)
        self.register_buffer("masks", patch_masks(corners, self.patch, ctx.image_size, ctx.device), persistent=False)
        self.add_optimizer("diffusion", self.unet.parameters(), cfg.lr, (0.9, 0.999))

    def draw_noise(self, like: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if self.config.noise == "gaussian":
            return torch.randn(like.shape, generator=generator, device=like.device)
        period = 64.0 * like.shape[-1] / REFERENCE_SIDE  # AnoDDPM's parameters (its model options' defaults)
        return 0.5 * octave_simplex_noise(tuple(like.shape), period, 6, 0.8, generator=generator, device=like.device)

    def noise_patches(
        self, x: torch.Tensor, masks: torch.Tensor, t: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """x with each image's patch (``masks``, (B,1,H,W)) noised to its timestep t (B,), the rest clean."""
        noised = self.schedule.add_noise(x, self.draw_noise(x, generator), t)
        return torch.where(masks.bool(), noised, x)

    def predict_clean(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.unet(x_t, t, return_dict=False)[0]

    def train_step(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        x = batch["x_a"]
        masks = self.masks[torch.randint(0, len(self.masks), (len(x),), device=x.device)]
        t = torch.randint(0, self.config.timesteps, (len(x),), device=x.device)
        predicted = self.predict_clean(self.noise_patches(x, masks, t), t).float()
        inside = masks.expand_as(x)
        loss = ((predicted - x).abs() * inside).sum() / inside.sum()
        self.update("diffusion", loss)
        return {"diffusion/l1_patch": loss.detach()}

    @torch.no_grad()
    def to_healthy(self, images: torch.Tensor) -> torch.Tensor:
        """Each grid patch noised to level - 1 and predicted in one pass; the patches' predictions together."""
        x = images.float()
        generator = torch.Generator(device=x.device).manual_seed(self.config.seed)
        noise_at = torch.full((len(x),), self.config.level - 1, device=x.device)
        healthy = x.clone()
        with evaluating(self):
            for mask in self.masks:
                masks = mask.expand(len(x), -1, -1, -1)
                predicted = self.predict_clean(self.noise_patches(x, masks, noise_at, generator), noise_at).float()
                healthy = torch.where(masks.bool(), predicted, healthy)
        return healthy.clamp(-1, 1)

    @torch.no_grad()
    def preview(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        x = batch["x_a"]
        healthy = self.reconstruct(x)
        error = (x - healthy).abs().mean(dim=1, keepdim=True) * brain_mask(x)[:, None]
        return {"x_A": x, "patch-wise reconstruction": healthy, "|x_A - reconstruction|": F.relu(error)}


@hookimpl
def register_models() -> list[type]:
    return [PatchedDDPM]
