"""PathoGAN's loss terms (eq. 7-15) and loss sets (eq. 16-17), one plugin each.

Each term factory returns ``term(step) -> 0-d tensor``, unweighted; ``step``
is a :class:`~pathogan_bench_plugins.models.pathogan.step.TranslationStep` (fields ``x_a``,
``l_a``, ``p_a``, ``y_b``, ``cyc_l_a``, ... documented there). The model
multiplies each term by its weight from the loss set and sums them.

Normalisation. The paper writes per-image norms ||.||_1 and a sum over the N
pixels divided by N. Every term here is a *mean* over the elements it
covers (pixels, channels and the batch; patches for the discriminator
scores; latent dimensions for the KL), and the two directions A -> B and
B -> A are *summed* (eq. 17). This is how the CycleGAN reference code
reduces its losses, so the paper's lambdas (cycle 5, identity 1, ...) act on
per-pixel averages as they do there. Two terms are ratios, and for them a
mean and a sum give the same value: the reconstruction terms of eq. 11-12
(a squared error summed over a region divided by the region's size omega N)
and the second part of the relevancy loss (eq. 15).

Stop-gradients, as the paper states them: omega_1 and omega_2 (eq. 11-12),
the other generator's label map used as the target of eq. 13, and the
difference (x - p) in eq. 15 are held constant (detached).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from pathogan_bench.plugin import Spec, hookimpl
from pathogan_bench_plugins.shared.gan import lsgan_generator

from .step import TranslationStep

Term = Callable[[TranslationStep], torch.Tensor]

#: epsilon of omega_1, omega_2 (eq. 11-12), in pixels: an empty region weighs like one pixel
OMEGA_EPS = 1.0
#: keeps the ratio of eq. 15 finite when a label map is zero everywhere (in pixels)
RELEVANCY_EPS = 1e-6


# -- eq. 7: least-squares GAN, generator side --------------------------------------------------------------------------


def gan() -> Term:
    """Least-squares GAN, generator side, both directions (eq. 7): (1 - D_B(y_B))^2 + (1 - D_A(y_A))^2.

    The discriminators' side, (D(x) - 1)^2 + D(pooled y)^2, is optimised by
    the model, which runs it whenever ``gan`` is in the loss set.
    """

    def term(step: TranslationStep) -> torch.Tensor:
        if step.d_fake_a is None or step.d_fake_b is None:
            raise ValueError("the gan term needs discriminator scores d_fake_a and d_fake_b in the step")
        return lsgan_generator(step.d_fake_b) + lsgan_generator(step.d_fake_a)

    return term


# -- eq. 8: cycle consistency ------------------------------------------------------------------------------------------


def cycle() -> Term:
    """Cycle consistency, both directions (eq. 8): mean |x~_A - x_A| + mean |x~_B - x_B|."""

    def term(step: TranslationStep) -> torch.Tensor:
        return (step.rec_a - step.x_a).abs().mean() + (step.rec_b - step.x_b).abs().mean()

    return term


# -- eq. 9: KL divergence of the two encodings -------------------------------------------------------------------------


def kl_to_standard_normal(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL[N(mean, exp(logvar)) || N(0, I)], averaged over latent dimensions and batch.

    The KL of the whole distribution is z times this (its sum over
    dimensions): ``--loss kl=25.6`` reproduces lambda_KL = 0.1 on sums at z = 256.
    """
    return (0.5 * (mean**2 + logvar.exp() - 1 - logvar)).mean()


def kl() -> Term:
    """KL divergence of gamma_A = Gamma_A(x_A) and delta_B = Delta_B(l_B * x_B) to N(0, I) (eq. 9), mean over dimensions."""

    def term(step: TranslationStep) -> torch.Tensor:
        return kl_to_standard_normal(step.mu_gamma, step.logvar_gamma) + kl_to_standard_normal(
            step.mu_delta, step.logvar_delta
        )

    return term


