"""MD-GRU's high-pass filtered inputs: the filter, the doubled input, training, checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from pathogan_bench.contracts.model import ModelContext
from pathogan_bench.errors import UserError
from pathogan_bench.registry import get_registry
from pathogan_bench_plugins.models.mdgru.model import (
    HIGHPASS_REFERENCE_SIDE,
    HighPassInputs,
    MDGRUModel,
    gaussian_kernel1d,
    symmetric_pad_index,
)

SIZE = 32
MODALITIES = ("flair", "t1", "t1c", "t2")
TINY = {"width": 0.25, "kernel": 3}


def make_model(size: int = SIZE, **options) -> MDGRUModel:
    ctx = ModelContext(
        in_channels=len(MODALITIES),
        image_size=size,
        modalities=MODALITIES,
        registry=get_registry(),
        total_steps=10,
        batch_size=2,
    )
    torch.manual_seed(0)
    return get_registry().create("model", "mdgru", ctx, **{**TINY, **options})


def brain_batch(n: int = 2, seed: int = 0) -> dict[str, torch.Tensor]:
    """Images in [-1, 1]: a disc of noisy 'brain' on a -1 background, a square 'tumour' mask."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(SIZE), torch.arange(SIZE), indexing="ij")
    inside = ((yy - SIZE / 2) ** 2 + (xx - SIZE / 2) ** 2) < (0.4 * SIZE) ** 2
    tissue = (torch.randn(n, len(MODALITIES), SIZE, SIZE, generator=g) / 3).clamp(-0.99, 1)
    mask = torch.zeros(n, 1, SIZE, SIZE)
    mask[:, :, 10:16, 10:16] = 1
    return {"image": torch.where(inside, tissue, torch.tensor(-1.0)), "mask": mask}


# -- the filter --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sigma", [0.5, 5 * SIZE / HIGHPASS_REFERENCE_SIDE, 2.0, 5.0])
def test_highpass_of_a_constant_image_is_zero(sigma):
    x = torch.full((2, 3, SIZE, SIZE), -0.7)
    assert HighPassInputs(sigma).highpass(x).abs().max() < 1e-6


def test_symmetric_padding_repeats_the_edge_and_folds_back_when_wider_than_the_axis():
    assert symmetric_pad_index(4, 2).tolist() == [1, 0, 0, 1, 2, 3, 3, 2]
    # the extension of numpy's "symmetric" mode, also for a radius beyond the axis length
    values = np.arange(3)
    padded = np.pad(values, 7, mode="symmetric")
    assert values[symmetric_pad_index(3, 7).numpy()].tolist() == padded.tolist()


@pytest.mark.parametrize("sigma,size", [(5 * SIZE / HIGHPASS_REFERENCE_SIDE, SIZE), (1.3, 17), (5.0, SIZE), (3.0, 6)])
def test_highpass_matches_scipy(sigma, size):
    x = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 2 - 1
    ours = HighPassInputs(sigma).highpass(x.float())
    reference = x.numpy() - gaussian_filter(x.numpy(), sigma=(0, 0, sigma, sigma), mode="reflect", truncate=4.0)
    assert ours.dtype == torch.float32
    assert np.abs(ours.numpy() - reference).max() < 1e-5


def test_kernel_is_the_normalised_gaussian_cut_at_four_sigma():
    kernel = gaussian_kernel1d(1.3)
    assert kernel.numel() == 2 * int(4 * 1.3 + 0.5) + 1
    assert float(kernel.sum()) == pytest.approx(1.0, abs=1e-6)
    assert torch.equal(kernel, kernel.flip(0))


def test_highpass_runs_in_float32_under_bf16_autocast():
    x = torch.rand(1, 2, SIZE, SIZE) * 2 - 1
    layer = HighPassInputs(2.0)
    expected = layer(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under_amp = layer(x)
    assert under_amp.dtype == torch.float32 and torch.equal(under_amp, expected)


# -- the model ---------------------------------------------------------------------------------------------------------


def test_highpass_is_on_by_default_and_doubles_the_first_layers_input():
    on, off = make_model(), make_model(highpass=False)
    assert on.config.highpass is True
    assert on.net.layers[1].in_channels == 2 * len(MODALITIES)
    assert isinstance(on.net.inputs, HighPassInputs)
    assert on.net.inputs.sigma == pytest.approx(5.0 * SIZE / HIGHPASS_REFERENCE_SIDE)
    assert off.net.layers[1].in_channels == len(MODALITIES)
    assert isinstance(off.net.inputs, torch.nn.Identity)
    # the filter adds no tensors to checkpoints
    assert on.state_dict().keys() == off.state_dict().keys()


def test_highpass_sigma_is_given_for_240_pixels():
    assert make_model(size=240, gru_channels=[2], fc_channels=[]).net.inputs.sigma == pytest.approx(5.0)
    assert make_model(highpass_sigma=2.4).net.inputs.sigma == pytest.approx(2.4 * SIZE / 240)


def test_highpass_options_are_checked():
    with pytest.raises(UserError, match="highpass"):
        make_model(highpass="yes")
    with pytest.raises(UserError, match="highpass_sigma"):
        make_model(highpass_sigma=0)


def test_segment_sees_the_highpass_inputs():
    model = make_model()
    seen = []
    model.net.layers[1].register_forward_hook(lambda module, args, out: seen.append(args[0]))
    images = brain_batch()["image"]
    prob = model.segment(images)
    assert prob.shape == (2, SIZE, SIZE)
    assert torch.equal(seen[0][:, :4], images)
    assert torch.allclose(seen[0][:, 4:], model.net.inputs.highpass(images))


@pytest.mark.parametrize("highpass", [True, False])
def test_tiny_model_trains_one_step(highpass):
    model = make_model(highpass=highpass)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    logs = model.train_step(brain_batch(), 0)
    assert torch.isfinite(logs["S/total"])
    changed = [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])]
    assert "net.layers.1.input_conv.weight" in changed
    assert model.segment(brain_batch(seed=1)["image"]).shape == (2, SIZE, SIZE)


def test_weights_without_highpass_inputs_load_only_with_highpass_off():
    old = make_model(highpass=False).state_dict()
    with pytest.raises(RuntimeError, match="trained without high-pass inputs.*highpass = false"):
        make_model().load_state_dict(old)
    make_model(highpass=False).load_state_dict(old)
    with pytest.raises(RuntimeError, match="trained with high-pass inputs.*highpass = true"):
        make_model(highpass=False).load_state_dict(make_model().state_dict())
