"""The baseline models: registration, shapes, one training step, decision rules, scan directions."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pathogan_bench.contracts.model import ModelContext, SegmentationModel
from pathogan_bench.engine.model_options import model_class
from pathogan_bench.errors import ModelOptionsError
from pathogan_bench.registry import get_registry
from pathogan_bench_plugins.models.mdgru.model import ALL_DIRECTIONS, MDGRU, from_scan_order, to_scan_order
from pathogan_bench_plugins.models.threshold.model import ThresholdModel, flair_channel
from pathogan_bench_plugins.shared.gan import ImagePool
from pathogan_bench_plugins.shared.training import brain_mask

SIZE = 32
MODALITIES = ("flair", "t1", "t1c", "t2")
#: tiny options per model so every test runs in well under a second or two on CPU
TINY = {
    "cyclegan": {"width": 1 / 16},
    "mdgru": {"width": 0.25, "kernel": 3},
    "unet": {"width": 1 / 16, "levels": 3},
    "threshold": {},
}
SUPERVISION = {"cyclegan": "weak", "mdgru": "full", "unet": "full", "threshold": "none"}


def make_context(size: int = SIZE, modalities: tuple[str, ...] = MODALITIES) -> ModelContext:
    return ModelContext(
        in_channels=len(modalities),
        image_size=size,
        modalities=modalities,
        registry=get_registry(),
        total_steps=10,
        batch_size=2,
    )


def make_model(name: str, **options) -> SegmentationModel:
    torch.manual_seed(0)
    return get_registry().create("model", name, make_context(), **{**TINY[name], **options})


def brain_images(n: int, size: int = SIZE, channels: int = 4, seed: int = 0) -> torch.Tensor:
    """Images in [-1, 1] with a disc of 'brain' (about N(0, 1/3)) on a -1 background."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    inside = ((yy - size / 2) ** 2 + (xx - size / 2) ** 2) < (0.4 * size) ** 2
    tissue = (torch.randn(n, channels, size, size, generator=g) / 3).clamp(-0.99, 1)
    return torch.where(inside, tissue, torch.tensor(-1.0))


def batch_for(model: SegmentationModel, images: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
    if model.supervision == "full":
        return {"image": images, "mask": mask}
    return {"x_a": images, "x_b": images.flip(0)}


def square_mask(n: int, size: int = SIZE) -> torch.Tensor:
    mask = torch.zeros(n, 1, size, size)
    mask[:, :, size // 3 : size // 2, size // 3 : size // 2] = 1
    return mask


def parameters_snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.named_parameters()}


# -- registration ------------------------------------------------------------
def test_every_baseline_is_registered_with_its_supervision():
    registry = get_registry()
    for name, kind in SUPERVISION.items():
        entry = registry.get("model", name)
        assert model_class(entry).supervision == kind
        assert entry.spec.summary
    assert ThresholdModel.trainable is False
    assert all(getattr(registry.get("model", n).spec.factory, "trainable", True) for n in ("cyclegan", "mdgru", "unet"))


@pytest.mark.parametrize("name", list(TINY))
def test_unknown_option_is_refused(name):
    with pytest.raises(ModelOptionsError, match="unknown"):
        make_model(name, no_such_option=1)


# -- shapes and one step ----------------------------------------------------------
@pytest.mark.parametrize("name", list(TINY))
def test_segment_returns_probability_maps(name):
    model = make_model(name)
    images = brain_images(3)
    model.calibrate(brain_images(4, seed=1))
    prob = model.segment(images)
    assert prob.shape == (3, SIZE, SIZE)
    assert prob.dtype == torch.float32
    assert torch.isfinite(prob).all() and prob.min() >= 0 and prob.max() <= 1
    assert model.training, "segment must leave the training mode as it found it"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["cyclegan", "mdgru", "unet"])
