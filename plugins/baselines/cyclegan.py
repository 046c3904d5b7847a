"""``cyclegan``: the plain CycleGAN (Zhu et al. 2017), as the reference implementation trains it.

ResNet generators with 9 blocks (``resnet9``), 70 x 70 PatchGANs
(``patchgan``), least-squares GAN loss, cycle weight 10, identity weight
0.5 x 10, an image pool of 50, Adam 2e-4 with beta1 0.5, constant then
linear decay.

Segmentation rule (no pixel labels): the difference between a pathological
image and its translation to healthy, |x - G_B(x)| averaged over channels and
smoothed with a 3 x 3 box filter, inside the brain. ``calibrate`` fits the
threshold t as the ``percentile`` (default 99) of that difference on healthy
validation slices; ``segment`` returns sigmoid((d - t) / (0.1 t)), so 0.5
is the threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from pathogan_bench.model import ModelContext, SegmentationModel, guarded_step, linear_decay_schedule, make_adam
from pathogan_bench_plugins.pathogan import ImagePool, lsgan_d

BACKGROUND = -1.0 + 1e-3


@dataclass
class CycleGANConfig:
    width: float = 1.0
    lr: float = 2e-4
    beta1: float = 0.5
    cycle_weight: float = 10.0
    identity_weight: float = 0.5
    pool_size: int = 50
    decay_start: float = 0.5
    percentile: float = 99.0
    generator: str = "resnet9"
    discriminator: str = "patchgan"


class CycleGAN(SegmentationModel):
    """Plain CycleGAN; segments by the difference to the healthy translation (weakly supervised)."""

    name: ClassVar[str] = "cyclegan"
    supervision = "weak"

    def __init__(self, ctx: ModelContext, **options: Any):
        super().__init__()
        self.config = cfg = CycleGANConfig(**options)
        self.ctx = ctx
        n, reg = ctx.in_channels, ctx.registry
        self.gen_a = reg.create("generator", cfg.generator, n, n, ctx.image_size, width=cfg.width)  # A -> B
        self.gen_b = reg.create("generator", cfg.generator, n, n, ctx.image_size, width=cfg.width)  # B -> A
        self.disc_a = reg.create("discriminator", cfg.discriminator, n, width=cfg.width)
        self.disc_b = reg.create("discriminator", cfg.discriminator, n, width=cfg.width)
        shape = (n, ctx.image_size, ctx.image_size)
        self.pool_a, self.pool_b = ImagePool(cfg.pool_size, shape), ImagePool(cfg.pool_size, shape)
        self.register_buffer("difference_threshold", torch.tensor(0.1))
        self.to(ctx.device)
        betas = (cfg.beta1, 0.999)
        self.opt_g = make_adam(list(self.gen_a.parameters()) + list(self.gen_b.parameters()), cfg.lr, betas)
        self.opt_d = make_adam(list(self.disc_a.parameters()) + list(self.disc_b.parameters()), cfg.lr, betas)
        self.sched_g = linear_decay_schedule(self.opt_g, ctx.total_steps, cfg.decay_start)
        self.sched_d = linear_decay_schedule(self.opt_d, ctx.total_steps, cfg.decay_start)

    def _autocast(self):
        return torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.ctx.amp)

    def train_step(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        cfg = self.config
        x_a, x_b = batch["x_a"], batch["x_b"]
        for d in (self.disc_a, self.disc_b):
            d.requires_grad_(False)
        self.opt_g.zero_grad(set_to_none=True)
        with self._autocast():
            fake_b, fake_a = self.gen_a(x_a), self.gen_b(x_b)
            rec_a, rec_b = self.gen_b(fake_b), self.gen_a(fake_a)
            idt_a, idt_b = self.gen_a(x_b), self.gen_b(x_a)
            gan = ((self.disc_b(fake_b) - 1) ** 2).mean() + ((self.disc_a(fake_a) - 1) ** 2).mean()
            cycle = (rec_a - x_a).abs().mean() + (rec_b - x_b).abs().mean()
            identity = (idt_a - x_b).abs().mean() + (idt_b - x_a).abs().mean()
        gan, cycle, identity = gan.float(), cycle.float(), identity.float()
        total = gan + cfg.cycle_weight * cycle + cfg.identity_weight * cfg.cycle_weight * identity
        total.backward()
        guarded_step(self.opt_g, total)
        for d in (self.disc_a, self.disc_b):
            d.requires_grad_(True)
        self.opt_d.zero_grad(set_to_none=True)
        with self._autocast():
            loss_d = 0.5 * (lsgan_d(self.disc_a, x_a, self.pool_a(fake_a)) + lsgan_d(self.disc_b, x_b, self.pool_b(fake_b)))
        loss_d = loss_d.float()
        loss_d.backward()
        guarded_step(self.opt_d, loss_d)
        self.sched_g.step()
        self.sched_d.step()
        return {"G/gan": gan.detach(), "G/cycle": cycle.detach(), "G/identity": identity.detach(),
                "G/total": total.detach(), "D/gan": loss_d.detach()}

    @torch.no_grad()
    def difference(self, images: torch.Tensor) -> torch.Tensor:
        """Smoothed |x - G_B(x)| averaged over channels, zero outside the brain: (B,H,W)."""
        self.eval()
        with self._autocast():
            healthy = self.gen_b(images).float()
        diff = (images - healthy).abs().mean(1, keepdim=True)
        diff = F.avg_pool2d(diff, 3, stride=1, padding=1)[:, 0]
        brain = (images > BACKGROUND).any(1)
        return diff * brain

    def calibrate(self, healthy: torch.Tensor) -> None:
        """Fit the threshold on healthy images only: no pixel label is read."""
        diff = self.difference(healthy)
        inside = diff[(healthy > BACKGROUND).any(1)]
        if inside.numel():
            self.difference_threshold.copy_(torch.quantile(inside[:1_000_000], self.config.percentile / 100))

    @torch.no_grad()
    def segment(self, images: torch.Tensor) -> torch.Tensor:
        t = self.difference_threshold
        return torch.sigmoid((self.difference(images) - t) / (0.1 * t + 1e-6))

    @torch.no_grad()
    def translate(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        self.eval()
        with self._autocast():
            return {"translated": self.gen_b(images).float()}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"generators": self.opt_g, "discriminators": self.opt_d}

    def schedulers(self) -> dict[str, Any]:
        return {"generators": self.sched_g, "discriminators": self.sched_d}