def kl_sum() -> Term:
    """eq. 9 literally: the KL of each whole encoding (summed over its latent dimensions), averaged over the batch."""

    def term(step: TranslationStep) -> torch.Tensor:
        z = step.mu_gamma.shape[-1]
        return z * (
            kl_to_standard_normal(step.mu_gamma, step.logvar_gamma)
            + kl_to_standard_normal(step.mu_delta, step.logvar_delta)
        )

    return term


# -- eq. 10-13: VAE likelihood terms -----------------------------------------------------------------------------------


def region_squared_error(
    region: torch.Tensor, prediction: torch.Tensor, target: torch.Tensor, omega_eps: float = OMEGA_EPS
) -> torch.Tensor:
    """eq. 11-12: mean over pixels of (region * (prediction - target))^2 / omega.

    omega = (sum(region) + eps) / N per image, held constant, so each image
    contributes its squared error summed over the region divided by the
    region's size. ``region`` is (B,1,H,W), images (B,C,H,W); averaged over
    channels and batch.
    """
    pixels = region.shape[-1] * region.shape[-2]
    omega = (region.detach().sum(dim=(1, 2, 3), keepdim=True) + omega_eps) / pixels
    return ((region * (prediction - target)) ** 2 / omega).mean()


def label_likelihood(logit: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """eq. 13, negated: binary cross-entropy of a label map against the detached target map.

    Computed from the label map's logit (r0 + eps), which is exact and
    needs no clamping; the label map itself is sigmoid(logit).
    """
    return F.binary_cross_entropy_with_logits(logit, target.detach())


def vae(omega_eps: float = OMEGA_EPS) -> Term:
    """VAE likelihood terms (eq. 10-13) for both directions.

    Direction A -> B (G_A, the VAE):

    - eq. 13: the label map l~_A of G_A in the cycle B -> A -> B must match
      G_B's label map l_B (detached): G_A puts the pathology back where G_B
      removed it;
    - eq. 11: outside its label map, G_A's inpainting p_A on the healthy x_A
      must reproduce x_A (gamma_A's job): region 1 - l_A;
    - eq. 12: inside l~_A, the cycle inpainting p~_A must reproduce the
      pathology of x_B that Delta_B encoded in delta_B: region l~_A.

    Direction B -> A ("we use L_VAE for both directions"): the same three
    likelihoods on G_B's outputs, where G_B has no encoding and infers what
    is missing from the image: l~_B (G_B on y_B in the cycle A -> B -> A)
    must match l_A (detached); outside l_B, p_B must reproduce x_B; inside
    l~_B, p~_B must reproduce x_A.
    """

    def direction(cycle_logit, opposite_label, label, inpainting, x, cycle_label, cycle_inpainting, other_x):
        return (
            label_likelihood(cycle_logit, opposite_label)
            + region_squared_error(1 - label, inpainting, x, omega_eps)
            + region_squared_error(cycle_label, cycle_inpainting, other_x, omega_eps)
        )

    def term(step: TranslationStep) -> torch.Tensor:
        a = direction(step.cyc_l_a_logit, step.l_b, step.l_a, step.p_a, step.x_a, step.cyc_l_a, step.cyc_p_a, step.x_b)
        b = direction(step.cyc_l_b_logit, step.l_a, step.l_b, step.p_b, step.x_b, step.cyc_l_b, step.cyc_p_b, step.x_a)
        return a + b

    return term


# -- eq. 14: identity on the label maps --------------------------------------------------------------------------------


def identity() -> Term:
    """Identity (eq. 14): a generator fed the domain it maps to changes nothing: mean |l_{A,x_B}| + mean |l_{B,x_A}|."""

    def term(step: TranslationStep) -> torch.Tensor:
        return step.idt_l_a.abs().mean() + step.idt_l_b.abs().mean()

    return term


# -- eq. 15: relevancy -------------------------------------------------------------------------------------------------


def size_penalty(logit: torch.Tensor) -> torch.Tensor:
    """-log(1 - l^2) for l = sigmoid(logit), from the logit: softplus(logit) - log(1 + l)."""
    return F.softplus(logit) - torch.log1p(torch.sigmoid(logit))


def relevancy_one(label: torch.Tensor, logit: torch.Tensor, x: torch.Tensor, inpainting: torch.Tensor) -> torch.Tensor:
    """eq. 15 for one direction: mean -log(1 - l^2) - sum(l |x - p|) / sum(l), with (x - p) constant.

    |x - p| is averaged over channels; the ratio is taken per image, then
    averaged over the batch.
    """
    difference = (x - inpainting).detach().abs().mean(dim=1, keepdim=True)
    attention = (label * difference).sum(dim=(1, 2, 3)) / (label.sum(dim=(1, 2, 3)) + RELEVANCY_EPS)
    return size_penalty(logit).mean() - attention.mean()


def relevancy() -> Term:
    """Relevancy (eq. 15), both directions: small label maps, placed where image and inpainting differ most."""

    def term(step: TranslationStep) -> torch.Tensor:
        return relevancy_one(step.l_a, step.l_a_logit, step.x_a, step.p_a) + relevancy_one(
            step.l_b, step.l_b_logit, step.x_b, step.p_b
        )

    return term


@hookimpl
def register_loss_terms():
    return [
        Spec("gan", gan, "Least-squares GAN, generator side, both directions (eq. 7)"),
        Spec("cycle", cycle, "Cycle consistency, L1, both directions (eq. 8)"),
        Spec("kl", kl, "KL of the encodings gamma_A and delta_B to N(0, I) (eq. 9), mean over latent dimensions"),
        Spec("kl-sum", kl_sum, "KL of the encodings to N(0, I) summed over latent dimensions (eq. 9 literally)"),
        Spec("vae", vae, "VAE likelihoods of label maps and inpaintings, both directions (eq. 10-13)"),
        Spec("identity", identity, "Label maps of wrong-domain inputs are zero (eq. 14)"),
        Spec("relevancy", relevancy, "Small label maps where image and inpainting differ (eq. 15)"),
    ]


#: eq. 16-17 with the paper's lambdas (section 3)
FULL: tuple[tuple[str, float], ...] = (
    ("gan", 1.0),
    ("cycle", 5.0),
    ("vae", 1.0),
    ("identity", 1.0),
    ("relevancy", 0.5),
    ("kl", 0.1),
)

#: CycleGAN's objective: cycle 10 and identity 0.5 x 10; identity is eq. 14's label-map form
CYCLEGAN_OBJECTIVE: tuple[tuple[str, float], ...] = (("gan", 1.0), ("cycle", 10.0), ("identity", 5.0))


def full_without(term: str) -> Callable[[], list[tuple[str, float]]]:
    def pairs() -> list[tuple[str, float]]:
        return [(t, w) for t, w in FULL if t != term]

    pairs.__doc__ = f"The full objective without the {term} term."
    return pairs


@hookimpl
def register_loss_sets():
    return [
        Spec(
            "full",
            lambda: list(FULL),
            "The paper's objective (eq. 16-17): gan 1, cycle 5, vae 1, identity 1, relevancy 0.5, kl 0.1",
        ),
        Spec("no-vae", full_without("vae"), "full without the VAE likelihood terms (eq. 10-13)"),
        Spec("no-relevancy", full_without("relevancy"), "full without the relevancy term (eq. 15)"),
        Spec("no-identity", full_without("identity"), "full without the identity term (eq. 14)"),
        Spec(
            "cyclegan-objective",
            lambda: list(CYCLEGAN_OBJECTIVE),
            "CycleGAN's objective on PathoGAN's networks: gan 1, cycle 10, identity 5",
        ),
    ]
