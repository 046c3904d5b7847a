"""PathoGAN's loss terms against hand-computed values on tiny tensors, and their stop-gradients."""

from __future__ import annotations

import math
from dataclasses import fields

import pytest
import torch

from pathogan_bench.engine.loss_sets import resolve_loss_set
from pathogan_bench.registry import get_registry
from pathogan_bench_plugins.models.pathogan import loss_terms as losses
from pathogan_bench_plugins.models.pathogan.step import TranslationStep as PathoGANStep

B, C, H, W, Z = 2, 2, 2, 3, 4


def logit(p: torch.Tensor) -> torch.Tensor:
    return torch.log(p) - torch.log1p(-p)


def make_step(seed: int = 0, requires_grad: bool = False) -> PathoGANStep:
    """A step of random leaf tensors of the right shapes; label maps strictly inside (0, 1).

    With ``requires_grad`` every tensor but the input images x_a, x_b is a leaf that records its gradient.
    """
    g = torch.Generator().manual_seed(seed)
    values = {}
    for f in fields(PathoGANStep):
        if f.name == "extras":
            continue
        if f.name.endswith("_logit"):
            continue
        if f.name.startswith(("mu_", "logvar_", "gamma", "delta")):
            shape = (B, Z)
            value = torch.randn(shape, generator=g)
        elif f.name.startswith("d_fake"):
            value = torch.randn((B, 1, 2, 2), generator=g)
        elif "l_" in f.name and not f.name.startswith(("p_", "rec_", "x_", "y_")):
            value = torch.rand((B, 1, H, W), generator=g) * 0.9 + 0.05
        else:
            value = torch.rand((B, C, H, W), generator=g) * 2 - 1
        values[f.name] = value
    for name in ("l_a", "l_b", "cyc_l_a", "cyc_l_b"):
        values[f"{name}_logit"] = logit(values[name])
    if requires_grad:
        values = {k: v if k in ("x_a", "x_b") else v.requires_grad_() for k, v in values.items()}
    return PathoGANStep(**values)


def per_pixel_sum(t: torch.Tensor) -> torch.Tensor:
    return t.sum(dim=(1, 2, 3))


# -- values ------------------------------------------------------------------------------------------------------------


def test_gan_generator_side():
    s = make_step()
    s.d_fake_a = torch.full((B, 1, 2, 2), 0.25)
    s.d_fake_b = torch.tensor([0.0, 1.0]).view(2, 1, 1, 1).expand(B, 1, 2, 2)
    # (1 - 0.25)^2 + mean of (1 - 0)^2 and (1 - 1)^2
    assert losses.gan()(s).item() == pytest.approx(0.5625 + 0.5)


def test_gan_needs_discriminator_scores():
    s = make_step()
    s.d_fake_a = None
    with pytest.raises(ValueError, match="discriminator scores"):
        losses.gan()(s)


def test_cycle_is_the_mean_absolute_error_of_both_cycles():
    s = make_step()
    s.rec_a = s.x_a + 0.5
    s.rec_b = s.x_b - 0.25
    assert losses.cycle()(s).item() == pytest.approx(0.75)


def test_kl_of_known_gaussians():
    s = make_step()
    s.mu_gamma, s.logvar_gamma = torch.zeros(B, Z), torch.zeros(B, Z)  # N(0, 1): KL 0
    s.mu_delta, s.logvar_delta = torch.ones(B, Z), torch.full((B, Z), math.log(2.0))
    # KL[N(1, 2) || N(0, 1)] = 0.5 (2 + 1 - 1 - log 2) per dimension
    assert losses.kl()(s).item() == pytest.approx(0.5 * (2 - math.log(2)))


def test_vae_term_by_hand():
    s = make_step(3)
    eps = losses.OMEGA_EPS
    n = H * W

    def bce(pred, target):
        return -(target * torch.log(pred) + (1 - target) * torch.log(1 - pred)).mean()

    def region_error(region, pred, target):
        total = 0.0
        for i in range(B):
            omega = (region[i].sum() + eps) / n
            total += ((region[i] * (pred[i] - target[i])) ** 2).mean() / omega
        return total / B

    expected = (
        bce(s.cyc_l_a, s.l_b)
        + region_error(1 - s.l_a, s.p_a, s.x_a)
        + region_error(s.cyc_l_a, s.cyc_p_a, s.x_b)
        + bce(s.cyc_l_b, s.l_a)
        + region_error(1 - s.l_b, s.p_b, s.x_b)
        + region_error(s.cyc_l_b, s.cyc_p_b, s.x_a)
    )
    assert losses.vae()(s).item() == pytest.approx(float(expected), rel=1e-5)


def test_region_error_is_a_mean_over_the_region():
    region = torch.zeros(1, 1, 4, 4)
    region[..., :2, :] = 1  # 8 pixels
    pred, target = torch.zeros(1, 1, 4, 4), torch.full((1, 1, 4, 4), 2.0)
    # squared error 4 on each of the 8 region pixels, divided by (8 + eps)
    assert losses.region_squared_error(region, pred, target, omega_eps=0.0).item() == pytest.approx(4.0)
    assert losses.region_squared_error(region, pred, target).item() == pytest.approx(32 / (8 + losses.OMEGA_EPS))


def test_identity_is_the_mean_of_the_wrong_input_label_maps():
    s = make_step()
    s.idt_l_a = torch.full((B, 1, H, W), 0.2)
    s.idt_l_b = torch.zeros(B, 1, H, W)
    s.idt_l_b[0, 0, 0, 0] = 0.6
    assert losses.identity()(s).item() == pytest.approx(0.2 + 0.6 / (B * H * W))


