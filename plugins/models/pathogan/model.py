"""PathoGAN (Andermatt et al. 2018): weakly supervised pathology segmentation by
translation between healthy (A) and pathological (B) images with residual generators.

The model: its networks' wiring, the training step, segmentation and sampling,
configured by :class:`~pathogan_bench_plugins.models.pathogan.config.PathoGANConfig`
(the ``[model_options]`` table of a run config, whose docstring lists the choices
where the paper is open); eq. 6 and the step's random draws are in ``translation.py``.

One training step (the CycleGAN reference order):

1. forward pass, collected in a :class:`~pathogan_bench_plugins.models.pathogan.step.TranslationStep`
   (the fields loss terms read): G_A on x_A (delta_B ~
   N(0, I)) -> y_B; G_B on x_B -> y_A; G_B on y_B -> x~_A; G_A on y_A with
   delta_B = Delta_B(l_B * x_B) -> x~_B; the identity passes G_A(x_B, 0) and
   G_B(x_A); the discriminators' scores of y_A and y_B;
2. every loss term of the loss set on that step, weighted and summed; one
   Adam step of both generators;
3. one Adam step of both discriminators (least squares: real -> 1, fake -> 0,
   halved) on real images and translations drawn from an image pool.
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from pathogan_bench.plugin import ModelContext, ModelOptionsError, ReferenceSchedule, SegmentationModel
from pathogan_bench_plugins.shared.gan import ImagePool, init_weights, lsgan_discriminator_loss
from pathogan_bench_plugins.shared.networks import paired_patchgan, pairing_problem, patchgan_layers
from pathogan_bench_plugins.shared.training import autocast, average_weights, frozen_copy, to_layout

from .config import PathoGANConfig
from .networks import check_vae_interface
from .step import TranslationStep
from .translation import StepNoise, Translation, reparameterise, residual_translation, split_noise

log = logging.getLogger("pathogan_bench")

#: steps between checks of the label area (one host transfer each)
COLLAPSE_WINDOW = 100


class PathoGAN(SegmentationModel):
    """PathoGAN: residual generators, a VAE for healthy -> pathological, PatchGAN discriminators."""

    name = "pathogan"
    reference_schedule = ReferenceSchedule(
        "the paper's 119 epochs at batch 4 (about 178,500 steps on its BraTS 2017 data)", epochs=119
    )
    supervision = "weak"
    uses_loss_set = True
    config_class = PathoGANConfig
    config: PathoGANConfig
    label_area_sum: torch.Tensor  # a buffer: the label areas of the steps since the last collapse check

    def __init__(self, ctx: ModelContext, **options: Any):
        super().__init__(ctx, **options)
        cfg = self.config
        n, size = ctx.in_channels, ctx.image_size
        factory = ctx.factory("generator", cfg.generator_a)
        if isinstance(factory, type):  # fail before building a network that cannot serve as Z_A
            check_vae_interface(cfg.generator_a, factory)
        shape = {"upsampling": cfg.upsampling}  # the built-in generators' options; another generator gets its own
        own_a = {**shape, "bottleneck": cfg.bottleneck} if cfg.generator_a == "pathogan-vae" else {}
        own_b = shape if cfg.generator_b == "pathogan-residual" else {}
        self.gen_a = ctx.create(
            "generator", cfg.generator_a, n, n + 1, size, width=cfg.width, z=cfg.z, **own_a, **cfg.generator_a_options
        )
        check_vae_interface(cfg.generator_a, self.gen_a)
        self.gen_b = ctx.create(
            "generator", cfg.generator_b, n, n + 1, size, width=cfg.width, **own_b, **cfg.generator_b_options
        )
        disc_options = dict(cfg.discriminator_options)
        if cfg.discriminator in ("patchgan", "patchgan-multiscale") and cfg.discriminator_field == "image-fraction":
            disc_options.setdefault("layers", patchgan_layers(size))
        self.disc_a = ctx.create("discriminator", cfg.discriminator, n, width=cfg.width, **disc_options)
        self.disc_b = ctx.create("discriminator", cfg.discriminator, n, width=cfg.width, **disc_options)
        problem = pairing_problem(self.disc_a, self.disc_b) if cfg.paired_discriminators else None
        if problem:
            raise ModelOptionsError(f"paired_discriminators = true {problem} (discriminator '{cfg.discriminator}')")
        if cfg.init != "network":
            for net in (self.gen_a, self.gen_b, self.disc_a, self.disc_b):
                init_weights(net, cfg.init, cfg.init_gain)
        self.pool_a = ImagePool(cfg.pool_size, (n, size, size))
        self.pool_b = ImagePool(cfg.pool_size, (n, size, size))
        self.terms = tuple(ctx.loss_terms)
        #: the discriminators train whenever the generators are trained against them
        self.adversarial = any(t.name == "gan" for t in self.terms)
        self.add_optimizer(
            "generators", [*self.gen_a.parameters(), *self.gen_b.parameters()], cfg.lr, cfg.betas, cfg.decay_start
        )
        self.add_optimizer(
            "discriminators", [*self.disc_a.parameters(), *self.disc_b.parameters()], cfg.lr, cfg.betas, cfg.decay_start
        )
        # averaged copies of the generators (in the checkpoints; never trained directly)
        self.ema_a = frozen_copy(self.gen_a) if cfg.ema else None
        self.ema_b = frozen_copy(self.gen_b) if cfg.ema else None
        self.ema_updates = 0
        self.register_buffer("label_area_sum", torch.zeros(()))
        #: the step from which the label maps stayed empty (None: no collapse seen)
        self.collapsed_at: int | None = None

    @property
    def threshold_rule(self) -> str:  # type: ignore[override]
        return "" if self.config.threshold_rule == "fixed" else self.config.threshold_rule

    @property
    def eval_a(self) -> Any:
        """G_A as inference uses it: its average when ``ema`` is on (a network with the VAE interface)."""
        return self.ema_a if self.ema_a is not None else self.gen_a

    @property
    def eval_b(self) -> torch.nn.Module:
        return self.ema_b if self.ema_b is not None else self.gen_b

    def networks_to_compile(self) -> dict[str, torch.nn.Module]:
        """G_A's parts (training calls its encoders and decoder, not its forward), G_B and both discriminators."""
        parts = {
            f"gen_a.{name}": part
            for name, part in self.gen_a.named_children()
            if any(p.requires_grad for p in part.parameters())
        }
        return {**(parts or {"gen_a": self.gen_a}), "gen_b": self.gen_b, "disc_a": self.disc_a, "disc_b": self.disc_b}

    # -- the two generators --------------------------------------------------------------------------------------------
    def generate_a(
        self, x: torch.Tensor, delta: torch.Tensor, noise: tuple[torch.Tensor, torch.Tensor | None] | None = None
    ) -> tuple[Translation, torch.Tensor, torch.Tensor, torch.Tensor]:
        """G_A(x, delta_B), healthy -> pathological. ``noise``: a training pass's draws (gamma's standard normal
        draw, the label eps); None: the deterministic pass (gamma = its mean, eps = 0). Returns (translation, mean,
        logvar, gamma) of Gamma_A(x)."""
        mean, logvar = self.gen_a.encode_anatomy(x)
        gamma = mean if noise is None else reparameterise(mean, logvar, noise[0])
        r = self.gen_a.decode(gamma, delta.to(gamma.dtype))
        return residual_translation(r, x, None if noise is None else noise[1]), mean, logvar, gamma

    def generate_b(self, x: torch.Tensor, label_eps: torch.Tensor | None = None) -> Translation:
        """G_B(x), pathological -> healthy, with a training pass's label eps (None: eps = 0)."""
        return residual_translation(self.gen_b(x), x, label_eps)

    def discriminate(self, for_a: torch.Tensor, for_b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """D_A(for_a) and D_B(for_b): one grouped call with ``paired_discriminators`` (inputs of one shape)."""
        if self.config.paired_discriminators and for_a.shape == for_b.shape:
            return paired_patchgan(self.disc_a, self.disc_b, for_a, for_b)
        return self.disc_a(for_a), self.disc_b(for_b)

    def forward_step(self, x_a: torch.Tensor, x_b: torch.Tensor) -> TranslationStep:
        """The training forward pass (eps and encodings drawn) of one batch."""
        noise = StepNoise.draw(x_a, x_b, self.config.z, self.config.label_noise)
        passes = self._batched_passes if self.config.batched_passes else self._separate_passes
        forward_a, identity_a, encoded, forward_b, cycle_b, identity_b = passes(x_a, x_b, noise)
        mu_gamma, logvar_gamma, gamma = encoded
        # Delta_B encodes the pathology that G_B removed; G_A puts it back into y_a (cycle B -> A -> B)
        label_b = forward_b.label.detach() if self.config.detach_label_in_delta else forward_b.label
        mu_delta, logvar_delta = self.gen_a.encode_pathology(label_b * x_b)
        delta_b = reparameterise(mu_delta, logvar_delta, noise.delta)
        cycle_a, _, _, _ = self.generate_a(forward_b.translated, delta_b, (noise.gamma_cycle, noise.label_cycle))
        d_fake_a, d_fake_b = (
            self.discriminate(forward_b.translated, forward_a.translated) if self.adversarial else (None, None)
        )
        return TranslationStep(
            x_a=x_a,
            x_b=x_b,
            l_a=forward_a.label,
            l_a_logit=forward_a.logit,
            p_a=forward_a.inpainting,
            y_b=forward_a.translated,
            cyc_l_b=cycle_b.label,
            cyc_l_b_logit=cycle_b.logit,
            cyc_p_b=cycle_b.inpainting,
            rec_a=cycle_b.translated,
            l_b=forward_b.label,
            l_b_logit=forward_b.logit,
            p_b=forward_b.inpainting,
            y_a=forward_b.translated,
            cyc_l_a=cycle_a.label,
            cyc_l_a_logit=cycle_a.logit,
            cyc_p_a=cycle_a.inpainting,
            rec_b=cycle_a.translated,
            idt_l_a=identity_a.label,
            idt_l_b=identity_b.label,
            mu_gamma=mu_gamma,
            logvar_gamma=logvar_gamma,
            gamma_a=gamma,
            mu_delta=mu_delta,
            logvar_delta=logvar_delta,
            delta_b=delta_b,
            delta_prior=noise.delta_prior,
            d_fake_a=d_fake_a,
            d_fake_b=d_fake_b,
        )

    def _batched_passes(self, x_a: torch.Tensor, x_b: torch.Tensor, noise: StepNoise) -> tuple[Any, ...]:
        """The passes that need no Delta_B, as two calls: G_A on [x_a, x_b], G_B on [x_b, y_b, x_a]."""
        b, b2 = x_a.shape[0], x_b.shape[0]
        # G_A on the real healthy x_a (delta_B from the prior) and, for the identity loss, on x_b with delta_B = 0
        both_a, mean, logvar, gamma = self.generate_a(
            torch.cat([x_a, x_b]),
            torch.cat([noise.delta_prior, noise.delta_prior.new_zeros(b2, self.config.z)]),
            (noise.gamma, noise.label_a),
        )
        forward_a, identity_a = both_a.split([b, b2])
        # G_B on x_b (translation), on y_b (cycle A -> B -> A) and, for the identity loss, on x_a
        forward_b, cycle_b, identity_b = self.generate_b(
            torch.cat([x_b, forward_a.translated, x_a]), noise.label_b
        ).split([b2, b, b])
        return forward_a, identity_a, (mean[:b], logvar[:b], gamma[:b]), forward_b, cycle_b, identity_b

    def _separate_passes(self, x_a: torch.Tensor, x_b: torch.Tensor, noise: StepNoise) -> tuple[Any, ...]:
        """The same passes as :meth:`_batched_passes`, one call each, with the same draws."""
        b, b2 = x_a.shape[0], x_b.shape[0]
        gamma_a, gamma_b = noise.gamma.split([b, b2])
        eps_forward_a, eps_identity_a = split_noise(noise.label_a, [b, b2])
        eps_forward_b, eps_cycle_b, eps_identity_b = split_noise(noise.label_b, [b2, b, b])
        forward_a, mean, logvar, gamma = self.generate_a(x_a, noise.delta_prior, (gamma_a, eps_forward_a))
        identity_a, _, _, _ = self.generate_a(
            x_b, noise.delta_prior.new_zeros(b2, self.config.z), (gamma_b, eps_identity_a)
        )
        forward_b = self.generate_b(x_b, eps_forward_b)
        cycle_b = self.generate_b(forward_a.translated, eps_cycle_b)
        identity_b = self.generate_b(x_a, eps_identity_b)
        return forward_a, identity_a, (mean, logvar, gamma), forward_b, cycle_b, identity_b

    # -- training ------------------------------------------------------------------------------------------------------
    def generator_loss(self, step: TranslationStep) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The weighted sum of the loss set's terms on ``step``, and each unweighted term for the log."""
        logs: dict[str, torch.Tensor] = {}
        total = step.x_a.new_zeros((), dtype=torch.float32)
        for term in self.terms:
            value = term(step).float()
            logs[f"G/{term.name}"] = value.detach()
            total = total + term.weight * value
        return total, logs

    def discriminator_loss(self, step: TranslationStep, accept: torch.Tensor | None = None) -> torch.Tensor:
        """Least-squares loss of both discriminators (halved, as in CycleGAN) on real images and pooled translations.

        The pools store this step's translations only where ``accept`` (0-d
        bool, default: always) is true and the translations are finite.
        """
        accept = torch.ones((), dtype=torch.bool, device=step.y_a.device) if accept is None else accept
        fake_a = self.pool_a(step.y_a, accept=accept & torch.isfinite(step.y_a).all())
        fake_b = self.pool_b(step.y_b, accept=accept & torch.isfinite(step.y_b).all())
        # real and fake images of each domain scored in one pass
        scores_a, scores_b = self.discriminate(torch.cat([step.x_a, fake_a]), torch.cat([step.x_b, fake_b]))
        return 0.5 * (
            lsgan_discriminator_loss(scores_a, step.x_a.shape[0])
            + lsgan_discriminator_loss(scores_b, step.x_b.shape[0])
        )

    def train_step(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        x_a, x_b = to_layout(batch["x_a"], self.ctx), to_layout(batch["x_b"], self.ctx)
        self.disc_a.requires_grad_(False)
        self.disc_b.requires_grad_(False)
        with autocast(self.ctx):
            forward = self.forward_step(x_a, x_b)
        forward = forward.float()
        total, logs = self.generator_loss(forward)
        logs["G/total"] = total.detach()
        logs["label/B"] = forward.l_b.detach().mean()
        finite = torch.isfinite(logs["G/total"])
        if total.requires_grad:
            finite = self.update("generators", total)
            self._average_generators()
        self._watch_collapse(torch.where(finite, logs["label/B"], torch.zeros_like(logs["label/B"])), step)
        if self.adversarial:
            self.disc_a.requires_grad_(True)
            self.disc_b.requires_grad_(True)
            with autocast(self.ctx):
                # a step whose generator update was refused leaves the pools as they are too
                loss_d = self.discriminator_loss(forward, accept=finite).float()
            self.update("discriminators", loss_d)
            logs["D/gan"] = loss_d.detach()
        return logs

    @torch.no_grad()
    def _average_generators(self) -> None:
        """ema_X <- d ema_X + (1 - d) gen_X, with d ramped up over the first steps (d_t = min(ema, (1 + t) / (10 + t)))
        so that early averages do not keep the random initialisation."""
        if self.ema_a is None or self.ema_b is None:
            return
        self.ema_updates += 1
        t = self.ema_updates
        decay = min(self.config.ema, (1 + t) / (10 + t))
        average_weights(self.ema_a, self.gen_a, decay)
        average_weights(self.ema_b, self.gen_b, decay)

    def _watch_collapse(self, label_area: torch.Tensor, step: int) -> None:
        """Every COLLAPSE_WINDOW steps (one host transfer), after a tenth of the run: a mean label map below
        ``collapse_area`` on the pathological images is a collapse to the identity, said once."""
        self.label_area_sum += label_area.float()
        if step % COLLAPSE_WINDOW or step < max(COLLAPSE_WINDOW, self.ctx.total_steps // 10):
            return
        mean = float(self.label_area_sum) / COLLAPSE_WINDOW
        self.label_area_sum.zero_()
        if mean < self.config.collapse_area and self.collapsed_at is None:
            self.collapsed_at = step
            log.warning(
                "PathoGAN collapsed to the identity at step %d: the mean label map on pathological images is %.1e "
                "(below collapse_area %.0e), nothing is marked or inpainted; segment with earlier weights "
                "(--select-by val-slices) or a shorter schedule",
                step,
                mean,
                self.config.collapse_area,
            )

    def notes(self) -> list[str]:
        if self.collapsed_at is None:
            return []
        return [
            f"training collapsed to the identity at step {self.collapsed_at}: the label maps on pathological images "
            "went empty"
        ]

    def extra_state(self) -> dict[str, Any]:
        return {**super().extra_state(), "collapsed_at": self.collapsed_at, "ema_updates": self.ema_updates}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        super().load_extra_state(state)
        found = state.get("collapsed_at")
        self.collapsed_at = int(found) if found is not None else None
        self.ema_updates = int(state.get("ema_updates", 0))

    # -- inference (eps = 0, encoder means) ----------------------------------------------------------------------------
    @torch.no_grad()
    def segment(self, images: torch.Tensor) -> torch.Tensor:
        """l_B = sigmoid(r0) of G_B: pathology probabilities (B,H,W)."""
        with autocast(self.ctx):
            r = self.eval_b(to_layout(images, self.ctx))
        return torch.sigmoid(r[:, 0].float())

    @torch.no_grad()
    def translate(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Pathological -> healthy: ``label`` l_B, ``inpainting`` p_B and ``translated`` y_A."""
        with autocast(self.ctx):
            x = to_layout(images, self.ctx)
            out = residual_translation(self.eval_b(x), x)
        return {"label": out.label.float(), "inpainting": out.inpainting.float(), "translated": out.translated.float()}

    @torch.no_grad()
    def segment_and_translate(self, images: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """One pass of G_B: the segmentation l_B (B,H,W) and the translation's images."""
        out = self.translate(images)
        return out["label"][:, 0], out

    @torch.no_grad()
    def encode_pathology(self, pathological: torch.Tensor) -> torch.Tensor:
        """delta_B = mean of Delta_B(l_B * x_B): the pathology of each image as an encoding (B, z)."""
        with autocast(self.ctx):
            x = to_layout(pathological, self.ctx)
            label = residual_translation(self.eval_b(x), x).label
            mean, _ = self.eval_a.encode_pathology(label * x)
        return mean.float()

    @torch.no_grad()
    def sample(
        self, healthy: torch.Tensor, delta: torch.Tensor | None = None, generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """New pathologies on healthy images: G_A(x_A, delta_B) with delta_B ~ N(0, I) unless given.

        ``generator`` seeds the draw (it is made on the generator's device,
        the CPU by default, then moved). ``delta`` from
        :meth:`encode_pathology` transfers a pathology between images.
        Returns ``translated`` y_B, ``label`` l_A and ``inpainting`` p_A.
        """
        if delta is None:
            device = generator.device if generator is not None else healthy.device
            delta = torch.randn(healthy.shape[0], self.config.z, generator=generator, device=device)
        with autocast(self.ctx):
            x = to_layout(healthy, self.ctx)
            gamma, _ = self.eval_a.encode_anatomy(x)
            out = residual_translation(self.eval_a.decode(gamma, delta.to(x.device, gamma.dtype)), x)
        return {"translated": out.translated.float(), "label": out.label.float(), "inpainting": out.inpainting.float()}

    @torch.no_grad()
    def preview(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """x, l, p and y of both directions, for a sample grid."""
        drawn = self.sample(batch["x_a"])
        healed = self.translate(batch["x_b"])
        return {
            "x_A (healthy)": batch["x_a"],
            "l_A": drawn["label"],
            "p_A": drawn["inpainting"],
            "y_B = G_A(x_A)": drawn["translated"],
            "x_B (pathological)": batch["x_b"],
            "l_B (segmentation)": healed["label"],
            "p_B": healed["inpainting"],
            "y_A = G_B(x_B)": healed["translated"],
        }
