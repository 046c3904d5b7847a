"""What both diffusion models share: options, the denoising U-Net, the noise schedule and the timestep grid of
partial noising. (The label-free rule that turns an image and its healthy reconstruction into probabilities is
:class:`~pathogan_bench_plugins.shared.difference.DifferenceModel`, shared with CycleGAN.)

Networks and schedulers come from ``diffusers`` (``UNet2DModel``,
``DDIMScheduler``, ``DDIMInverseScheduler``), imported when a model is built
so that listing the registry stays fast. Nothing is loaded from a hub: every
network is built from its configuration and trained by the run.

Timesteps follow diffusers' convention: a sample at timestep t is
sqrt(abar_t) x + sqrt(1 - abar_t) eps for t = 0 .. T-1, and stepping down
from t = 0 reaches the clean image. Noising to level L with n steps uses the
grid 0, k, 2k, ... < L with stride k = T // (T // max(1, L // n)), so n = L
is every timestep (the papers' setting) and smaller n skips evenly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from pathogan_bench_plugins.shared.training import check_positive

#: guided-diffusion's channel multipliers per level, by image side (powers of two)
LEVEL_MULTIPLIERS: dict[int, tuple[float, ...]] = {
    512: (0.5, 1, 1, 2, 2, 4, 4),
    256: (1, 1, 2, 2, 4, 4),
    128: (1, 1, 2, 3, 4),
    64: (1, 2, 3, 4),
    32: (1, 2, 2, 2),
}
BETA_SCHEDULES = {"linear": "linear", "cosine": "squaredcos_cap_v2"}
#: sampling steps of the quick preset (see docs/BASELINES.md for the time per slice)
QUICK_SAMPLING_STEPS = 10
#: what the quick preset adds to both models' options (the paper preset keeps the papers' every-step sampling)
PRESET_OPTIONS = {"quick": {"sampling_steps": QUICK_SAMPLING_STEPS}}
#: image side that sizes given in pixels refer to (both papers' 256 x 256 slices); they scale with the image
REFERENCE_SIDE = 256


@dataclass
class DiffusionOptions:
    """Options of both diffusion models (each model's dataclass sets its paper's defaults)."""

    #: multiplier of every network's feature counts (the quick preset: 0.125)
    width: float = 1.0
    #: feature count of the first U-Net level at width 1
    channels: int = 128
    #: residual blocks per U-Net level
    res_blocks: int = 2
    #: feature-map sides whose level has self-attention, on a 256-pixel slice (scaled with the image)
    attention_resolutions: list[int] = field(default_factory=lambda: [16])
    dropout: float = 0.0
    #: T, diffusion steps of the forward process
    timesteps: int = 1000
    #: "linear" (beta 1e-4 .. 0.02, scaled by 1000 / T) or "cosine"
    beta_schedule: str = "linear"
    #: L, the noise level a slice is noised to before it is denoised towards healthy
    level: int = 500
    #: denoising steps from level L back to the clean image; 0 = L (every timestep, the papers'); the quick
    #: preset sets 10
    sampling_steps: int = 0
    lr: float = 1e-4
    #: clip the predicted clean image to [-1, 1] at every sampling step
    clip: bool = True
    #: percentile of the healthy difference map that becomes the threshold
    percentile: float = 99.0
    #: side of the box filter applied to the difference map (1 = none)
    smoothing: int = 3
    #: width of the sigmoid around the threshold, as a fraction of the threshold
    softness: float = 0.1

    def steps(self) -> int:
        """The sampling steps used: ``sampling_steps``, or its automatic value when 0."""
        if self.sampling_steps:
            return self.sampling_steps
        return self.level

    def check(self) -> None:
        check_positive(self, "width", "channels", "res_blocks", "timesteps", "level", "lr", "smoothing", "softness")
        if self.sampling_steps < 0:
            raise ValueError(f"sampling_steps = {self.sampling_steps}: expected 0 (automatic) or a number > 0")
        if self.beta_schedule not in BETA_SCHEDULES:
            raise ValueError(f"beta_schedule = {self.beta_schedule!r}: expected one of {', '.join(BETA_SCHEDULES)}")
        if self.level > self.timesteps:
            raise ValueError(f"level = {self.level}: expected at most timesteps = {self.timesteps}")
        if self.sampling_steps > self.level:
            raise ValueError(f"sampling_steps = {self.sampling_steps}: expected at most level = {self.level}")
        if isinstance(self.sampling_steps, bool) or not isinstance(self.sampling_steps, int):
            raise ValueError(f"sampling_steps = {self.sampling_steps!r}: expected an integer")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout = {self.dropout}: expected a number in [0, 1)")
        if not 0 < self.percentile <= 100:
            raise ValueError(f"percentile = {self.percentile}: expected a number in (0, 100]")
        if not isinstance(self.attention_resolutions, list) or not all(
            isinstance(r, int) and r > 0 for r in self.attention_resolutions
        ):
            raise ValueError(f"attention_resolutions = {self.attention_resolutions!r}: expected a list of sides > 0")


# -- networks -----------------------------------------------------------------------------------------------------------
def scaled(channels: float, width: float) -> int:
    """A feature count times ``width``, rounded to a multiple of 8 (at least 8)."""
    return max(8, 8 * round(channels * width / 8))


def level_multipliers(image_size: int) -> tuple[float, ...]:
    """guided-diffusion's multipliers for the nearest power-of-two side, cut to the levels ``image_size`` halves into."""
    nearest = min(512, max(32, 2 ** round(math.log2(max(image_size, 1)))))
    halvings = (image_size & -image_size).bit_length() - 1  # times the side divides by 2
    return LEVEL_MULTIPLIERS[nearest][: halvings + 1]