def test_relevancy_by_hand():
    s = make_step(5)

    def one(label, x, p):
        penalty = (-torch.log(1 - label**2)).mean()
        diff = (x - p).abs().mean(dim=1, keepdim=True)
        ratio = (per_pixel_sum(label * diff) / per_pixel_sum(label)).mean()
        return penalty - ratio

    expected = one(s.l_a, s.x_a, s.p_a) + one(s.l_b, s.x_b, s.p_b)
    assert losses.relevancy()(s).item() == pytest.approx(float(expected), rel=1e-5)


def test_relevancy_size_penalty_from_logits_is_stable():
    big = torch.tensor([60.0, -60.0, 0.0])
    penalty = losses.size_penalty(big)
    assert torch.isfinite(penalty).all()
    assert penalty[2].item() == pytest.approx(-math.log(0.75))
    assert penalty[1].item() == pytest.approx(0.0, abs=1e-12)


# -- stop-gradients ----------------------------------------------------------------------------------------------------


def test_omega_is_held_constant():
    region = (torch.rand(1, 1, 3, 3) * 0.8 + 0.1).requires_grad_()
    pred, target = torch.randn(1, 2, 3, 3), torch.randn(1, 2, 3, 3)
    losses.region_squared_error(region, pred, target).backward()
    # d/dregion of mean_c,pixels((region (pred - target))^2) / omega with omega constant
    omega = (region.detach().sum() + losses.OMEGA_EPS) / 9
    expected = (2 * region.detach() * (pred - target) ** 2).sum(dim=1, keepdim=True) / (2 * 9) / omega
    assert torch.allclose(region.grad, expected, atol=1e-6)


def test_label_target_of_eq13_is_constant():
    logit_ = torch.randn(2, 1, 3, 3, requires_grad=True)
    target = torch.rand(2, 1, 3, 3, requires_grad=True)
    losses.label_likelihood(logit_, target).backward()
    assert target.grad is None and logit_.grad.abs().sum() > 0


def test_vae_term_does_not_train_through_its_targets():
    s = make_step(requires_grad=True)
    losses.vae()(s).backward()
    # l_b is G_A's target (eq. 13, constant) and the region of G_B's eq. 11: only the latter gives it a gradient
    l_b = s.l_b.detach().requires_grad_()
    losses.region_squared_error(1 - l_b, s.p_b.detach(), s.x_b.detach()).backward()
    assert torch.allclose(s.l_b.grad, l_b.grad, atol=1e-7)
    for name in ("rec_a", "rec_b", "y_a", "y_b", "idt_l_a", "mu_gamma"):
        assert getattr(s, name).grad is None, name
    for name in ("cyc_l_a_logit", "cyc_p_a", "p_a", "cyc_l_b_logit", "cyc_p_b", "p_b", "cyc_l_a", "l_a"):
        assert getattr(s, name).grad.abs().sum() > 0, name


def test_relevancy_holds_the_difference_constant():
    s = make_step(requires_grad=True)
    losses.relevancy()(s).backward()
    for name in ("p_a", "p_b"):
        assert getattr(s, name).grad is None, name
    for name in ("l_a", "l_a_logit", "l_b", "l_b_logit"):
        assert getattr(s, name).grad.abs().sum() > 0, name


def test_terms_read_only_their_own_tensors():
    reads = {
        "gan": {"d_fake_a", "d_fake_b"},
        "cycle": {"rec_a", "rec_b"},
        "kl": {"mu_gamma", "logvar_gamma", "mu_delta", "logvar_delta"},
        "identity": {"idt_l_a", "idt_l_b"},
    }
    for name, expected in reads.items():
        s = make_step(requires_grad=True)
        getattr(losses, name)()(s).backward()
        touched = {
            f.name for f in fields(s) if f.name not in ("extras", "x_a", "x_b") and getattr(s, f.name).grad is not None
        }
        assert touched == expected, name


# -- registry ----------------------------------------------------------------------------------------------------------


def test_terms_and_sets_by_name():
    registry = get_registry()
    assert {"gan", "cycle", "kl", "vae", "identity", "relevancy"} <= set(registry.names("loss-term"))
    s = make_step()
    for name in ("gan", "cycle", "kl", "vae", "identity", "relevancy"):
        value = registry.create("loss-term", name)(s)
        assert value.ndim == 0 and torch.isfinite(value)
    full = dict(registry.create("loss-set", "full"))
    assert full == {"gan": 1.0, "cycle": 5.0, "vae": 1.0, "identity": 1.0, "relevancy": 0.5, "kl": 0.1}
    for ablation, missing in (("no-vae", "vae"), ("no-relevancy", "relevancy"), ("no-identity", "identity")):
        assert dict(registry.create("loss-set", ablation)) == {k: v for k, v in full.items() if k != missing}
    assert dict(registry.create("loss-set", "cyclegan-objective")) == {"gan": 1.0, "cycle": 10.0, "identity": 5.0}


def test_resolved_full_set_sums_to_the_weighted_objective():
    terms = resolve_loss_set(get_registry(), "full")
    s = make_step(7)
    total = sum(t.weight * t(s) for t in terms)
    expected = (
        losses.gan()(s)
        + 5 * losses.cycle()(s)
        + losses.vae()(s)
        + losses.identity()(s)
        + 0.5 * losses.relevancy()(s)
        + 0.1 * losses.kl()(s)
    )
    assert total.item() == pytest.approx(expected.item(), rel=1e-6)


def test_kl_sum_is_the_literal_eq_9_z_times_the_mean():
    step = make_step(seed=3)
    z = step.mu_gamma.shape[-1]
    assert torch.allclose(losses.kl_sum()(step), z * losses.kl()(step))
