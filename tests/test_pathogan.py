"""The PathoGAN model at 1/8 width on 32 px images."""

from __future__ import annotations

from dataclasses import fields

import pytest
import torch

from pathogan_bench.contracts.loss import WeightedTerm
from pathogan_bench.contracts.model import ModelContext, config_from_options
from pathogan_bench.engine.loss_sets import resolve_loss_set
from pathogan_bench.errors import ModelOptionsError
from pathogan_bench.registry import get_registry
from pathogan_bench_plugins.models.pathogan.config import PathoGANConfig
from pathogan_bench_plugins.models.pathogan.model import PathoGAN
from pathogan_bench_plugins.models.pathogan.step import TranslationStep as PathoGANStep
from pathogan_bench_plugins.models.pathogan.translation import residual_translation
from pathogan_bench_plugins.shared.gan import ImagePool

SIZE, CHANNELS, BATCH, Z = 32, 2, 2, 8
OPTIONS = {"width": 0.125, "z": Z}


def parse_options(options: dict) -> PathoGANConfig:
    return config_from_options(PathoGANConfig, options, "pathogan")


def make_model(
    loss_set: str = "full",
    without: tuple[str, ...] = (),
    total_steps: int = 100,
    channels_last: bool = False,
    **options,
) -> PathoGAN:
    registry = get_registry()
    terms = resolve_loss_set(registry, loss_set, without=without)
    ctx = ModelContext(
        in_channels=CHANNELS,
        image_size=SIZE,
        total_steps=total_steps,
        loss_terms=terms,
        loss_set=loss_set,
        batch_size=BATCH,
        channels_last=channels_last,
        registry=registry,
    )
    return registry.create("model", "pathogan", ctx, **{**OPTIONS, **options})


