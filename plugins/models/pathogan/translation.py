"""The residual translation of eq. 6 and the random draws of one PathoGAN training step.

Translation (eq. 6): a residual generator Z outputs n + 1 maps r for n image
channels; the label map is l = sigmoid(r0 + eps) with eps ~ N(0, I) in
training and eps = 0 at test, the inpaintings are p = tanh(r1..n), and the
translation is y = l * p + (1 - l) * x. G_A (healthy -> pathological) uses the
VAE Z_A(x, delta_B) = E_A(Gamma_A(x), delta_B); G_B (pathological -> healthy)
uses Z_B(x) directly. The segmentation of a pathological image is G_B's label
map l_B at eps = 0. Networks are created by registry name
(``generator_a``, ``generator_b``, ``discriminator``).
"""

from __future__ import annotations

from typing import NamedTuple

import torch


class Translation(NamedTuple):
    """One residual translation (eq. 6)."""

    label: torch.Tensor  # l = sigmoid(logit), (B,1,H,W)
    logit: torch.Tensor  # r0 + eps
    inpainting: torch.Tensor  # p = tanh(r1..n), (B,n,H,W)
    translated: torch.Tensor  # y = l * p + (1 - l) * x

    def split(self, sizes: list[int]) -> list[Translation]:
        parts = [t.split(sizes) for t in self]
        return [Translation(*chunk) for chunk in zip(*parts)]


def residual_translation(r: torch.Tensor, x: torch.Tensor, noise: torch.Tensor | None = None) -> Translation:
    """eq. 6: label map, inpaintings and translation from the n + 1 maps r and the input x (``noise``: eps)."""
    logit = r[:, :1] if noise is None else r[:, :1] + noise.to(r.dtype)
    label = torch.sigmoid(logit)
    inpainting = torch.tanh(r[:, 1:])
    return Translation(label, logit, inpainting, label * inpainting + (1 - label) * x)


def reparameterise(mean: torch.Tensor, logvar: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
    """A draw from N(mean, exp(logvar)) that gradients pass through; ``noise`` is its standard normal draw."""
    noise = torch.randn_like(mean) if noise is None else noise.to(mean.dtype)
    return mean + noise * torch.exp(0.5 * logvar)


def split_noise(noise: torch.Tensor | None, sizes: list[int]) -> list[torch.Tensor | None]:
    """``noise`` cut into the draws of passes of ``sizes`` images (all None when there is no noise)."""
    return [None] * len(sizes) if noise is None else list(noise.split(sizes))


class StepNoise(NamedTuple):
    """The random draws of one training step, for b healthy and b' pathological images of H x W pixels.

    Drawn in one place and in this order, so that the passes use the same
    numbers whether they run batched or one by one. The label eps are None
    when ``label_noise`` is 0.
    """

    delta_prior: torch.Tensor  # (b, z): delta_B of G_A(x_A) in the A -> B -> A cycle
    gamma: torch.Tensor  # (b + b', z): the reparameterisation of Gamma_A(x_A), Gamma_A(x_B)
    label_a: torch.Tensor | None  # (b + b', 1, H, W): eps of G_A(x_A, delta_prior), G_A(x_B, 0)
    label_b: torch.Tensor | None  # (b' + 2b, 1, H, W): eps of G_B(x_B), G_B(y_B), G_B(x_A)
    delta: torch.Tensor  # (b', z): the reparameterisation of Delta_B(l_B * x_B)
    gamma_cycle: torch.Tensor  # (b', z): of Gamma_A(y_A)
    label_cycle: torch.Tensor | None  # (b', 1, H, W): eps of G_A(y_A, delta_B)

    @classmethod
    def draw(cls, x_a: torch.Tensor, x_b: torch.Tensor, z: int, label_noise: float) -> StepNoise:
        b, b2, (h, w), device = x_a.shape[0], x_b.shape[0], x_a.shape[-2:], x_a.device

        def eps(n: int) -> torch.Tensor | None:
            return torch.randn(n, 1, h, w, device=device) * label_noise if label_noise else None

        delta_prior = torch.randn(b, z, device=device)
        gamma = torch.randn(b + b2, z, device=device)
        label_a = eps(b + b2)
        label_b = eps(b2 + 2 * b)
        delta = torch.randn(b2, z, device=device)
        gamma_cycle = torch.randn(b2, z, device=device)
        return cls(delta_prior, gamma, label_a, label_b, delta, gamma_cycle, eps(b2))
