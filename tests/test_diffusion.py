"""The diffusion baselines: supervision by construction, reproducible sampling, classifier guidance, simplex
noise, probabilities and checkpoints. Tiny networks, 32-pixel images, short schedules."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pathogan_bench.config import RunConfig
from pathogan_bench.contracts.model import ModelContext
from pathogan_bench.data.slices import SliceTable
from pathogan_bench.engine.batches import DomainBatches, training_batches
from pathogan_bench.engine.checkpoint import load_checkpoint, save_checkpoint
from pathogan_bench.engine.model_options import model_class, model_options
from pathogan_bench.engine.plan import plan_run
from pathogan_bench.errors import UserError
from pathogan_bench.registry import get_registry
from pathogan_bench_plugins.models.anoddpm.model import AnoDDPM, AnoDDPMConfig
from pathogan_bench_plugins.models.diffusion_guided.model import DiffusionGuided, GuidedConfig
from pathogan_bench_plugins.shared.diffusion import NoiseSchedule
from pathogan_bench_plugins.shared.simplex import octave_simplex_noise

REGISTRY = get_registry()
SIZE, CHANNELS = 32, 2
#: tiny networks and a short schedule: T = 100, noise level 50, 5 sampling steps
TINY = {"width": 0.0625, "timesteps": 100, "level": 50, "sampling_steps": 5}
HEALTHY_VALUE, PATHOLOGICAL_VALUE = -0.5, 0.5


def context() -> ModelContext:
    return ModelContext(
        in_channels=CHANNELS, image_size=SIZE, modalities=("flair", "t1c"), batch_size=4, registry=REGISTRY
    )


def build(model: type, init_seed: int = 0, **options):
    torch.manual_seed(init_seed)
    return model(context(), **{**TINY, **options})


def brains(n: int, seed: int = 0, blob: bool = False) -> torch.Tensor:
    """Smooth 'brains' (background -1 outside a disc); with ``blob``, a bright square lesion inside."""
    gen = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(SIZE), torch.arange(SIZE), indexing="ij")
    inside = ((yy - SIZE / 2 + 0.5) ** 2 + (xx - SIZE / 2 + 0.5) ** 2) < (SIZE / 2 - 3) ** 2
    x = torch.full((n, CHANNELS, SIZE, SIZE), -1.0)
    level = (torch.rand(n, CHANNELS, 1, 1, generator=gen) * 0.2 - 0.3).expand(-1, -1, SIZE, SIZE)
    x = torch.where(inside, level + 0.02 * torch.randn(x.shape, generator=gen), x)
    if blob:
        for i in range(n):
            r, c = torch.randint(9, SIZE - 17, (2,), generator=gen).tolist()
            x[i, :, r : r + 8, c : c + 8] = 0.9
    return x


# -- supervision ------------------------------------------------------------------------------------------------------
def test_models_state_their_supervision_kinds():
    assert model_class(REGISTRY.get("model", "diffusion-guided")).supervision == "weak"
    assert model_class(REGISTRY.get("model", "anoddpm")).supervision == "healthy"


def marked_table(n_healthy: int = 7, n_pathological: int = 9) -> SliceTable:
    """Slices whose intensity says their domain: healthy ones at -0.5, pathological ones at +0.5."""
    n = n_healthy + n_pathological
    domain = np.array([0] * n_healthy + [1] * n_pathological, np.int8)
    images = np.where(domain[:, None, None, None] == 0, HEALTHY_VALUE, PATHOLOGICAL_VALUE)
    images = np.broadcast_to(images, (n, CHANNELS, SIZE, SIZE)).astype(np.float32).copy()
    masks = np.zeros((n, SIZE, SIZE), bool)
    masks[domain == 1, 10:20, 10:20] = True
    return SliceTable(images, masks, domain, np.array([f"p{i % 3}" for i in range(n)]), np.arange(n), ("flair", "t1c"))


def engine_batches(model: str) -> DomainBatches:
    config = RunConfig(model=model, device="cpu")
    config = dataclasses.replace(
        config,
        data=dataclasses.replace(config.data, augment=False),
        train=dataclasses.replace(config.train, batch_size=4),
    )
    table = marked_table()
    batches = training_batches(plan_run(config), table, np.arange(len(table)))
    assert isinstance(batches, DomainBatches)
    return batches


@pytest.mark.slow
def test_anoddpm_gets_healthy_images_only_from_the_engine():
    batches = engine_batches("anoddpm")
    assert batches.pathological is None
    model = build(AnoDDPM)
    seen = []
    model.train_step = lambda batch, step, train=model.train_step: seen.append(batch) or train(batch, step)
    for step in range(12):  # several epochs of the 7 healthy slices
        model.train_step(batches.batch(step), step)
    for batch in seen:
        assert set(batch) == {"x_a"} and batch["x_a"].shape == (4, CHANNELS, SIZE, SIZE)
        assert torch.all(batch["x_a"] == HEALTHY_VALUE), "a pathological image reached anoddpm"


def test_diffusion_guided_gets_both_domains_and_no_masks_from_the_engine():
    batches = engine_batches("diffusion-guided")
    for step in range(6):
        batch = batches.batch(step)
        assert set(batch) == {"x_a", "x_b"}
        assert torch.all(batch["x_a"] == HEALTHY_VALUE) and torch.all(batch["x_b"] == PATHOLOGICAL_VALUE)


# -- options ----------------------------------------------------------------------------------------------------------
def test_defaults_are_the_papers_and_the_quick_preset_samples_in_few_steps():
    guided, ano = GuidedConfig(), AnoDDPMConfig()
    assert (guided.timesteps, guided.level, guided.guidance_scale, guided.steps()) == (1000, 500, 100.0, 500)
    assert (ano.timesteps, ano.level, ano.steps(), ano.noise) == (1000, 250, 250, "simplex")
    assert (ano.simplex_octaves, ano.simplex_persistence, ano.simplex_period, ano.simplex_std) == (6, 0.8, 64.0, 0.5)
    assert GuidedConfig(width=0.125).steps() == 500 and AnoDDPMConfig(width=0.125, sampling_steps=3).steps() == 3
    registry = get_registry()
    for name in ("diffusion-guided", "anoddpm"):
        entry = registry.get("model", name)
        assert model_options(model_class(entry), "quick", {"width": 0.125}) == {"sampling_steps": 10, "width": 0.125}
        assert model_options(model_class(entry), "quick", {"sampling_steps": 3}) == {
            "sampling_steps": 3
        }  # the user's win
        assert model_options(model_class(entry), "paper", {}) == {}


@pytest.mark.parametrize(
    "model, options",
    [
        ("anoddpm", {"noise": "pink"}),
        ("anoddpm", {"level": 2000}),
        ("anoddpm", {"simplex_persistence": 1.5}),
        ("diffusion-guided", {"guidance_scale": -1}),
        ("diffusion-guided", {"sampling_steps": 600}),
        ("diffusion-guided", {"beta_schedule": "sigmoid"}),
    ],
)
def test_out_of_range_options_are_refused_before_building(model, options):
    with pytest.raises(UserError, match=next(iter(options))):
        REGISTRY.get("model", model).spec.factory.check_options(options)


def test_timestep_grid_covers_every_step_or_skips_evenly():
    schedule = NoiseSchedule(GuidedConfig())
    assert schedule.grid(500, 500) == list(range(500)) and schedule.stride() == 1
    assert schedule.grid(500, 10) == list(range(0, 500, 50)) and schedule.stride() == 50
    assert schedule.grid(250, 10) == list(range(0, 250, 25))


def test_ancestral_step_is_ddpms_posterior_step_with_the_given_noise():
    schedule = NoiseSchedule(AnoDDPMConfig(clip=False))
    schedule.grid(250, 250)
    gen = torch.Generator().manual_seed(0)
    x, eps, noise = (torch.randn(2, 1, 8, 8, generator=gen) for _ in range(3))
    t = 120
    abar, abar_prev = schedule.alphas_cumprod[t], schedule.alphas_cumprod[t - 1]
    beta = 1 - abar / abar_prev
    x0 = (x - (1 - abar).sqrt() * eps) / abar.sqrt()
    mean = abar_prev.sqrt() * beta / (1 - abar) * x0 + (1 - beta).sqrt() * (1 - abar_prev) / (1 - abar) * x
    expected = mean + ((1 - abar_prev) / (1 - abar) * beta).sqrt() * noise
    assert torch.allclose(schedule.denoise(eps, t, x, eta=1.0, noise=noise), expected, atol=1e-5)


# -- simplex noise ----------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_simplex_noise_has_unit_variance_is_smooth_and_seeded():
    noise = octave_simplex_noise((64, 2, 48, 48), period=12.0, generator=torch.Generator().manual_seed(0))
    assert noise.shape == (64, 2, 48, 48)
    assert abs(float(noise.mean())) < 0.1 and 0.8 < float(noise.std()) < 1.2
    neighbour = torch.corrcoef(torch.stack([noise[..., 1:].flatten(), noise[..., :-1].flatten()]))[0, 1]
    assert neighbour > 0.5, "simplex noise should be spatially correlated"
    again = octave_simplex_noise((64, 2, 48, 48), period=12.0, generator=torch.Generator().manual_seed(0))
    other = octave_simplex_noise((64, 2, 48, 48), period=12.0, generator=torch.Generator().manual_seed(1))
    assert torch.equal(noise, again) and not torch.allclose(noise, other)
    assert not torch.allclose(noise[0], noise[1]), "every map is its own draw"


# -- sampling ---------------------------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("noise", ["simplex", "gaussian"])
def test_anoddpm_sampling_is_reproducible_for_a_seed_and_differs_for_another(noise):
    model = build(AnoDDPM, noise=noise)
    other_seed = build(AnoDDPM, noise=noise, seed=1)
    other_seed.load_state_dict(model.state_dict())
    x = brains(3, blob=True)
    first, again = model.translate(x)["translated"], model.translate(x)["translated"]
    assert torch.equal(first, again)
    assert torch.equal(model.segment(x), model.segment(x))
    assert not torch.allclose(first, other_seed.translate(x)["translated"])


@pytest.mark.slow
def test_guided_translation_is_deterministic():
    model = build(DiffusionGuided)
    x = brains(3, blob=True)
    assert torch.equal(model.translate(x)["translated"], model.translate(x)["translated"])


@pytest.mark.slow
def test_guidance_moves_the_classifier_towards_healthy():
    model = build(DiffusionGuided)
    x = torch.cat([brains(16, seed=1), brains(16, seed=2, blob=True)])
    labels = torch.cat([torch.zeros(16), torch.ones(16)]).long()
    optimizer = torch.optim.Adam(model.classifier.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    for _ in range(30):  # the noisy classifier learns the easy separation (the U-Net stays untrained)
        t = torch.randint(0, model.config.level, (len(x),), generator=gen)
        logits = model.classifier(model.schedule.add_noise(x, torch.randn(x.shape, generator=gen), t), t)
        optimizer.zero_grad()
        F.cross_entropy(logits, labels).backward()
        optimizer.step()
    lesions = brains(6, seed=3, blob=True)
    before = float(model.healthy_probability(lesions).mean())
    assert before < 0.3 < 0.7 < float(model.healthy_probability(brains(6, seed=4)).mean()), (
        "the classifier did not learn"
    )
    unguided = float(model.healthy_probability(model.to_healthy(lesions, guidance_scale=0.0)).mean())
    guided = float(model.healthy_probability(model.to_healthy(lesions, guidance_scale=100.0)).mean())
    assert guided > unguided + 0.1 and guided > before + 0.1


@pytest.mark.slow
@pytest.mark.parametrize("model_class", [DiffusionGuided, AnoDDPM])
def test_segment_gives_probabilities_zero_outside_the_brain(model_class):
    model = build(model_class)
    model.calibrate(brains(4, seed=5))
    x = brains(3, seed=6, blob=True)
    prob, images = model.segment_and_translate(x)
    assert prob.shape == (3, SIZE, SIZE) and float(prob.min()) >= 0 and float(prob.max()) <= 1
    assert torch.all(prob[x.max(dim=1).values <= -1 + 1e-3] == 0)
    assert images["translated"].shape == x.shape
    assert float(model.difference_threshold) > 0


@pytest.mark.slow
@pytest.mark.parametrize("model_class", [DiffusionGuided, AnoDDPM])
def test_checkpoint_round_trip_gives_identical_maps(model_class, tmp_path):
    model = build(model_class)
    batch = {"x_a": brains(4, seed=7), "x_b": brains(4, seed=8, blob=True)}
    for step in range(2):
        model.train_step(batch if model.supervision == "weak" else {"x_a": batch["x_a"]}, step)
    model.calibrate(brains(4, seed=9))
    model.eval()
    x = brains(2, seed=10, blob=True)
    prob = model.segment(x)
    save_checkpoint(tmp_path / "ckpt", {"model": model.state_dict(), "extra": model.extra_state()})
    state = load_checkpoint(tmp_path / "ckpt.json")
    fresh = build(model_class, init_seed=123)
    fresh.load_state_dict(state["model"])
    fresh.load_extra_state(state["extra"])
    fresh.eval()
    assert torch.equal(fresh.segment(x), prob)