def make_batch(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x_a = torch.rand(BATCH, CHANNELS, SIZE, SIZE, generator=g) * 1.6 - 0.8
    x_b = x_a.flip(0).clone()
    x_b[:, :, 10:18, 12:20] = 0.9  # a bright "lesion"
    return {"x_a": x_a, "x_b": x_b}


@pytest.fixture(scope="module")
def model() -> PathoGAN:
    torch.manual_seed(0)
    return make_model()


def snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


# -- eq. 6 -------------------------------------------------------------------------------------------------------------


def test_translation_keeps_the_image_where_the_label_is_zero():
    x = torch.rand(2, 3, 4, 4) * 2 - 1
    r = torch.randn(2, 4, 4, 4)
    r[:, 0, :2] = -1e4  # l = 0 exactly
    r[:, 0, 2:] = 1e4  # l = 1 exactly
    out = residual_translation(r, x)
    assert torch.equal(out.label[:, 0, :2], torch.zeros(2, 2, 4))
    assert torch.equal(out.translated[:, :, :2], x[:, :, :2])
    assert torch.equal(out.translated[:, :, 2:], torch.tanh(r[:, 1:, 2:]))
    assert torch.equal(out.inpainting, torch.tanh(r[:, 1:]))


def test_label_noise_shifts_the_logit():
    r, x = torch.zeros(1, 2, 3, 3), torch.zeros(1, 1, 3, 3)
    noise = torch.full((1, 1, 3, 3), 2.0)
    out = residual_translation(r, x, noise)
    assert torch.allclose(out.label, torch.sigmoid(torch.tensor(2.0)).expand(1, 1, 3, 3))
    assert torch.equal(out.logit, noise)


# -- construction and the step object ----------------------------------------------------------------------------------


def test_networks_come_from_the_registry_by_name():
    m = make_model(generator_b="resnet9")
    assert type(m.gen_b).__name__ == "ResnetGenerator"
    with pytest.raises(ModelOptionsError, match="VAE methods"):
        make_model(generator_a="pathogan-residual")
    with pytest.raises(ModelOptionsError, match="unknown pathogan option.*did you mean width"):
        make_model(widht=0.5)


def test_config_accepts_betas_as_a_list():
    assert parse_options({"betas": [0.5, 0.99]}).betas == (0.5, 0.99)


def test_forward_step_holds_every_tensor(model):
    batch = make_batch()
    with torch.no_grad():
        s = model.forward_step(batch["x_a"], batch["x_b"])
    images = (BATCH, CHANNELS, SIZE, SIZE)
    maps = (BATCH, 1, SIZE, SIZE)
    for f in fields(PathoGANStep):
        value = getattr(s, f.name)
        if f.name == "extras":
            continue
        if f.name.startswith(("x_", "p_", "y_", "rec_", "cyc_p_")):
            assert value.shape == images, f.name
        elif f.name.startswith(("l_", "cyc_l_", "idt_l_")):
            assert value.shape == maps, f.name
            if not f.name.endswith("_logit"):
                assert 0 <= value.min() and value.max() <= 1, f.name
        elif f.name.startswith(("mu_", "logvar_", "gamma_", "delta_")):
            assert value.shape == (BATCH, Z), f.name
        else:
            assert value.shape[:2] == (BATCH, 1), f.name
    # y = l p + (1 - l) x in every pass
    assert torch.allclose(s.y_b, s.l_a * s.p_a + (1 - s.l_a) * s.x_a)
    assert torch.allclose(s.rec_b, s.cyc_l_a * s.cyc_p_a + (1 - s.cyc_l_a) * s.y_a)


def test_no_discriminator_scores_without_the_gan_term():
    m = make_model(without=("gan",))
    batch = make_batch()
    with torch.no_grad():
        s = m.forward_step(batch["x_a"], batch["x_b"])
    assert s.d_fake_a is None and s.d_fake_b is None
    before = snapshot(m.disc_a)
    logs = m.train_step(batch, 0)
    assert "D/gan" not in logs and "G/gan" not in logs
    assert all(torch.equal(before[k], v) for k, v in m.disc_a.state_dict().items())


def test_pathology_encoder_is_trained_through_the_cycle():
    m = make_model()
    batch = make_batch()
    s = m.forward_step(batch["x_a"], batch["x_b"])
    total, _ = m.generator_loss(s)
    total.backward()
    for name, net in (
        ("Delta_B", m.gen_a.pathology_encoder),
        ("Gamma_A", m.gen_a.anatomy_encoder),
        ("E_A", m.gen_a.decoder),
        ("Z_B", m.gen_b),
    ):
        grads = [p.grad for p in net.parameters()]
        assert all(g is not None for g in grads) and sum(g.abs().sum() for g in grads) > 0, name


# -- training ----------------------------------------------------------------------------------------------------------


def test_train_step_logs_detached_scalars_per_term(model):
    logs = model.train_step(make_batch(), 0)
    assert set(logs) == {
        "G/gan",
        "G/cycle",
        "G/vae",
        "G/identity",
        "G/relevancy",
        "G/kl",
        "G/total",
        "D/gan",
        "label/B",
    }
    for name, value in logs.items():
        assert value.ndim == 0 and not value.requires_grad and torch.isfinite(value), name
    weights = {t.name: t.weight for t in model.terms}
    expected = sum(weights[k[2:]] * v for k, v in logs.items() if k.startswith("G/") and k != "G/total")
    assert logs["G/total"].item() == pytest.approx(expected.item(), rel=1e-5)


def evaluate_objective(m: PathoGAN, batch: dict[str, torch.Tensor], seed: int = 123) -> float:
    """The generator objective with fixed draws of eps and the encodings."""
    with torch.no_grad():
        torch.manual_seed(seed)
        total, _ = m.generator_loss(m.forward_step(batch["x_a"], batch["x_b"]))
    return total.item()


@pytest.mark.slow
def test_a_few_steps_reduce_the_generator_objective():
    torch.manual_seed(1)
    m = make_model(without=("gan",))
    batch = make_batch()
    before = evaluate_objective(m, batch)
    for step in range(5):
        m.train_step(batch, step)
    assert evaluate_objective(m, batch) < before


def test_full_objective_trains_both_players():
    torch.manual_seed(2)
    m = make_model()
    gen, disc = snapshot(m.gen_b), snapshot(m.disc_a)
    m.train_step(make_batch(), 0)
    assert any(not torch.equal(gen[k], v) for k, v in m.gen_b.state_dict().items())
    assert any(not torch.equal(disc[k], v) for k, v in m.disc_a.state_dict().items())
    assert int(m.pool_a.count) == BATCH


def test_non_finite_input_changes_nothing():
    torch.manual_seed(3)
    m = make_model()
    m.train_step(make_batch(), 0)
    before = snapshot(m)
    batch = make_batch(1)
    batch["x_b"][0, 0, 3, 4] = float("nan")
    logs = m.train_step(batch, 1)
    assert not torch.isfinite(logs["G/total"]) and not torch.isfinite(logs["D/gan"])
    after = m.state_dict()
    changed = [k for k, v in before.items() if not torch.equal(v, after[k])]
    assert changed == []
    # and training goes on normally
    logs = m.train_step(make_batch(2), 2)
    assert torch.isfinite(logs["G/total"])


@pytest.mark.slow
def test_learning_rate_is_constant_then_decays_linearly():
    m = make_model(without=("gan",), total_steps=4, decay_start=0.5)
    rates = []
    for step in range(4):
        rates.append(m.optimizers()["generators"].param_groups[0]["lr"])
        m.train_step(make_batch(), step)
    assert rates == pytest.approx([2e-4, 2e-4, 2e-4, 1e-4])
    assert set(m.optimizers()) == set(m.schedulers()) == {"generators", "discriminators"}
    assert all(g.get("fused") for opt in m.optimizers().values() for g in opt.param_groups)


@pytest.mark.slow
def test_channels_last_step_runs():
    torch.manual_seed(4)
    logs = make_model(channels_last=True).train_step(make_batch(), 0)
    assert torch.isfinite(logs["G/total"])


def test_custom_loss_term_reads_the_step():
    registry = get_registry()
    ctx = ModelContext(
        in_channels=CHANNELS,
        image_size=SIZE,
        registry=registry,
        loss_terms=(WeightedTerm("lesion-size", 2.0, lambda s: s.l_b.mean()),),
    )
    m = PathoGAN(ctx, **OPTIONS)
    logs = m.train_step(make_batch(), 0)
    assert set(logs) == {"G/lesion-size", "G/total", "label/B"}
    assert logs["G/total"].item() == pytest.approx(2 * logs["G/lesion-size"].item())


# -- inference ---------------------------------------------------------------------------------------------------------


def test_segment_is_the_deterministic_label_map_of_g_b(model):
    x_b = make_batch()["x_b"]
    seg = model.segment(x_b)
    assert seg.shape == (BATCH, SIZE, SIZE) and 0 <= seg.min() and seg.max() <= 1
    assert torch.equal(seg, model.segment(x_b))
    out = model.translate(x_b)
    assert torch.equal(out["label"][:, 0], seg)
    assert out["inpainting"].shape == out["translated"].shape == (BATCH, CHANNELS, SIZE, SIZE)
    assert torch.allclose(out["translated"], seg[:, None] * out["inpainting"] + (1 - seg[:, None]) * x_b)


def test_sample_draws_pathologies_from_the_prior(model):
    x_a = make_batch()["x_a"]
    one = model.sample(x_a, generator=torch.Generator().manual_seed(0))
    again = model.sample(x_a, generator=torch.Generator().manual_seed(0))
    other = model.sample(x_a, generator=torch.Generator().manual_seed(1))
    assert set(one) == {"translated", "label", "inpainting"}
    assert one["translated"].shape == (BATCH, CHANNELS, SIZE, SIZE) and one["label"].shape == (BATCH, 1, SIZE, SIZE)
    assert torch.equal(one["translated"], again["translated"])
    assert not torch.equal(one["translated"], other["translated"])
    delta = model.encode_pathology(make_batch()["x_b"])
    assert delta.shape == (BATCH, Z)
    transferred = model.sample(x_a, delta=delta)
    assert torch.isfinite(transferred["translated"]).all()


def test_preview_shows_both_directions(model):
    panels = model.preview(make_batch())
    assert len(panels) == 8
    assert all(v.shape[0] == BATCH and v.shape[-2:] == (SIZE, SIZE) for v in panels.values())


def test_checkpoint_holds_the_image_pools(model):
    model.train_step(make_batch(), 0)
    state = model.state_dict()
    assert {"pool_a.images", "pool_a.count", "pool_b.images", "pool_b.count"} <= set(state)
    torch.manual_seed(9)
    fresh = make_model()
    fresh.load_state_dict(state)
    assert torch.equal(fresh.pool_b.images, model.pool_b.images)
    x_b = make_batch()["x_b"]
    assert torch.equal(fresh.segment(x_b), model.segment(x_b))


# -- image pool --------------------------------------------------------------------------------------------------------


def test_image_pool_fills_then_swaps():
    torch.manual_seed(0)
    pool = ImagePool(4, (1, 2, 2))
    first, second = torch.full((2, 1, 2, 2), 1.0), torch.full((2, 1, 2, 2), 2.0)
    assert torch.equal(pool(first), first) and torch.equal(pool(second), second)
    assert int(pool.count) == 4
    assert sorted(pool.images[:, 0, 0, 0].tolist()) == [1.0, 1.0, 2.0, 2.0]
    returned_new = returned_old = 0
    for value in range(3, 40):
        stored = set(pool.images[:, 0, 0, 0].tolist())
        out = pool(torch.full((2, 1, 2, 2), float(value)))[:, 0, 0, 0].tolist()
        # each image returned is the new one or one it replaced in the pool
        assert set(out) <= stored | {float(value)}
        assert set(pool.images[:, 0, 0, 0].tolist()) <= stored | {float(value)}
        returned_new += out.count(float(value))
        returned_old += len(out) - out.count(float(value))
    assert returned_new > 15 and returned_old > 15  # about half each of 74
    assert int(pool.count) == 4


def test_image_pool_rejects_a_refused_batch():
    pool = ImagePool(4, (1, 2, 2))
    pool(torch.ones(2, 1, 2, 2))
    before = pool.images.clone()
    pool(torch.full((2, 1, 2, 2), float("nan")), accept=torch.tensor(False))
    assert torch.equal(pool.images, before) and int(pool.count) == 2
    assert torch.equal(ImagePool(0, (1, 2, 2))(before[:2]), before[:2])


def test_segment_and_translate_share_one_pass_of_g_b(model):
    images = torch.rand(2, model.ctx.in_channels, model.ctx.image_size, model.ctx.image_size) * 2 - 1
    model.eval()
    prob, out = model.segment_and_translate(images)
    assert torch.allclose(prob, model.segment(images), atol=1e-6)
    assert torch.allclose(out["translated"], model.translate(images)["translated"], atol=1e-6)


# -- batched passes ----------------------------------------------------------------------------------------------------


def first_losses(steps: int, **options) -> list[dict[str, float]]:
    torch.manual_seed(0)
    model = make_model(**options)
    out = []
    for step in range(steps):
        torch.manual_seed(100 + step)
        out.append({k: float(v) for k, v in model.train_step(make_batch(step), step).items()})
    return out


@pytest.mark.slow
@pytest.mark.parametrize(
    "options",
    [{"batched_passes": True}, {"batched_passes": True, "paired_discriminators": True}],
    ids=["batched", "batched-paired-discriminators"],
)
def test_batched_passes_give_the_losses_of_one_call_per_pass_for_20_steps(options):
    """The same objective: on one thread the two ways differ only in the order of floating-point sums."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        reference, batched = first_losses(20, batched_passes=False), first_losses(20, **options)
    finally:
        torch.set_num_threads(before)
    assert [set(step) for step in batched] == [set(step) for step in reference]
    for step, (got, expected) in enumerate(zip(batched, reference)):
        for key, value in expected.items():
            assert got[key] == pytest.approx(value, rel=1e-5, abs=1e-5), f"step {step}: {key}"
    assert batched[0] != batched[-1], "the losses must change as the model trains"


def test_paired_discriminators_score_and_train_as_two_calls():
    from pathogan_bench_plugins.shared.networks import PatchGAN, paired_patchgan

    torch.manual_seed(0)
    a, b = PatchGAN(CHANNELS, width=0.125), PatchGAN(CHANNELS, width=0.125)
    x_a, x_b = torch.randn(3, CHANNELS, SIZE, SIZE), torch.randn(3, CHANNELS, SIZE, SIZE)
    score_a, score_b = paired_patchgan(a, b, x_a, x_b)
    (score_a.square().mean() + 2 * score_b.mean()).backward()
    paired_grads = [p.grad.clone() for p in [*a.parameters(), *b.parameters()]]
    a.zero_grad(), b.zero_grad()
    expected_a, expected_b = a(x_a), b(x_b)
    (expected_a.square().mean() + 2 * expected_b.mean()).backward()
    torch.testing.assert_close(score_a, expected_a, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(score_b, expected_b, rtol=1e-5, atol=1e-6)
    for got, p in zip(paired_grads, [*a.parameters(), *b.parameters()]):
        torch.testing.assert_close(got, p.grad, rtol=1e-4, atol=1e-5)


def test_paired_discriminators_need_two_patchgans():
    from pathogan_bench.plugin import Spec, hookimpl
    from pathogan_bench.registry import Registry
    from pathogan_bench_plugins.models import pathogan as pathogan_plugin
    from pathogan_bench_plugins.shared import networks
    from pathogan_bench_plugins.shared.networks import PatchGAN, pairing_problem

    assert pairing_problem(PatchGAN(2, width=0.125), PatchGAN(2, width=0.125)) is None
    assert "same layers" in pairing_problem(PatchGAN(2, width=0.125), PatchGAN(2, width=0.25))
    assert "PatchGAN" in pairing_problem(PatchGAN(2), torch.nn.Conv2d(2, 1, 3))

    class Plain:
        @staticmethod
        @hookimpl
        def register_discriminators():
            return [Spec("plain", lambda n, width=1.0: torch.nn.Conv2d(n, 1, 3), "one convolution")]

    registry = Registry.from_plugins(pathogan_plugin, networks, Plain)
    ctx = ModelContext(in_channels=CHANNELS, image_size=SIZE, registry=registry)
    PathoGAN(ctx, **OPTIONS, discriminator="plain")  # unpaired: any discriminator
    with pytest.raises(ModelOptionsError, match="paired_discriminators = true needs two PatchGAN"):
        PathoGAN(ctx, **OPTIONS, discriminator="plain", paired_discriminators=True)


# -- the scale rules, the averaged generators, the collapse watch and the threshold rule ----------------------------


def test_the_paper_network_keeps_its_size_under_the_scale_rules():
    """At the paper's size (width 1, 240 px, four channels) the rules give back the paper's networks exactly."""
    registry = get_registry()
    ctx = ModelContext(4, 240, total_steps=10, loss_terms=resolve_loss_set(registry, "full"), registry=registry)
    paper = PathoGAN(ctx)
    nets = (paper.gen_a, paper.gen_b, paper.disc_a, paper.disc_b)
    assert sum(p.numel() for n in nets for p in n.parameters()) == 79_666_541


def test_small_images_get_a_local_discriminator_and_the_papers_bottleneck_values():
    from pathogan_bench_plugins.shared.networks import patchgan_field

    local, reference = make_model(), make_model(discriminator_field="reference", bottleneck="paper-layers")
    convs = [m for m in local.disc_a.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 2 and patchgan_field(0) / SIZE == pytest.approx(10 / 32)  # 32 px: no strided layer kept
    assert len([m for m in reference.disc_a.modules() if isinstance(m, torch.nn.Conv2d)]) == 5
    encoder = local.gen_a.anatomy_encoder.features[-1][-1]
    assert encoder.out_channels * (SIZE // 16) ** 2 >= 15**3  # the paper's C1-15 at 15 x 15
    assert local.gen_a.decoder.channels * (SIZE // 16) ** 2 >= 15**2
    assert make_model(discriminator_options={"layers": 2}).disc_a.net[2].stride == (2, 2)  # an explicit depth wins


def test_resize_upsampling_builds_and_trains():
    model = make_model(upsampling="resize")
    assert any(isinstance(m, torch.nn.Upsample) for m in model.gen_b.modules())
    logs = model.train_step(make_batch(), 0)
    assert torch.isfinite(logs["G/total"])


def test_averaged_generators_follow_training_and_serve_inference():
    torch.manual_seed(0)
    model = make_model(ema=0.9)
    assert model.ema_b is not None and not any(p.requires_grad for p in model.ema_b.parameters())
    before = snapshot(model.ema_b)
    for step in range(3):
        model.train_step(make_batch(), step)
    after = snapshot(model.ema_b)
    assert any(not torch.equal(before[k], after[k]) for k in before)
    live = dict(model.gen_b.named_parameters())
    assert any(not torch.equal(after[k], live[k].detach()) for k in live)  # an average, not a copy
    images = make_batch()["x_b"]
    with torch.no_grad():
        expected = torch.sigmoid(model.ema_b(images)[:, 0])
    assert torch.allclose(model.segment(images), expected)
    assert model.extra_state()["ema_updates"] == 3


def test_a_collapse_to_the_identity_is_seen_said_once_and_kept(caplog):
    from pathogan_bench_plugins.models.pathogan.model import COLLAPSE_WINDOW

    model = make_model(collapse_area=0.5, total_steps=10 * COLLAPSE_WINDOW)  # every map counts as empty
    with caplog.at_level("WARNING", logger="pathogan_bench"):
        for step in range(1, 2 * COLLAPSE_WINDOW + 1):
            model._watch_collapse(torch.tensor(0.01), step)
    assert model.collapsed_at == COLLAPSE_WINDOW
    assert sum("collapsed to the identity" in r.message for r in caplog.records) == 1
    assert "step 100" in model.notes()[0]
    restored = make_model()
    restored.load_extra_state(model.extra_state())
    assert restored.collapsed_at == COLLAPSE_WINDOW and make_model().notes() == []


def test_the_threshold_rule_names_the_policy_the_run_fits():
    assert make_model().threshold_rule == "slice-labels"
    assert make_model(threshold_rule="fixed").threshold_rule == ""
    with pytest.raises(Exception, match="threshold_rule"):
        make_model(threshold_rule="median")
