"""PathoGAN's ablation options, at 1/8 width on 32 px images."""

from __future__ import annotations

import pytest
import torch
from test_pathogan import make_batch
from test_pathogan import make_model as tiny_pathogan

from pathogan_bench.contracts.model import config_from_options
from pathogan_bench.errors import UserError
from pathogan_bench_plugins.models.pathogan.config import PathoGANConfig
from pathogan_bench_plugins.models.pathogan.model import PathoGAN


def make_model(**options) -> PathoGAN:
    """A tiny PathoGAN with the full loss set, its weights drawn from seed 0."""
    torch.manual_seed(0)
    return tiny_pathogan(total_steps=10, **options)


def parse_options(options: dict) -> PathoGANConfig:
    return config_from_options(PathoGANConfig, options, "pathogan")


def forward(model: PathoGAN, seed: int = 1):
    """The training forward pass of the batch of seed 0, with eps and encodings drawn from ``seed``."""
    batch = make_batch()
    torch.manual_seed(seed)
    return model.forward_step(batch["x_a"], batch["x_b"])


def cycle_b_grads(model: PathoGAN) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The B -> A -> B cycle loss mean |x~_B - x_B| and the gradient it gives each generator parameter."""
    model.zero_grad(set_to_none=True)
    step = forward(model)
    loss = (step.rec_b - step.x_b).abs().mean()
    loss.backward()
    grads = {
        name: (p.grad.clone() if p.grad is not None else torch.zeros_like(p))
        for name, p in model.named_parameters()
        if name.startswith(("gen_a.", "gen_b."))
    }
    return loss.detach(), grads


def test_detach_label_in_delta_is_off_by_default_and_checked():
    assert PathoGANConfig().detach_label_in_delta is False
    assert parse_options({"detach_label_in_delta": True}).detach_label_in_delta is True
    with pytest.raises(UserError, match="detach_label_in_delta"):
        parse_options({"detach_label_in_delta": "yes"})


def test_detached_label_cuts_the_delta_encoding_off_g_b():
    for detach in (False, True):
        model = make_model(detach_label_in_delta=detach)
        step = forward(model)
        encoding = step.mu_delta.sum() + step.logvar_delta.sum()
        params = list(model.gen_b.parameters())
        # step.l_b is the label map Delta_B's input is made from (sigmoid of G_B's label logit)
        grads = torch.autograd.grad(encoding, [step.l_b, *params], retain_graph=True, allow_unused=True)
        through_gb = sum(float(g.abs().sum()) for g in grads[1:] if g is not None)
        if detach:
            assert all(g is None for g in grads), "delta_B's encoding still depends on G_B"
        else:
            assert grads[0] is not None and float(grads[0].abs().sum()) > 0
            assert through_gb > 0
        # the encoder of the pathology is trained either way
        encoder = torch.autograd.grad(encoding, list(model.gen_a.pathology_encoder.parameters()), allow_unused=True)
        assert all(g is not None for g in encoder) and sum(float(g.abs().sum()) for g in encoder) > 0


@pytest.mark.slow
def test_detached_label_changes_only_g_b_gradients_of_the_cycle():
    plain, held = make_model(), make_model(detach_label_in_delta=True)
    assert all(torch.equal(v, held.state_dict()[k]) for k, v in plain.state_dict().items())
    loss_plain, grads_plain = cycle_b_grads(plain)
    loss_held, grads_held = cycle_b_grads(held)
    assert torch.equal(loss_plain, loss_held)  # the option changes gradients, never values
    # G_A's gradients do not pass through l_B; G_B's lose the part that reaches it through Delta_B(l_B * x_B)
    for name, g in grads_plain.items():
        if name.startswith("gen_a."):
            assert torch.allclose(g, grads_held[name], rtol=1e-5, atol=1e-8), name
    gen_b = [n for n in grads_plain if n.startswith("gen_b.")]
    difference = sum(float((grads_plain[n] - grads_held[n]).abs().sum()) for n in gen_b)
    assert difference > 1e-6 * sum(float(grads_plain[n].abs().sum()) for n in gen_b)
    # what G_B still receives comes through its translation y_A alone
    assert sum(float(grads_held[n].abs().sum()) for n in gen_b) > 0


def test_detached_label_trains_with_the_same_first_losses():
    batch = make_batch()
    logs = []
    for detach in (False, True):
        model = make_model(detach_label_in_delta=detach)
        torch.manual_seed(2)
        first = model.train_step(batch, 0)
        second = model.train_step(make_batch(1), 1)
        assert all(torch.isfinite(v) for v in (*first.values(), *second.values()))
        logs.append(first)
    assert logs[0].keys() == logs[1].keys()
    assert all(torch.equal(logs[0][k], logs[1][k]) for k in logs[0])
