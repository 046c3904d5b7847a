"""PathoGAN (Andermatt et al. 2018): weakly supervised segmentation by translation
between healthy (A) and pathological (B) images with residual generators.

The model in one file, configured by :class:`PathoGANConfig`.

Translation (eq. 6): a residual generator Z outputs n+1 maps r; the label
map is l = sigmoid(r0 + eps) (eps ~ N(0, I) in training, 0 at test), the
inpaintings p = tanh(r1..n) and the translation y = l * p + (1 - l) * x.
G_A (healthy -> pathological) uses the VAE Z_A = E_A(Gamma_A(x), delta_B);
G_B (pathological -> healthy) uses Z_B directly. The segmentation of a
pathological image is G_B's label map l_B.

Choices where the paper is open (each follows the CycleGAN reference or the
most defensible reading):

- Optimisation: Adam, lr 2e-4, betas (0.5, 0.999) for generators and
  discriminators; constant lr for the first half of the steps, then linear
  decay to zero; generators step first, then discriminators.
- GAN loss: least squares with real -> 1 and fake -> 0 (the reference's
  LSGAN form of eq. 7); discriminators see fakes from a pool of the last 50
  translations (kept in buffers so checkpoints hold it); their loss is halved.
- Initialisation: normal(0, 0.02) weights, zero biases.
- delta_B: drawn from N(0, I) for a real healthy input and for sampling;
  in the B -> A -> B cycle it is Delta_B(l_B * x_B), reparameterised.
  Identity passes (eq. 4, 14) use delta = 0 and gamma = the encoder mean.
  At test time G_A uses the encoder mean of gamma.
- Reconstruction norms of eq. 11-12 are squared L2 (the Gaussian
  log-likelihood), averaged over pixels and channels; dividing by the
  detached omega turns each into a mean over its region. eps in omega: 1e-3.
- eq. 13 is a binary cross-entropy with the detached label map of the other
  generator as target, label maps clamped to [1e-6, 1 - 1e-6].
- Every other ||.||_1 is a mean over pixels (and channels), so the paper's
  lambdas act on per-pixel averages, as in the reference CycleGAN code.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import torch
from torch import nn

from pathogan_bench.hookspecs import hookimpl
from pathogan_bench.model import ModelContext, SegmentationModel, guarded_step, linear_decay_schedule, make_adam
from pathogan_bench.registry import Spec


@dataclass
class PathoGANConfig:
    width: float = 1.0
    z: int = 256
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    #: fraction of the steps after which the learning rate decays linearly to zero
    decay_start: float = 0.5
    pool_size: int = 50
    healthy_generator: str = "pathogan-vae"
    pathological_generator: str = "pathogan-residual"
    discriminator: str = "patchgan"
    #: std of the noise added to r0 during training (eq. 6)
    label_noise: float = 1.0


@dataclass
class PathoGANStep:
    """Every named tensor of one training step's forward pass; loss terms read these.

    A -> B -> A: ``l_a, p_a, y_b`` (G_A on the healthy x_a), then ``cyc_l_b,
    cyc_p_b, rec_a`` (G_B on y_b). B -> A -> B: ``l_b, p_b, y_a`` (G_B on the
    pathological x_b), then ``cyc_l_a, cyc_p_a, rec_b`` (G_A on y_a with
    delta = Delta_B(l_b * x_b)). Identity passes: ``idt_l_a`` (G_A on x_b),
    ``idt_l_b`` (G_B on x_a). Encodings: ``mu_gamma, logvar_gamma``
    (Gamma_A(x_a)), ``mu_delta, logvar_delta`` (Delta_B(l_b * x_b)).
    Discriminator scores of the translations: ``d_fake_a`` = D_A(y_a),
    ``d_fake_b`` = D_B(y_b). Label maps are (B,1,H,W), images (B,C,H,W).
    """

    x_a: torch.Tensor
    x_b: torch.Tensor
    l_a: torch.Tensor
    p_a: torch.Tensor
    y_b: torch.Tensor
    l_b: torch.Tensor
    p_b: torch.Tensor
    y_a: torch.Tensor
    cyc_l_b: torch.Tensor
    cyc_p_b: torch.Tensor
    rec_a: torch.Tensor
    cyc_l_a: torch.Tensor
    cyc_p_a: torch.Tensor
    rec_b: torch.Tensor
    idt_l_a: torch.Tensor
    idt_l_b: torch.Tensor
    mu_gamma: torch.Tensor
    logvar_gamma: torch.Tensor
    mu_delta: torch.Tensor
    logvar_delta: torch.Tensor
    d_fake_a: torch.Tensor
    d_fake_b: torch.Tensor
    extras: dict[str, Any] = field(default_factory=dict)


def residual_translation(r: torch.Tensor, x: torch.Tensor, noise: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
    """eq. 6: (l, p, y) from the n+1 maps r and the input x."""
    r0 = r[:, :1]
    if noise is not None:
        r0 = r0 + noise
    label = torch.sigmoid(r0)
    inpainting = torch.tanh(r[:, 1:])
    return label, inpainting, label * inpainting + (1 - label) * x


class ImagePool(nn.Module):
    """The CycleGAN history of generated images, on the device and in buffers.

    While not full, new images are stored and returned; afterwards each new
    image is, with probability 1/2, swapped for a random stored one.
    """

    def __init__(self, size: int, shape: tuple[int, ...]):
        super().__init__()
        self.size = size
        self.register_buffer("images", torch.zeros((max(size, 1),) + shape))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    def forward(self, fake: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return fake
        fake = fake.detach()
        b = fake.shape[0]
        position = self.count + torch.arange(b, device=fake.device)
        full = position >= self.size
        slot = torch.where(full, torch.randint(0, self.size, (b,), device=fake.device), position.clamp(max=self.size - 1))
        use_old = full & (torch.rand(b, device=fake.device) < 0.5)
        old = self.images[slot].to(fake.dtype)
        out = torch.where(use_old[:, None, None, None], old, fake)
        self.images[slot] = torch.where((~full | use_old)[:, None, None, None], fake, old).to(self.images.dtype)
        self.count.copy_(torch.clamp(self.count + b, max=self.size))
        return out


class PathoGAN(SegmentationModel):
    """PathoGAN: residual generators, a VAE for healthy -> pathological, PatchGAN discriminators."""

    supervision = "weak"

    def __init__(self, ctx: ModelContext, **options: Any):
        super().__init__()
        known = {f.name for f in fields(PathoGANConfig)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise TypeError(f"unknown PathoGAN option(s) {unknown}; known: {sorted(known)}")
        self.config = cfg = PathoGANConfig(**options)
        self.ctx = ctx
        registry = ctx.registry
        n = ctx.in_channels
        self.gen_a = registry.create("generator", cfg.healthy_generator, n, n + 1, ctx.image_size, width=cfg.width, z=cfg.z)
        self.gen_b = registry.create("generator", cfg.pathological_generator, n, n + 1, ctx.image_size, width=cfg.width)
        self.disc_a = registry.create("discriminator", cfg.discriminator, n, width=cfg.width)
        self.disc_b = registry.create("discriminator", cfg.discriminator, n, width=cfg.width)
        shape = (n, ctx.image_size, ctx.image_size)
        self.pool_a = ImagePool(cfg.pool_size, shape)
        self.pool_b = ImagePool(cfg.pool_size, shape)
        self.terms = tuple(ctx.loss_terms)
        self.use_gan = any(t.name == "gan" for t in self.terms)
        betas = (cfg.beta1, cfg.beta2)
        self.to(ctx.device)
        if ctx.channels_last:
            self.to(memory_format=torch.channels_last)
        self.opt_g = make_adam(list(self.gen_a.parameters()) + list(self.gen_b.parameters()), cfg.lr, betas)
        self.opt_d = make_adam(list(self.disc_a.parameters()) + list(self.disc_b.parameters()), cfg.lr, betas)
        self.sched_g = linear_decay_schedule(self.opt_g, ctx.total_steps, cfg.decay_start)
        self.sched_d = linear_decay_schedule(self.opt_d, ctx.total_steps, cfg.decay_start)

    # -- the two generators ----------------------------------------------------
    def _noise(self, like: torch.Tensor) -> torch.Tensor | None:
        if not self.training or self.config.label_noise == 0:
            return None
        return torch.randn_like(like[:, :1]) * self.config.label_noise

    def encode(self, encoder: nn.Module, x: torch.Tensor, sample: bool) -> tuple[torch.Tensor, ...]:
        mu, logvar = encoder(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if sample else mu
        return z, mu, logvar

    def g_a(self, x: torch.Tensor, delta: torch.Tensor, sample_gamma: bool) -> tuple[torch.Tensor, ...]:
        """G_A: healthy -> pathological. Returns (l, p, y, mu_gamma, logvar_gamma)."""
        gamma, mu, logvar = self.encode(self.gen_a.gamma, x, sample_gamma)
        r = self.gen_a(gamma, delta)
        return (*residual_translation(r, x, self._noise(r)), mu, logvar)

    def g_b(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """G_B: pathological -> healthy. Returns (l, p, y)."""
        r = self.gen_b(x)
        return residual_translation(r, x, self._noise(r))

    def forward_step(self, x_a: torch.Tensor, x_b: torch.Tensor) -> PathoGANStep:
        b, z = x_a.shape[0], self.config.z
        # A -> B -> A
        l_a, p_a, y_b, mu_g, lv_g = self.g_a(x_a, torch.randn(b, z, device=x_a.device, dtype=x_a.dtype), True)
        cyc_l_b, cyc_p_b, rec_a = self.g_b(y_b)
        # B -> A -> B, the removed pathology encoded by Delta_B
        l_b, p_b, y_a = self.g_b(x_b)
        delta, mu_d, lv_d = self.encode(self.gen_a.delta, l_b * x_b, True)
        cyc_l_a, cyc_p_a, rec_b, _, _ = self.g_a(y_a, delta, True)
        # identity passes: each generator fed the domain it maps to
        idt_l_a = self.g_a(x_b, torch.zeros(b, z, device=x_b.device, dtype=x_b.dtype), False)[0]
        idt_l_b = self.g_b(x_a)[0]
        d_fake_a = self.disc_a(y_a) if self.use_gan else y_a.new_zeros(())
        d_fake_b = self.disc_b(y_b) if self.use_gan else y_b.new_zeros(())
        return PathoGANStep(x_a, x_b, l_a, p_a, y_b, l_b, p_b, y_a, cyc_l_b, cyc_p_b, rec_a, cyc_l_a, cyc_p_a, rec_b,
                            idt_l_a, idt_l_b, mu_g, lv_g, mu_d, lv_d, d_fake_a, d_fake_b)

    # -- training --------------------------------------------------------------
    def _autocast(self):
        return torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.ctx.amp and self.ctx.device.type == "cuda")

    def train_step(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        x_a, x_b = batch["x_a"], batch["x_b"]
        if self.ctx.channels_last:
            x_a, x_b = x_a.contiguous(memory_format=torch.channels_last), x_b.contiguous(memory_format=torch.channels_last)
        logs: dict[str, torch.Tensor] = {}
        for disc in (self.disc_a, self.disc_b):
            disc.requires_grad_(False)
        self.opt_g.zero_grad(set_to_none=True)
        with self._autocast():
            s = self.forward_step(x_a, x_b)
            total = x_a.new_zeros((), dtype=torch.float32)
            for term in self.terms:
                value = term(s).float()
                logs[f"G/{term.name}"] = value.detach()
                total = total + term.weight * value
        total.backward()
        guarded_step(self.opt_g, total)
        logs["G/total"] = total.detach()
        if self.use_gan:
            for disc in (self.disc_a, self.disc_b):
                disc.requires_grad_(True)
            self.opt_d.zero_grad(set_to_none=True)
            with self._autocast():
                loss_d = 0.5 * (lsgan_d(self.disc_a, x_a, self.pool_a(s.y_a)) + lsgan_d(self.disc_b, x_b, self.pool_b(s.y_b)))
            loss_d = loss_d.float()
            loss_d.backward()
            guarded_step(self.opt_d, loss_d)
            logs["D/gan"] = loss_d.detach()
        self.sched_g.step()
        self.sched_d.step()
        return logs

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"generators": self.opt_g, "discriminators": self.opt_d}

    def schedulers(self) -> dict[str, Any]:
        return {"generators": self.sched_g, "discriminators": self.sched_d}

    # -- inference -------------------------------------------------------------
    @torch.no_grad()
    def segment(self, images: torch.Tensor) -> torch.Tensor:
        self.eval()
        with self._autocast():
            label = torch.sigmoid(self.gen_b(images)[:, 0])
        return label.float()

    @torch.no_grad()
    def translate(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Pathological -> healthy: the label map, the inpainting and the translated image."""
        self.eval()
        with self._autocast():
            label, inpainting, healthy = self.g_b(images)
        return {"label": label.float(), "inpainting": inpainting.float(), "translated": healthy.float()}

    @torch.no_grad()
    def sample(self, healthy: torch.Tensor, delta: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Draw new pathologies on healthy images: delta_B ~ N(0, I) unless given."""
        self.eval()
        if delta is None:
            delta = torch.randn(healthy.shape[0], self.config.z, generator=generator).to(healthy.device)
        with self._autocast():
            label, inpainting, translated, _, _ = self.g_a(healthy, delta.to(healthy.dtype), False)
        return {"label": label.float(), "inpainting": inpainting.float(), "translated": translated.float()}

    @torch.no_grad()
    def preview(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        was_training = self.training
        self.eval()
        sampled = self.sample(batch["x_a"])
        healthy = self.translate(batch["x_b"])
        self.train(was_training)
        return {"x_A (healthy)": batch["x_a"], "l_A": sampled["label"], "p_A": sampled["inpainting"],
                "y_B = G_A(x_A)": sampled["translated"], "x_B (pathological)": batch["x_b"],
                "l_B (segmentation)": healthy["label"], "p_B": healthy["inpainting"],
                "y_A = G_B(x_B)": healthy["translated"]}


def lsgan_d(disc: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Least-squares discriminator loss: real -> 1, fake -> 0."""
    return ((disc(real) - 1) ** 2).mean() + (disc(fake.detach()) ** 2).mean()


@hookimpl
def register_models():
    return [Spec("pathogan", PathoGAN, tags={"supervision": "weak"})]