def level_sides(image_size: int, levels: int) -> list[int]:
    return [image_size // 2**level for level in range(levels)]


def has_attention(side: int, image_size: int, resolutions: list[int]) -> bool:
    """Whether a level of this side gets attention: its side, scaled to a 256-pixel slice, is within a
    factor sqrt(2) of a listed one (so attention sits at the same depth below the input as in the papers)."""
    reference = side * REFERENCE_SIDE / image_size
    return any(r / math.sqrt(2) < reference <= r * math.sqrt(2) for r in resolutions)


def group_count(channels: list[int]) -> int:
    """GroupNorm groups: 32 as in guided-diffusion, fewer when narrow levels need it."""
    return math.gcd(32, *channels)


def make_unet(
    in_channels: int,
    image_size: int,
    options: DiffusionOptions,
    class_labels: int = 0,
    multipliers: tuple[float, ...] | None = None,
) -> nn.Module:
    """diffusers' UNet2DModel predicting the noise, laid out as guided-diffusion's U-Net for this image side (or
    with the given channel ``multipliers`` per level)."""
    from diffusers import UNet2DModel

    mults = multipliers or level_multipliers(image_size)
    chans = [scaled(options.channels * m, options.width) for m in mults]
    attention = [
        has_attention(s, image_size, options.attention_resolutions) for s in level_sides(image_size, len(mults))
    ]
    return UNet2DModel(
        sample_size=image_size,
        in_channels=in_channels,
        out_channels=in_channels,
        block_out_channels=tuple(chans),
        layers_per_block=options.res_blocks,
        down_block_types=tuple("AttnDownBlock2D" if a else "DownBlock2D" for a in attention),
        up_block_types=tuple("AttnUpBlock2D" if a else "UpBlock2D" for a in reversed(attention)),
        attention_head_dim=None,  # one head per attention layer
        norm_num_groups=group_count(chans),
        dropout=options.dropout,
        num_class_embeds=class_labels or None,
    )


def predict_noise(
    unet: nn.Module, x: torch.Tensor, t: torch.Tensor | int, labels: torch.Tensor | None = None
) -> torch.Tensor:
    return unet(x, t, class_labels=labels, return_dict=False)[0]


# -- schedule -----------------------------------------------------------------------------------------------------------
class NoiseSchedule(nn.Module):
    """The forward process and the DDIM/DDPM steps of a model, from diffusers' schedulers.

    ``add_noise`` draws x_t from a clean x; ``grid`` gives the timesteps of
    partial noising to a level; ``denoise`` steps down (DDIM, eta = 0 for
    the deterministic step, 1 for DDPM's ancestral step) and ``encode``
    steps up deterministically (DDIM inversion).
    """

    alphas_cumprod: torch.Tensor  # a buffer, registered in __init__

    def __init__(self, options: DiffusionOptions):
        from diffusers import DDIMInverseScheduler, DDIMScheduler

        super().__init__()
        scale = 1000 / options.timesteps  # guided-diffusion's linear schedule for any T
        config: dict[str, Any] = dict(
            num_train_timesteps=options.timesteps,
            beta_start=scale * 1e-4,
            beta_end=scale * 0.02,
            beta_schedule=BETA_SCHEDULES[options.beta_schedule],
            clip_sample=options.clip,
            set_alpha_to_one=True,
            steps_offset=0,
            prediction_type="epsilon",
            timestep_spacing="leading",
        )
        self.timesteps = options.timesteps
        self.decoder = DDIMScheduler(**config)
        self.encoder = DDIMInverseScheduler(**config)
        # on the model's device (not saved: it follows from the options), so training steps never copy it
        self.register_buffer("alphas_cumprod", self.decoder.alphas_cumprod.clone(), persistent=False)

    def add_noise(self, x: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """x_t for clean ``x``, per-image timesteps ``t`` (B,) and ``noise``."""
        abar = self.alphas_cumprod[t].view(-1, *([1] * (x.dim() - 1)))
        return abar.sqrt() * x + (1 - abar).sqrt() * noise

    def grid(self, level: int, steps: int) -> list[int]:
        """Timesteps 0, k, 2k, ... below ``level``, about ``steps`` of them; sets both schedulers to stride k."""
        inference_steps = self.timesteps // max(1, level // steps)
        self.decoder.set_timesteps(inference_steps)
        self.encoder.set_timesteps(inference_steps)
        stride = self.timesteps // inference_steps
        return list(range(0, level, stride))

    def stride(self) -> int:
        return self.timesteps // self.decoder.num_inference_steps

    def noise_scale(self, t: int) -> float:
        """sqrt(1 - abar_t), the factor of the classifier gradient in guided DDIM."""
        return float((1 - self.decoder.alphas_cumprod[t]).sqrt())

    def encode(self, eps: torch.Tensor, t_next: int, x: torch.Tensor) -> torch.Tensor:
        """Deterministic DDIM step from timestep t_next - k (the clean image if negative) up to t_next."""
        return self.encoder.step(eps, t_next, x, return_dict=False)[0]

    def denoise(
        self, eps: torch.Tensor, t: int, x: torch.Tensor, eta: float = 0.0, noise: torch.Tensor | None = None
    ) -> torch.Tensor:
        """DDIM step from t down to t - k; eta = 1 with ``noise`` is DDPM's ancestral step with that noise."""
        if eta == 0:
            return self.decoder.step(eps, t, x, eta=0.0, return_dict=False)[0]
        return self.decoder.step(
            eps, t, x, eta=eta, use_clipped_model_output=True, variance_noise=noise, return_dict=False
        )[0]