def test_one_training_step_is_finite_and_changes_weights(name):
    model = make_model(name)
    before = parameters_snapshot(model)
    losses = model.train_step(batch_for(model, brain_images(2), square_mask(2)), 0)
    assert losses
    for key, value in losses.items():
        assert isinstance(value, torch.Tensor) and value.dim() == 0 and not value.requires_grad, key
        assert torch.isfinite(value), key
    after = parameters_snapshot(model)
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert changed, "no weight changed"
    assert set(model.optimizers()) == set(model.schedulers())


@pytest.mark.slow
@pytest.mark.parametrize("name", ["cyclegan", "mdgru", "unet"])
def test_nan_batch_changes_no_weight(name):
    model = make_model(name)
    model.train_step(batch_for(model, brain_images(2), square_mask(2)), 0)  # Adam state exists
    before = {k: v.clone() for k, v in model.state_dict().items()}
    images = brain_images(2)
    images[0, 0, 5, 5] = float("nan")
    losses = model.train_step(batch_for(model, images, square_mask(2)), 1)
    assert not all(torch.isfinite(v) for v in losses.values())
    for key, value in model.state_dict().items():
        if key.endswith("images") and "pool" in key:
            value, before[key] = value[:-1], before[key][:-1]  # the last row is scratch, never read
        assert torch.equal(before[key], value), f"{key} changed on a non-finite step"


