"""PathoGAN's loss terms (eq. 7-15) and loss sets (eq. 16-17), one plugin each.

Each term is a factory returning ``term(step) -> scalar``, unweighted; it
reads a :class:`pathogan_bench_plugins.pathogan.PathoGANStep`. Norms are
averaged over pixels, channels and the batch (see the model's docstring).
"""

from __future__ import annotations

import torch

from pathogan_bench.hookspecs import hookimpl
from pathogan_bench.registry import Spec

#: eps in omega_1, omega_2 (eq. 11-12), as a fraction of the pixels
OMEGA_EPS = 1e-3
CLAMP = 1e-6


def gan():
    """Least-squares GAN, generator side, both directions (eq. 7): (1 - D(y))^2."""
    def term(s):
        return ((s.d_fake_a - 1) ** 2).mean() + ((s.d_fake_b - 1) ** 2).mean()
    return term


def cycle():
    """Cycle consistency, both directions (eq. 8): |G_B(G_A(x_A)) - x_A| + |G_A(G_B(x_B)) - x_B|."""
    def term(s):
        return (s.rec_a - s.x_a).abs().mean() + (s.rec_b - s.x_b).abs().mean()
    return term


def kl_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL[N(mu, exp(logvar)) || N(0, I)], averaged over latent dimensions and batch."""
    return (-0.5 * (1 + logvar - mu ** 2 - logvar.exp())).mean()


def kl():
    """KL divergence of the two encodings gamma_A and delta_B to N(0, I) (eq. 9)."""
    def term(s):
        return kl_normal(s.mu_gamma, s.logvar_gamma) + kl_normal(s.mu_delta, s.logvar_delta)
    return term


def region_mse(region: torch.Tensor, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """||region * (pred - target)||^2 / omega with omega = (sum(region) + eps) / N held constant (eq. 11-12)."""
    n = region[0].numel()
    omega = ((region.detach().flatten(1).sum(1) + OMEGA_EPS * n) / n).view(-1, 1, 1, 1)
    return ((region * (pred - target)) ** 2 / omega).mean()


def label_bce(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """-[t log p + (1 - t) log(1 - p)] with the target held constant (eq. 13)."""
    p = pred.clamp(CLAMP, 1 - CLAMP)
    t = target.detach()
    return -(t * p.log() + (1 - t) * (1 - p).log()).mean()


def vae():
    """VAE likelihood terms, both directions (eq. 10-13).

    For G_A (the VAE): outside its label map, the inpainting p_A must
    reproduce the healthy input (eq. 11, gamma's job); in the B -> A -> B
    cycle, inside the cycle label map, p~_A must reproduce the pathology of
    x_B that delta_B encoded (eq. 12); and that cycle label map must match
    G_B's label map l_B (eq. 13). The B direction mirrors it on G_B: outside
    l_B, p_B reproduces x_B; inside the A -> B -> A cycle label map, p~_B
    reproduces x_A; that label map matches l_A.
    """
    def term(s):
        a = label_bce(s.cyc_l_a, s.l_b) + region_mse(1 - s.l_a, s.p_a, s.x_a) + region_mse(s.cyc_l_a, s.cyc_p_a, s.x_b)
        b = label_bce(s.cyc_l_b, s.l_a) + region_mse(1 - s.l_b, s.p_b, s.x_b) + region_mse(s.cyc_l_b, s.cyc_p_b, s.x_a)
        return a + b
    return term


def identity():
    """Identity on the label maps (eq. 14): a generator fed its target domain changes nothing, |l_{X,x_Y}|."""
    def term(s):
        return s.idt_l_a.abs().mean() + s.idt_l_b.abs().mean()
    return term


def relevancy_one(label: torch.Tensor, x: torch.Tensor, inpainting: torch.Tensor) -> torch.Tensor:
    size_penalty = -torch.log((1 - label ** 2).clamp_min(CLAMP))
    difference = (x - inpainting).abs().mean(1, keepdim=True).detach()  # held constant (eq. 15)
    weighted = (label * difference).flatten(1).sum(1) / (label.flatten(1).sum(1) + CLAMP)
    return size_penalty.mean() - weighted.mean()


def relevancy():
    """Relevancy (eq. 15): small label maps, placed where image and inpainting differ most."""
    def term(s):
        return relevancy_one(s.l_a, s.x_a, s.p_a) + relevancy_one(s.l_b, s.x_b, s.p_b)
    return term


@hookimpl
def register_loss_terms():
    return [Spec("gan", gan), Spec("cycle", cycle), Spec("kl", kl), Spec("vae", vae), Spec("identity", identity),
            Spec("relevancy", relevancy)]


FULL = [("gan", 1.0), ("cycle", 5.0), ("vae", 1.0), ("identity", 1.0), ("relevancy", 0.5), ("kl", 0.1)]


def _without(term: str):
    return lambda: [(t, w) for t, w in FULL if t != term]


@hookimpl
def register_loss_sets():
    return [
        Spec("full", lambda: list(FULL), "The paper's objective (eq. 16-17): gan 1, cycle 5, vae 1, identity 1, relevancy 0.5, kl 0.1"),
        Spec("no-vae", _without("vae"), "full without the VAE likelihood terms"),
        Spec("no-relevancy", _without("relevancy"), "full without the relevancy term"),
        Spec("no-identity", _without("identity"), "full without the identity term"),
        Spec("cyclegan-objective", lambda: [("gan", 1.0), ("cycle", 10.0), ("identity", 5.0)],
             "CycleGAN's objective on PathoGAN's networks: gan 1, cycle 10, identity 0.5 x 10"),
    ]
