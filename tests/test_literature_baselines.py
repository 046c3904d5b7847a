"""The baselines of the weakly supervised and unsupervised literature: class activation maps, Fixed-Point GAN, VA-GAN,
f-AnoGAN and the patched diffusion model. Each learns something on toy data in a test's budget; their pieces behave
as their papers define them. Tiny networks, 32-pixel images, one thread."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import TINY_RUN, invoke_cli
from test_diffusion import HEALTHY_VALUE, PATHOLOGICAL_VALUE, engine_batches

from pathogan_bench.contracts.model import ModelContext, SegmentationModel
from pathogan_bench.data.levels import rank_auroc
from pathogan_bench.engine.model_options import model_class
from pathogan_bench.errors import UserError
from pathogan_bench.registry import get_registry
from pathogan_bench_plugins.models.cam.model import activation_map
from pathogan_bench_plugins.models.pddpm.model import patch_grid
from pathogan_bench_plugins.models.vagan.model import VAGANConfig, critic_iterations
from pathogan_bench_plugins.shared.gan import gradient_penalty

REGISTRY = get_registry()
SIZE, CHANNELS = 32, 2
SUPERVISION = {"cam": "weak", "fixed-point-gan": "weak", "vagan": "weak", "fanogan": "healthy", "pddpm": "healthy"}


def build(name: str, steps: int = 100, **options) -> SegmentationModel:
    torch.manual_seed(0)
    ctx = ModelContext(
        in_channels=CHANNELS, image_size=SIZE, modalities=("flair", "t1c"), total_steps=steps, registry=REGISTRY
    )
    quick = model_class(REGISTRY.get("model", name)).preset_options.get("quick", {})
    return REGISTRY.create("model", name, ctx, **{**quick, "width": 0.125, **options})


def brains(n: int, seed: int, lesion: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Textured 'brains' on a -1 background and, with ``lesion``, a bright square in each; and the lesion masks."""
    gen = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(SIZE), torch.arange(SIZE), indexing="ij")
    inside = ((yy - SIZE / 2 + 0.5) ** 2 + (xx - SIZE / 2 + 0.5) ** 2) < (SIZE / 2 - 2) ** 2
    tissue = -0.3 + 0.1 * torch.sin(xx / 3.0 + torch.rand(n, 1, 1, 1, generator=gen) * 6)
    x = torch.where(inside, tissue + 0.03 * torch.randn(n, CHANNELS, SIZE, SIZE, generator=gen), torch.tensor(-1.0))
    masks = torch.zeros(n, SIZE, SIZE, dtype=torch.bool)
    if lesion:
        for i in range(n):
            r, c = torch.randint(8, SIZE - 16, (2,), generator=gen).tolist()
            masks[i, r : r + 7, c : c + 7] = True
        x = torch.where(masks[:, None], torch.tensor(0.7), x)
    return x, masks


def pixel_auroc(model: SegmentationModel, seed: int = 50) -> float:
    """AUROC of the model's map for lesion vs other brain pixels of held-out slices with lesions."""
    images, masks = brains(12, seed, lesion=True)
    model.calibrate(brains(8, seed + 1, lesion=False)[0])
    prob = model.segment(images)
    brain = images.max(dim=1).values > -0.99
    return rank_auroc(prob[masks & brain].numpy(), prob[~masks & brain].numpy())


def train(model: SegmentationModel, steps: int) -> None:
    for step in range(steps):
        healthy, _ = brains(4, 2 * step, lesion=False)
        pathological, _ = brains(4, 2 * step + 1, lesion=True)
        batch = {"x_a": healthy, "x_b": pathological} if model.supervision == "weak" else {"x_a": healthy}
        losses = model.train_step(batch, step)
        assert all(torch.isfinite(v) for v in losses.values()), (step, losses)