def test_unet_batch_norm_statistics_survive_a_nan_batch():
    model = make_model("unet", norm="batch")
    model.train_step(batch_for(model, brain_images(2), square_mask(2)), 0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    images = brain_images(2)
    images[1, 2, 7, 7] = float("nan")
    model.train_step(batch_for(model, images, square_mask(2)), 1)
    for key, value in model.state_dict().items():
        assert torch.equal(before[key], value), key


def test_threshold_has_nothing_to_train():
    model = make_model("threshold")
    assert model.train_step({"x_a": brain_images(1), "x_b": brain_images(1)}, 0) == {}
    assert model.optimizers() == {}


# -- the CycleGAN's label-free rule ---------------------------------------------
class MaskAccessed(AssertionError):
    pass


class ImagesOnlyBatch(dict):
    """A weak batch that fails the test if anything but the two image tensors is read."""

    def __getitem__(self, key):
        if key not in ("x_a", "x_b"):
            raise MaskAccessed(f"read '{key}'")
        return super().__getitem__(key)

    def get(self, key, default=None):
        return self[key]


@pytest.mark.slow
def test_cyclegan_rule_uses_no_labels():
    model = make_model("cyclegan")
    for method in (model.calibrate, model.segment):
        assert list(inspect.signature(method).parameters) in (["healthy"], ["images"])
    batch = ImagesOnlyBatch(x_a=brain_images(2), x_b=brain_images(2, seed=3))
    model.train_step(batch, 0)
    healthy = brain_images(6, seed=4)
    model.calibrate(healthy)  # a plain tensor: no mask can travel with it
    diff = model.difference(healthy, model.to_healthy(healthy))
    inside = diff[brain_mask(healthy)].numpy()
    assert float(model.difference_threshold) == pytest.approx(np.percentile(inside, 99.0), rel=1e-5)
    healthy_prob = model.segment(healthy)[brain_mask(healthy)]
    assert 0.002 < float((healthy_prob > 0.5).float().mean()) < 0.02  # about 1 % above the 99th percentile


def test_cyclegan_segment_is_half_at_the_threshold_and_zero_outside_the_brain():
    model = make_model("cyclegan")
    images = brain_images(2)
    model.calibrate(images)
    d, t = model.difference(images, model.to_healthy(images)), model.difference_threshold
    prob = model.segment(images)
    brain = brain_mask(images)
    assert torch.all(prob[~brain] == 0)
    assert torch.equal(prob[brain] > 0.5, d[brain] > t)


@pytest.mark.slow
def test_cyclegan_identity_weight_follows_the_reference():
    model = make_model("cyclegan")
    cfg = model.config
    assert (cfg.cycle_weight, cfg.identity_weight, cfg.pool_size, cfg.lr, cfg.beta1) == (10.0, 0.5, 50, 2e-4, 0.5)
    losses = model.train_step({"x_a": brain_images(2), "x_b": brain_images(2, seed=1)}, 0)
    expected = losses["G/gan"] + 10 * losses["G/cycle"] + 0.5 * 10 * losses["G/identity"]
    assert float(losses["G/total"]) == pytest.approx(float(expected), rel=1e-5)


def test_image_pool_fills_then_swaps_and_never_stores_refused_batches():
    torch.manual_seed(0)
    pool = ImagePool(4, (1, 2, 2))
    first = torch.arange(3.0)[:, None, None, None].expand(3, 1, 2, 2).clone()
    assert torch.equal(pool(first, accept=torch.tensor(True)), first)  # filling: passed on and stored
    assert int(pool.count) == 3 and torch.equal(pool.images[:3], first)
    pool(torch.full((2, 1, 2, 2), 7.0), accept=torch.tensor(False))  # a refused step stores nothing
    assert int(pool.count) == 3 and torch.equal(pool.images[:3], first)
    swapped = False
    for _ in range(20):
        out = pool(torch.full((2, 1, 2, 2), 9.0), accept=torch.tensor(True))
        assert torch.isfinite(out).all()
        swapped |= bool((out != 9.0).any())
    assert int(pool.count) == 4 and swapped
    assert (pool.images[:4] == 9.0).any()
    assert set(pool.state_dict()) == {"images", "count"}


def test_cyclegan_state_dict_holds_pool_and_threshold():
    model = make_model("cyclegan")
    model.calibrate(brain_images(2))
    state = model.state_dict()
    assert {"difference_threshold", "pool_a.images", "pool_b.count"} <= set(state)
    other = make_model("cyclegan")
    other.load_state_dict(state)
    assert float(other.difference_threshold) == float(model.difference_threshold)


# -- MD-GRU scans -------------------------------------------------------------------
def test_scan_order_round_trip():
    x = torch.randn(2, 3, 5, 5)
    for direction in ALL_DIRECTIONS:
        assert torch.equal(from_scan_order(to_scan_order(x, direction), direction), x)


def _response(layer: MDGRU, x: torch.Tensor, row: int, col: int) -> torch.Tensor:
    """|layer(x + e) - layer(x)| summed over channels, for a perturbation e at (row, col): (H,W)."""
    bumped = x.clone()
    bumped[:, :, row, col] += 1.0
    with torch.no_grad():
        return (layer(bumped) - layer(x)).abs().sum(dim=(0, 1))


@pytest.mark.parametrize("direction", ALL_DIRECTIONS)
def test_a_single_scan_carries_information_one_way_only(direction):
    torch.manual_seed(0)
    layer = MDGRU(2, 3, kernel=3, directions=(direction,)).double()
    x = torch.randn(1, 2, 9, 9, dtype=torch.float64)
    row, col = 4, 4
    changed = _response(layer, x, row, col) > 0
    rows, cols = torch.meshgrid(torch.arange(9), torch.arange(9), indexing="ij")
    downstream = {"w+": cols >= col, "w-": cols <= col, "h+": rows >= row, "h-": rows <= row}[direction]
    assert not changed[~downstream].any(), "information flowed against the scan"
    far = {"w+": (row, 8), "w-": (row, 0), "h+": (8, col), "h-": (0, col)}[direction]
    assert changed[far], "information did not travel along the scan"


def test_all_four_scans_reach_every_position():
    torch.manual_seed(0)
    layer = MDGRU(2, 3, kernel=3).double()
    x = torch.randn(1, 2, 9, 9, dtype=torch.float64)
    for row, col in [(4, 4), (0, 0), (8, 2)]:
        assert (_response(layer, x, row, col) > 0).all()


def _naive_scan(layer: MDGRU, x: torch.Tensor, index: int, direction: str) -> torch.Tensor:
    """One direction's GRU, written position by position along the original axes."""
    c, k = layer.channels, layer.kernel
    rows = slice(index * 3 * c, (index + 1) * 3 * c)
    w_x = layer.input_conv.weight[rows, :, :, 0]
    b_x = layer.input_conv.bias[rows]
    w_h = layer.state_conv.weight[rows]
    along_width = direction[0] == "w"
    steps = x.shape[3] if along_width else x.shape[2]
    order = range(steps) if direction[1] == "+" else reversed(range(steps))
    out = torch.zeros(x.shape[0], c, x.shape[2], x.shape[3], dtype=x.dtype)
    h = torch.zeros(x.shape[0], c, x.shape[2] if along_width else x.shape[3], dtype=x.dtype)
    for t in order:
        x_t = x[:, :, :, t] if along_width else x[:, :, t, :]
        pre = F.conv1d(x_t, w_x, b_x, padding=k // 2)
        rec = F.conv1d(h, w_h, padding=k // 2)
        z = torch.sigmoid(pre[:, :c] + rec[:, :c])
        r = torch.sigmoid(pre[:, c : 2 * c] + rec[:, c : 2 * c])
        candidate = torch.tanh(pre[:, 2 * c :] + r * rec[:, 2 * c :])
        h = z * h + (1 - z) * candidate
        if along_width:
            out[:, :, :, t] = h
        else:
            out[:, :, t, :] = h
    return out


def test_mdgru_layer_matches_a_naive_scan():
    torch.manual_seed(0)
    layer = MDGRU(3, 4, kernel=5).double()
    x = torch.randn(2, 3, 7, 7, dtype=torch.float64)
    expected = sum(_naive_scan(layer, x, i, d) for i, d in enumerate(layer.directions)) / 4
    with torch.no_grad():
        assert torch.allclose(layer(x), expected, atol=1e-10)


def test_mdgru_refuses_non_square_images_when_scanning_both_axes():
    with pytest.raises(ValueError, match="square"):
        MDGRU(1, 2)(torch.zeros(1, 1, 6, 8))
    assert MDGRU(1, 2, directions=("w+", "w-"))(torch.zeros(1, 1, 6, 8)).shape == (1, 2, 6, 8)


def test_mdgru_default_architecture_follows_the_reference():
    model = get_registry().create("model", "mdgru", make_context())
    grus = [m for m in model.net.modules() if isinstance(m, MDGRU)]
    assert [g.channels for g in grus] == [16, 32, 64] and grus[0].kernel == 7
    convs = [m for m in model.net.layers if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [25, 45, 2]


# -- the FLAIR threshold -------------------------------------------------------------
def test_flair_channel_is_found_by_name():
    assert flair_channel(("t1", "FLAIR")) == 1
    assert flair_channel(("t1n", "t2f")) == 1
    assert flair_channel(("t1", "t2")) == 0


def test_threshold_flags_a_bright_region_and_not_healthy_tissue():
    modalities = ("t1", "flair")
    model = get_registry().create("model", "threshold", make_context(modalities=modalities))
    assert model.channel == 1
    healthy = brain_images(8, channels=2, seed=5)
    model.calibrate(healthy)
    brain = brain_mask(healthy)
    assert float(model.intensity_threshold) == pytest.approx(
        np.percentile(healthy[:, 1][brain].numpy(), 99.5), rel=1e-5
    )
    healthy_prob = model.segment(healthy)
    assert float((healthy_prob[brain] > 0.5).float().mean()) < 0.02
    pathological = brain_images(2, channels=2, seed=6)
    pathological[:, 1, 12:18, 12:18] = 1.0  # bright in FLAIR only
    pathological[:, 0, 20:24, 20:24] = 1.0  # bright in T1: not a FLAIR lesion
    prob = model.segment(pathological)
    assert float(prob[:, 12:18, 12:18].min()) > 0.9
    assert float(prob[:, 20:24, 20:24].mean()) < 0.1
    assert torch.all(prob[~brain_mask(pathological)] == 0)


def test_threshold_flags_nothing_before_calibration_and_keeps_its_fit_in_the_state_dict():
    model = make_model("threshold")
    assert float(model.segment(torch.ones(1, 4, SIZE, SIZE)).max()) < 1e-6
    model.calibrate(brain_images(2))
    other = make_model("threshold")
    other.load_state_dict(model.state_dict())
    assert float(other.intensity_threshold) == float(model.intensity_threshold)
