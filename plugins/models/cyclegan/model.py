"""``cyclegan``: the plain CycleGAN (Zhu et al. 2017), trained as its reference implementation does.

Domains: A = healthy, B = pathological. ``gen_ab`` maps A -> B and
``gen_ba`` maps B -> A; ``disc_a`` judges healthy images and ``disc_b``
pathological ones. One training step, in the reference's order:

1. generators (discriminators frozen): least-squares GAN loss (D(fake) -> 1)
   on both translations, plus ``cycle_weight`` x L1 of both cycles, plus
   ``identity_weight`` x ``cycle_weight`` x L1 of both identity mappings
   (each generator fed the domain it maps to); one Adam step on both
   generators.
2. discriminators: 0.5 x [(D(real) - 1)^2 + D(fake)^2] for each, the fakes
   drawn from a pool of the last ``pool_size`` translations (the image pool
   PathoGAN uses, ``pathogan_bench_plugins.shared.gan``); one Adam step on both
   discriminators.

Networks come from the registry (``resnet9`` generators, ``patchgan``
discriminators); every convolution is re-initialised from N(0, ``init_std``)
with zero biases, as the reference does for any network it builds.

Segmentation rule (no pixel labels), shared with the diffusion models
(:class:`~pathogan_bench_plugins.shared.difference.DifferenceModel`): the
difference map d = box_filter(mean_c |x - G_BA(x)|), zero outside the brain,
between an image and its translation to healthy. ``calibrate`` sets the
threshold t to the ``percentile`` (default 99) of d over the brain pixels of
healthy validation slices: on healthy anatomy, 1 % of brain pixels exceed it.
``segment`` returns sigmoid((d - t) / (``softness`` x t)) inside the brain
and 0 outside.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from pathogan_bench.plugin import ModelContext, ReferenceSchedule, hookimpl
from pathogan_bench_plugins.shared.difference import DifferenceModel
from pathogan_bench_plugins.shared.gan import ImagePool, init_weights, lsgan_discriminator, lsgan_generator
from pathogan_bench_plugins.shared.networks import patchgan_layers
from pathogan_bench_plugins.shared.training import autocast, check_positive, evaluating, to_layout


@dataclass
class CycleGANConfig:
    #: multiplier of every network's feature counts
    width: float = 1.0
    generator: str = "resnet9"
    discriminator: str = "patchgan"
    #: how much of the slice one discriminator output judges: "image-fraction" (the paper's 70 of 240 px at every
    #: image size) or "reference" (70 px whatever the size)
    discriminator_field: str = "image-fraction"
    lr: float = 2e-4
    beta1: float = 0.5
    #: lambda_A = lambda_B of the reference
    cycle_weight: float = 10.0
    #: lambda_identity of the reference; the loss is weighted identity_weight x cycle_weight
    identity_weight: float = 0.5
    pool_size: int = 50
    #: fraction of the steps after which the learning rate decays linearly to zero
    decay_start: float = 0.5
    #: std of the normal initialisation of convolution weights
    init_std: float = 0.02
    #: percentile of the healthy difference map that becomes the threshold
    percentile: float = 99.0
    #: side of the box filter applied to the difference map (1 = none)
    smoothing: int = 3
    #: width of the sigmoid around the threshold, as a fraction of the threshold
    softness: float = 0.1

    def check(self) -> None:
        check_positive(self, "width", "lr", "init_std", "softness", "smoothing")
        if self.discriminator_field not in ("image-fraction", "reference"):
            raise ValueError(
                f"discriminator_field = {self.discriminator_field!r}: expected image-fraction or reference"
            )
        if self.pool_size < 0:
            raise ValueError(f"pool_size = {self.pool_size}: expected >= 0")
        if not 0 < self.percentile <= 100:
            raise ValueError(f"percentile = {self.percentile}: expected a number in (0, 100]")


class CycleGAN(DifferenceModel):
    """Plain CycleGAN; segments by the difference to the healthy translation (weakly supervised)."""

    name = "cyclegan"
    reference_schedule = ReferenceSchedule(
        "CycleGAN's 200 epochs (Zhu et al. 2017: 100 constant, 100 decaying)", epochs=200
    )
    supervision = "weak"
    config_class = CycleGANConfig
    config: CycleGANConfig

    def __init__(self, ctx: ModelContext, **options: Any):
        super().__init__(ctx, **options)
        cfg = self.config
        n = ctx.in_channels
        self.gen_ab = ctx.create("generator", cfg.generator, n, n, ctx.image_size, width=cfg.width)
        self.gen_ba = ctx.create("generator", cfg.generator, n, n, ctx.image_size, width=cfg.width)
        disc_options = {}
        if cfg.discriminator in ("patchgan", "patchgan-multiscale") and cfg.discriminator_field == "image-fraction":
            disc_options["layers"] = patchgan_layers(ctx.image_size)
        self.disc_a = ctx.create("discriminator", cfg.discriminator, n, width=cfg.width, **disc_options)
        self.disc_b = ctx.create("discriminator", cfg.discriminator, n, width=cfg.width, **disc_options)
        for network in (self.gen_ab, self.gen_ba, self.disc_a, self.disc_b):
            init_weights(network, "normal", cfg.init_std)
        image_shape = (n, ctx.image_size, ctx.image_size)
        self.pool_a = ImagePool(cfg.pool_size, image_shape)  # translations B -> A
        self.pool_b = ImagePool(cfg.pool_size, image_shape)  # translations A -> B
        betas = (cfg.beta1, 0.999)
        self.add_optimizer(
            "generators", [*self.gen_ab.parameters(), *self.gen_ba.parameters()], cfg.lr, betas, cfg.decay_start
        )
        self.add_optimizer(
            "discriminators", [*self.disc_a.parameters(), *self.disc_b.parameters()], cfg.lr, betas, cfg.decay_start
        )

    # -- training ----------------------------------------------------------
    def train_step(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        cfg = self.config
        real_a, real_b = to_layout(batch["x_a"], self.ctx), to_layout(batch["x_b"], self.ctx)
        discriminators = (self.disc_a, self.disc_b)
        for disc in discriminators:
            disc.requires_grad_(False)
        with autocast(self.ctx):
            fake_b = self.gen_ab(real_a)
            fake_a = self.gen_ba(real_b)
            cycle = (self.gen_ba(fake_b) - real_a).abs().mean() + (self.gen_ab(fake_a) - real_b).abs().mean()
            gan = lsgan_generator(self.disc_b(fake_b)) + lsgan_generator(self.disc_a(fake_a))
            if cfg.identity_weight > 0:
                identity = (self.gen_ab(real_b) - real_b).abs().mean() + (self.gen_ba(real_a) - real_a).abs().mean()
            else:
                identity = torch.zeros((), device=real_a.device)
        gan, cycle, identity = gan.float(), cycle.float(), identity.float()
        total_g = gan + cfg.cycle_weight * cycle + cfg.identity_weight * cfg.cycle_weight * identity
        applied_g = self.update("generators", total_g)

        for disc in discriminators:
            disc.requires_grad_(True)
        with autocast(self.ctx):
            # a step whose generator update was refused, or a non-finite translation, leaves the pools as they are
            pooled_a = self.pool_a(fake_a, accept=applied_g & torch.isfinite(fake_a).all())
            pooled_b = self.pool_b(fake_b, accept=applied_g & torch.isfinite(fake_b).all())
            loss_d_a = 0.5 * lsgan_discriminator(self.disc_a, real_a, pooled_a)
            loss_d_b = 0.5 * lsgan_discriminator(self.disc_b, real_b, pooled_b)
        total_d = loss_d_a.float() + loss_d_b.float()
        self.update("discriminators", total_d)
        return {
            "G/gan": gan.detach(),
            "G/cycle": cycle.detach(),
            "G/identity": identity.detach(),
            "G/total": total_g.detach(),
            "D/a": loss_d_a.detach().float(),
            "D/b": loss_d_b.detach().float(),
            "D/gan": total_d.detach(),
        }

    # -- segmentation (the rule of DifferenceModel) -------------------------------------------------------------
    @torch.no_grad()
    def to_healthy(self, images: torch.Tensor) -> torch.Tensor:
        """G_BA: the translation of (B,C,H,W) images to the healthy domain, in float32."""
        with evaluating(self), autocast(self.ctx):
            return self.gen_ba(to_layout(images, self.ctx)).float()

    @torch.no_grad()
    def preview(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        x_a, x_b = batch["x_a"], batch["x_b"]
        with evaluating(self), autocast(self.ctx):
            to_b = self.gen_ab(to_layout(x_a, self.ctx)).float()
        to_a = self.to_healthy(x_b)
        return {
            "x_A (healthy)": x_a,
            "G_AB(x_A)": to_b,
            "x_B (pathological)": x_b,
            "G_BA(x_B)": to_a,
            "|x_B - G_BA(x_B)|": (x_b - to_a).abs().mean(dim=1, keepdim=True),
        }


@hookimpl
def register_models() -> list[type]:
    return [CycleGAN]
