"""The loss-term contract of PathoGAN: every named tensor of one training step's forward pass.

A loss term (a ``loss-term`` plugin) is a callable ``term(step: TranslationStep) -> 0-d tensor``; PathoGAN
builds the step in ``PathoGAN.forward_step``, calls each term of the run's loss set on it, weights and sums them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

import torch


@dataclass
class TranslationStep:
    """Every named tensor of one training step's forward pass of a residual translation model (PathoGAN).

    This is the contract between such a model and its loss terms: a loss
    term is a callable ``term(step: TranslationStep) -> 0-d tensor``.

    Images are (B,C,H,W), label maps and their logits (B,1,H,W), encodings
    (B,z). ``*_logit`` is the label map's pre-sigmoid value r0 + eps.

    A -> B -> A, from a real healthy x_a:
        ``l_a, p_a, y_b``: G_A(x_a, delta_prior), delta_prior ~ N(0, I);
        ``cyc_l_b, cyc_p_b, rec_a``: G_B(y_b) (l~_B, p~_B, x~_A).
    B -> A -> B, from a real pathological x_b:
        ``l_b, p_b, y_a``: G_B(x_b);
        ``cyc_l_a, cyc_p_a, rec_b``: G_A(y_a, delta_b) (l~_A, p~_A, x~_B).
    Identity passes (eq. 14):
        ``idt_l_a``: label map of G_A(x_b, 0); ``idt_l_b``: of G_B(x_a).
    Encodings:
        ``mu_gamma, logvar_gamma, gamma_a``: Gamma_A(x_a), and the drawn gamma_A;
        ``mu_delta, logvar_delta, delta_b``: Delta_B(l_b * x_b), and the drawn delta_B.
    Discriminator scores (None when the loss set has no ``gan`` term):
        ``d_fake_a`` = D_A(y_a), ``d_fake_b`` = D_B(y_b).
    ``extras``: free room for experiments that add tensors.
    """

    x_a: torch.Tensor
    x_b: torch.Tensor
    l_a: torch.Tensor
    l_a_logit: torch.Tensor
    p_a: torch.Tensor
    y_b: torch.Tensor
    cyc_l_b: torch.Tensor
    cyc_l_b_logit: torch.Tensor
    cyc_p_b: torch.Tensor
    rec_a: torch.Tensor
    l_b: torch.Tensor
    l_b_logit: torch.Tensor
    p_b: torch.Tensor
    y_a: torch.Tensor
    cyc_l_a: torch.Tensor
    cyc_l_a_logit: torch.Tensor
    cyc_p_a: torch.Tensor
    rec_b: torch.Tensor
    idt_l_a: torch.Tensor
    idt_l_b: torch.Tensor
    mu_gamma: torch.Tensor
    logvar_gamma: torch.Tensor
    gamma_a: torch.Tensor
    mu_delta: torch.Tensor
    logvar_delta: torch.Tensor
    delta_b: torch.Tensor
    delta_prior: torch.Tensor
    d_fake_a: torch.Tensor | None = None
    d_fake_b: torch.Tensor | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def float(self) -> TranslationStep:
        """The same step with every floating tensor in float32 (differentiable casts)."""
        changes = {
            f.name: getattr(self, f.name).float()
            for f in fields(self)
            if isinstance(getattr(self, f.name), torch.Tensor) and getattr(self, f.name).is_floating_point()
        }
        return replace(self, **changes)
