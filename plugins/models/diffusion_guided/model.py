"""``diffusion-guided``: a diffusion model with classifier guidance (Wolleb et al. 2022, MICCAI), weakly supervised.

Training, one step: the denoising U-Net learns to predict the noise of
healthy and pathological slices noised to a uniformly drawn timestep (mean
squared error); the classifier, a time-conditioned encoder, learns healthy
(0) vs pathological (1) from the same two batches noised to its own drawn
timesteps (cross-entropy). Both use only the slices' image-level labels.

Segmentation (the paper's Algorithm 1): encode a slice with deterministic
DDIM steps up to noise level L, then decode with DDIM steps whose noise
estimate is shifted by the classifier's gradient towards "healthy":

    eps_hat = eps(x_t, t) - s sqrt(1 - abar_t) grad_x log p(healthy | x_t, t)

The anomaly map is the difference between the slice and its healthy
translation (channel mean), turned into probabilities by the label-free rule
of :class:`~pathogan_bench_plugins.diffusion.common.DifferenceModel`. All
slices of a batch are encoded and decoded together.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from pathogan_bench.plugin import (  # the classifier's classes are the domains
    HEALTHY,
    PATHOLOGICAL,
    ModelContext,
    hookimpl,
)
from pathogan_bench_plugins.shared.difference import DifferenceModel
from pathogan_bench_plugins.shared.diffusion import (
    PRESET_OPTIONS,
    DiffusionOptions,
    NoiseSchedule,
    group_count,
    has_attention,
    level_multipliers,
    level_sides,
    make_unet,
    predict_noise,
    scaled,
)
from pathogan_bench_plugins.shared.training import check_positive, evaluating


@dataclass
class GuidedConfig(DiffusionOptions):
    #: L (the paper's BRATS setting)
    level: int = 500
    #: s, the classifier scale
    guidance_scale: float = 100.0
    #: condition the U-Net on the slice label too (the reference code's class_cond; the paper's text: unconditional)
    class_conditional: bool = False
    #: feature count of the classifier's first level at width 1
    classifier_width: int = 32
    #: residual blocks per classifier level
    classifier_depth: int = 4
    classifier_attention_resolutions: list[int] = field(default_factory=lambda: [32, 16, 8])
    classifier_lr: float = 1e-4

    def check(self) -> None:
        super().check()
        check_positive(self, "classifier_width", "classifier_depth", "classifier_lr")
        if self.guidance_scale < 0:
            raise ValueError(f"guidance_scale = {self.guidance_scale}: expected >= 0")
        if not all(isinstance(r, int) and r > 0 for r in self.classifier_attention_resolutions):
            raise ValueError(
                f"classifier_attention_resolutions = {self.classifier_attention_resolutions!r}: "
                "expected a list of sides > 0"
            )


class AttentionPool(nn.Module):
    """guided-diffusion's attention pooling: the mean token, with learned positions, attends to every position."""

    def __init__(self, side: int, channels: int, head_channels: int, out_features: int):
        super().__init__()
        self.position = nn.Parameter(torch.randn(side * side + 1, channels) / channels**0.5)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.proj = nn.Linear(channels, out_features)
        self.heads = max(1, channels // head_channels)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        b, c = h.shape[:2]
        tokens = h.flatten(2).transpose(1, 2)  # (B, HW, C)
        tokens = torch.cat([tokens.mean(dim=1, keepdim=True), tokens], dim=1) + self.position.to(h.dtype)
        q, k, v = self.qkv(tokens).chunk(3, dim=-1)

        def heads(z: torch.Tensor) -> torch.Tensor:
            return z.reshape(b, z.shape[1], self.heads, c // self.heads).transpose(1, 2)

        pooled = F.scaled_dot_product_attention(heads(q[:, :1]), heads(k), heads(v))  # (B, heads, 1, C / heads)
        return self.proj(pooled.transpose(1, 2).reshape(b, c))


class NoisyClassifier(nn.Module):
    """Healthy-vs-pathological logits (B, 2) of a noisy image x_t at timestep t.

    guided-diffusion's encoder classifier built from diffusers blocks:
    time embedding, ``depth`` residual blocks per level (scale-shift time
    conditioning, attention at the listed sides), a middle block, then
    GroupNorm, SiLU and attention pooling to the two logits.
    """

    def __init__(
        self,
        in_channels: int,
        image_size: int,
        base: int,
        depth: int,
        attention_resolutions: list[int],
        width: float,
        dropout: float = 0.0,
    ):
        super().__init__()
        from diffusers.models.embeddings import TimestepEmbedding, Timesteps
        from diffusers.models.unets.unet_2d_blocks import UNetMidBlock2D, get_down_block

        mults = level_multipliers(image_size)
        chans = [scaled(base * m, width) for m in mults]
        groups, temb = group_count(chans), chans[0] * 4
        self.time_proj = Timesteps(chans[0], flip_sin_to_cos=True, downscale_freq_shift=0)
        self.time_embedding = TimestepEmbedding(chans[0], temb)
        self.conv_in = nn.Conv2d(in_channels, chans[0], 3, padding=1)
        blocks, previous = [], chans[0]
        for level, (out, side) in enumerate(zip(chans, level_sides(image_size, len(chans)))):
            kind = "AttnDownBlock2D" if has_attention(side, image_size, attention_resolutions) else "DownBlock2D"
            blocks.append(
                get_down_block(
                    kind,
                    num_layers=depth,
                    in_channels=previous,
                    out_channels=out,
                    temb_channels=temb,
                    add_downsample=level < len(chans) - 1,
                    resnet_eps=1e-5,
                    resnet_act_fn="silu",
                    resnet_groups=groups,
                    downsample_padding=1,
                    attention_head_dim=64 if out % 64 == 0 else out,
                    resnet_time_scale_shift="scale_shift",
                    dropout=dropout,
                )
            )
            previous = out
        self.down = nn.ModuleList(blocks)
        self.mid = UNetMidBlock2D(
            in_channels=previous,
            temb_channels=temb,
            dropout=dropout,
            resnet_eps=1e-5,
            resnet_act_fn="silu",
            resnet_groups=groups,
            resnet_time_scale_shift="scale_shift",
            attention_head_dim=64 if previous % 64 == 0 else previous,
        )
        self.norm = nn.GroupNorm(groups, previous)
        side = level_sides(image_size, len(chans))[-1]
        self.pool = AttentionPool(side, previous, 64 if previous % 64 == 0 else previous, 2)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if t.dim() == 0:
            t = t.expand(x.shape[0])
        emb = self.time_embedding(self.time_proj(t).to(x.dtype))
        h = self.conv_in(x)
        for block in self.down:
            h, _ = block(h, emb)
        h = self.mid(h, emb)
        return self.pool(F.silu(self.norm(h)))


class DiffusionGuided(DifferenceModel):
    """Diffusion model + noisy classifier; segments by the difference to its classifier-guided healthy translation (weak)."""

    name = "diffusion-guided"
    supervision = "weak"
    config_class = GuidedConfig
    config: GuidedConfig
    preset_options = PRESET_OPTIONS

    def __init__(self, ctx: ModelContext, **options: Any):
        super().__init__(ctx, **options)
        cfg = self.config
        n, size = ctx.in_channels, ctx.image_size
        self.unet = make_unet(n, size, cfg, class_labels=2 if cfg.class_conditional else 0)
        self.classifier = NoisyClassifier(
            n,
            size,
            cfg.classifier_width,
            cfg.classifier_depth,
            cfg.classifier_attention_resolutions,
            cfg.width,
            cfg.dropout,
        )
        self.schedule = NoiseSchedule(cfg)
        self.add_optimizer("diffusion", self.unet.parameters(), cfg.lr, (0.9, 0.999))
        self.add_optimizer("classifier", self.classifier.parameters(), cfg.classifier_lr, (0.9, 0.999))

    # -- training ----------------------------------------------------------
    def train_step(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        x = torch.cat([batch["x_a"], batch["x_b"]])
        labels = torch.cat(
            [
                torch.full((len(batch["x_a"]),), HEALTHY, device=x.device),
                torch.full((len(batch["x_b"]),), PATHOLOGICAL, device=x.device),
            ]
        )
        steps = self.config.timesteps

        t = torch.randint(0, steps, (len(x),), device=x.device)
        noise = torch.randn_like(x)
        eps = predict_noise(
            self.unet, self.schedule.add_noise(x, noise, t), t, labels if self.config.class_conditional else None
        )
        mse = F.mse_loss(eps.float(), noise)
        self.update("diffusion", mse)

        t = torch.randint(0, steps, (len(x),), device=x.device)
        logits = self.classifier(self.schedule.add_noise(x, torch.randn_like(x), t), t)
        ce = F.cross_entropy(logits.float(), labels)
        self.update("classifier", ce)
        return {"diffusion/mse": mse.detach(), "classifier/ce": ce.detach()}

    # -- translation -------------------------------------------------------
    def healthy_log_probability_gradient(self, x: torch.Tensor, t: int) -> torch.Tensor:
        """grad_x log p(healthy | x_t = x, t), summed over the batch (each image's own gradient)."""
        with torch.enable_grad():
            x_in = x.detach().requires_grad_(True)
            logits = self.classifier(x_in, torch.full((len(x),), t, device=x.device))
            selected = F.log_softmax(logits.float(), dim=1)[:, HEALTHY].sum()
            return torch.autograd.grad(selected, x_in)[0]

    @torch.no_grad()
    def to_healthy(self, images: torch.Tensor, guidance_scale: float | None = None) -> torch.Tensor:
        """DDIM-encode to level L, then DDIM-decode with classifier guidance towards healthy."""
        cfg, schedule = self.config, self.schedule
        s = cfg.guidance_scale if guidance_scale is None else guidance_scale
        grid = schedule.grid(cfg.level, cfg.steps())
        stride = schedule.stride()
        labels = torch.full((len(images),), HEALTHY, device=images.device) if cfg.class_conditional else None
        x = images.float()
        with evaluating(self):
            for t in grid:  # up: from t - k (the clean image when negative) to t
                x = schedule.encode(predict_noise(self.unet, x, max(t - stride, 0), labels), t, x)
            for t in reversed(grid):  # down, guided
                eps = predict_noise(self.unet, x, t, labels).float()
                if s > 0:
                    eps = eps - s * schedule.noise_scale(t) * self.healthy_log_probability_gradient(x, t)
                x = schedule.denoise(eps, t, x)
        return x

    @torch.no_grad()
    def healthy_probability(self, images: torch.Tensor) -> torch.Tensor:
        """p(healthy | x, t = 0) of clean images, (B,)."""
        with evaluating(self):
            logits = self.classifier(images.float(), torch.zeros(len(images), dtype=torch.long, device=images.device))
        return logits.float().softmax(dim=1)[:, HEALTHY]

    @torch.no_grad()
    def preview(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        x_a, x_b = batch["x_a"], batch["x_b"]
        healthy = self.reconstruct(x_b)
        return {
            "x_A": x_a,
            "x_B": x_b,
            "guided translation to healthy": healthy,
            "|x_B - translation|": (x_b - healthy).abs().mean(dim=1, keepdim=True),
        }


@hookimpl
def register_models() -> list[type]:
    return [DiffusionGuided]