# -- registration and supervision --------------------------------------------------------------------------------------
def test_each_is_registered_with_its_supervision():
    for name, kind in SUPERVISION.items():
        entry = REGISTRY.get("model", name)
        assert model_class(entry).supervision == kind and entry.spec.summary


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n, kind in SUPERVISION.items() if kind == "healthy"])
def test_healthy_models_get_healthy_slices_only_from_the_engine(name):
    batches = engine_batches(name)
    assert batches.pathological is None
    for step in range(6):
        batch = batches.batch(step)
        assert set(batch) == {"x_a"} and torch.all(batch["x_a"] == HEALTHY_VALUE), (
            f"a pathological slice reached {name}"
        )


@pytest.mark.parametrize("name", [n for n, kind in SUPERVISION.items() if kind == "weak"])
def test_weak_models_get_both_domains_and_no_mask_from_the_engine(name):
    batches = engine_batches(name)
    for step in range(4):
        batch = batches.batch(step)
        assert set(batch) == {"x_a", "x_b"}
        assert torch.all(batch["x_a"] == HEALTHY_VALUE) and torch.all(batch["x_b"] == PATHOLOGICAL_VALUE)


# -- each learns something in a test's budget --------------------------------------------------------------------------
#: training steps on toy data after which each model's map must tell lesion pixels from the rest far better than
#: chance, and the options that make that budget enough (the GANs: ten times their papers' learning rate)
LEARNING = {
    "cam": (80, {}),
    "fixed-point-gan": (60, {"lr": 1e-3}),
    "vagan": (60, {"lr": 1e-3}),
    "fanogan": (40, {}),
    "pddpm": (40, {}),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(LEARNING))
def test_model_learns_to_find_lesions_better_than_chance(name):
    steps, options = LEARNING[name]
    model = build(name, steps=steps, **options)
    train(model, steps)
    model.eval()
    found = pixel_auroc(model)
    assert found > 0.75, f"{name}: pixel AUROC {found:.3f} after {steps} steps"


@pytest.mark.slow
def test_cam_classifier_learns_the_slice_labels():
    model = build("cam")
    train(model, 40)
    healthy, _ = brains(8, 90, lesion=False)
    pathological, _ = brains(8, 91, lesion=True)
    scores = model.slice_scores(torch.cat([healthy, pathological])).numpy()
    assert rank_auroc(scores[8:], scores[:8]) > 0.9


# -- the pieces ---------------------------------------------------------------------------------------------------------
def test_layercam_equals_gradcam_for_spatially_constant_positive_gradients():
    gen = torch.Generator().manual_seed(0)
    features = torch.rand(2, 5, 4, 4, generator=gen)
    grad = torch.rand(2, 5, 1, 1, generator=gen).expand(-1, -1, 4, 4)
    assert torch.allclose(activation_map(features, grad, "layercam"), activation_map(features, grad, "gradcam"))
    negative = activation_map(features, -grad, "gradcam")
    assert torch.all(negative == 0), "Grad-CAM keeps only the features that raise the pathological logit"
    plus = activation_map(features, grad, "gradcam++")
    assert plus.shape == (2, 4, 4) and torch.all(plus >= 0) and plus.sum() > 0


def test_cam_map_is_zero_outside_the_brain_and_below_the_slice_probability():
    model = build("cam")
    images, _ = brains(3, 7, lesion=True)
    prob = model.segment(images)
    assert torch.all(prob[images.max(dim=1).values <= -0.99] == 0)
    peak = prob.flatten(1).max(dim=1).values
    assert torch.allclose(peak, model.slice_scores(images), atol=1e-5)


def test_gradient_penalty_is_zero_for_a_unit_slope_critic():
    weights = torch.randn(1, 2, 8, 8)
    weights /= weights.norm()
    critic = lambda x: (x * weights).sum(dim=(1, 2, 3))  # noqa: E731
    real, fake = torch.randn(4, 2, 8, 8), torch.randn(4, 2, 8, 8)
    assert float(gradient_penalty(critic, real, fake)) == pytest.approx(0.0, abs=1e-10)
    assert float(gradient_penalty(lambda x: 3 * critic(x), real, fake)) == pytest.approx(4.0, rel=1e-5)


