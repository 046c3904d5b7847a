"""The denoising autoencoder (Kascenas et al. 2022): coarse noise, healthy-only batches, reconstruction-error maps."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_diffusion import CHANNELS, HEALTHY_VALUE, SIZE, engine_batches

from pathogan_bench.contracts.model import ModelContext
from pathogan_bench.engine.model_options import model_class
from pathogan_bench.registry import get_registry
from pathogan_bench_plugins.models.dae.model import DenoisingAE, coarse_noise, median_filter_2d


def build(**options) -> DenoisingAE:
    torch.manual_seed(0)
    ctx = ModelContext(in_channels=CHANNELS, image_size=SIZE, modalities=("flair", "t1c"), batch_size=4)
    return DenoisingAE(ctx, **{"width": 0.0625, **options})


def test_dae_is_registered_as_a_healthy_model():
    assert model_class(get_registry().get("model", "dae")).supervision == "healthy"


def test_coarse_noise_is_drawn_at_low_resolution_upsampled_and_kept_in_the_brain():
    images = torch.full((3, CHANNELS, 64, 64), -0.2)
    images[:, :, :, :8] = -1.0  # background: outside the brain
    gen = torch.Generator().manual_seed(0)
    noise = coarse_noise(images, 4, 0.2, generator=gen)
    assert noise.shape == images.shape
    assert torch.all(noise[..., :8] == 0), "noise outside the brain"
    inside = noise[..., 8:]
    # coarse: neighbouring pixels nearly equal (a 4 x 4 grid upsampled to 64 pixels; the roll wraps one seam)
    assert float((inside[..., 1:] - inside[..., :-1]).abs().quantile(0.95)) < 0.05
    assert 0.05 < float(inside.std()) < 0.3
    # independent per image and channel
    assert not torch.allclose(noise[0, 0], noise[0, 1]) and not torch.allclose(noise[0], noise[1])


def test_coarse_noise_at_full_resolution_is_white():
    images = torch.zeros((1, 1, 16, 16))
    noise = coarse_noise(images, 16, 1.0, generator=torch.Generator().manual_seed(1))
    assert (noise[..., 1:] - noise[..., :-1]).abs().mean() > 0.5


def test_median_filter_matches_scipy_inside_the_image():
    from scipy import ndimage

    maps = torch.rand(2, 12, 12, generator=torch.Generator().manual_seed(2))
    ours = median_filter_2d(maps, 5).numpy()
    expected = np.stack([ndimage.median_filter(m, size=5, mode="mirror") for m in maps.numpy()])
    assert np.allclose(ours, expected)


@pytest.mark.slow
def test_dae_gets_healthy_images_only_from_the_engine_and_learns_to_denoise():
    batches = engine_batches("dae")
    assert batches.pathological is None
    model = build()
    losses = []
    for step in range(12):
        batch = batches.batch(step)
        assert set(batch) == {"x_a"} and torch.all(batch["x_a"] == HEALTHY_VALUE), "a pathological image reached dae"
        losses.append(float(model.train_step(batch, step)["dae/mse"]))
    assert all(np.isfinite(losses))


def test_dae_map_is_the_reconstruction_error_in_the_eroded_brain():
    model = build(median=1, erode=1)
    images = torch.full((1, CHANNELS, SIZE, SIZE), -0.5)
    images[..., :4] = -1.0
    healthy = images.clone()
    healthy[..., 10:12, 10:12] += 0.4
    d = model.difference(images, healthy)
    assert torch.allclose(d[0, 10:12, 10:12], torch.full((2, 2), 0.4))
    assert float(d.sum()) == pytest.approx(0.4 * 4, rel=1e-5)
    eroded = build(median=1, erode=5).difference(images, images + 0.1)
    assert torch.all(eroded[0, :, :6] == 0) and torch.all(eroded[0, 2:-2, 8:-2] > 0)