def test_vagan_critic_schedule_follows_the_reference():
    cfg = VAGANConfig()
    assert [critic_iterations(g, cfg) for g in (0, 24, 25, 99, 100, 101, 200)] == [100, 100, 5, 5, 100, 5, 100]
    off = VAGANConfig(long_first=0, long_every=0)
    assert {critic_iterations(g, off) for g in range(300)} == {5}


def test_fixed_point_gan_translation_to_the_own_domain_is_trained_towards_identity():
    model = build("fixed-point-gan", n_critic=1, lambda_rec=0.0, lambda_cls=0.0)
    images, _ = brains(4, 3, lesion=False)
    healthy = torch.zeros(4)

    def drift() -> float:
        with torch.no_grad():
            return float((model.translate_to(images, healthy) - images).abs().mean())

    before = drift()
    for _ in range(20):
        model.train_step({"x_a": images, "x_b": images}, 0)
    assert drift() < 0.7 * before


def test_pddpm_patch_grid_tiles_the_slice():
    assert patch_grid(64, 32) == [(0, 0), (0, 32), (32, 0), (32, 32)]
    assert patch_grid(10, 4) == [(r, c) for r in (0, 4, 6) for c in (0, 4, 6)]
    model = build("pddpm")
    assert model.masks.shape == (4, 1, SIZE, SIZE) and torch.all(model.masks.sum(dim=0) == 1)


def test_pddpm_keeps_the_context_clean_and_its_reconstruction_is_seeded():
    model = build("pddpm")
    images, _ = brains(2, 4, lesion=True)
    masks = model.masks[:1].expand(2, -1, -1, -1)
    noised = model.noise_patches(images, masks, torch.full((2,), 400))
    outside = ~masks.bool().expand_as(images)
    assert torch.equal(noised[outside], images[outside]) and not torch.equal(noised, images)
    assert torch.equal(model.to_healthy(images), model.to_healthy(images))


@pytest.mark.parametrize(
    "name, size",
    [("fanogan", 48), ("vagan", 40), ("fixed-point-gan", 30), ("cam", 36)],
)
def test_an_image_side_the_networks_cannot_take_is_refused_in_one_line(name, size):
    ctx = ModelContext(in_channels=CHANNELS, image_size=size, registry=REGISTRY)
    with pytest.raises(UserError, match=f"'{name}'.*{size}"):
        REGISTRY.create("model", name, ctx, width=0.125)


@pytest.mark.parametrize(
    "name, options",
    [
        ("cam", {"method": "cam++"}),
        ("cam", {"threshold": 1.5}),
        ("fanogan", {"gan_fraction": 1.0}),
        ("pddpm", {"patch": 1.5}),
        ("pddpm", {"sampling_steps": 5}),
        ("vagan", {"long_every": -1}),
        ("fixed-point-gan", {"lambda_id": -1}),
    ],
)
def test_out_of_range_options_are_refused_before_building(name, options):
    with pytest.raises(UserError, match=next(iter(options))):
        REGISTRY.get("model", name).spec.factory.check_options(options)


@pytest.mark.slow
def test_a_cam_run_reports_its_classifiers_slice_auroc(tmp_path, monkeypatch):
    monkeypatch.setenv("PATHOGAN_BENCH_CACHE", str(tmp_path / "cache"))
    (tmp_path / "tiny.toml").write_text(TINY_RUN)
    out = tmp_path / "runs"
    result = invoke_cli(
        "run", "--config", tmp_path / "tiny.toml", "--model", "cam", "--steps", "4", "--out", out, "--name", "cam"
    )
    assert result.code == 0, result.output
    found = json.loads((out / "cam" / "run.json").read_text())["slice_classification"]
    assert "test" in found and 0 <= found["test"]["auroc"] <= 1
    assert found["test"]["healthy"] > 0 and found["test"]["pathological"] > 0
    assert "slice classifier (test): AUROC" in (out / "cam" / "report.md").read_text()
    assert np.isfinite(found["test"]["auroc"])
