from __future__ import annotations

import pytest
import torch
from torch import nn

from pathogan_bench.registry import get_registry
from pathogan_bench_plugins.models.pathogan.networks import ResidualGenerator, VAEGenerator
from pathogan_bench_plugins.shared.gan import init_weights
from pathogan_bench_plugins.shared.networks import PatchGAN, ResidualBlock, ResnetGenerator, parameter_count

WIDTH = 0.125


@pytest.fixture(scope="module")
def registry():
    return get_registry()


@pytest.mark.slow
@pytest.mark.parametrize("size", [32, 64])
@pytest.mark.parametrize("name", ["pathogan-vae", "pathogan-residual", "resnet9"])
def test_generators_keep_the_image_size(registry, name, size):
    options = {"z": 8} if name == "pathogan-vae" else {}
    net = registry.create("generator", name, 2, 3, size, width=WIDTH, **options)
    out = net(torch.randn(2, 2, size, size))
    assert out.shape == (2, 3, size, size)


@pytest.mark.parametrize("size, score_size", [(32, 2), (64, 6)])
def test_patchgan_scores_patches(registry, size, score_size):
    net = registry.create("discriminator", "patchgan", 4, width=WIDTH)
    assert net(torch.randn(3, 4, size, size)).shape == (3, 1, score_size, score_size)


@pytest.mark.parametrize("size", [32, 64])
def test_vae_encoders_and_decoder(size):
    net = VAEGenerator(2, 3, size, width=WIDTH, z=8)
    x = torch.randn(2, 2, size, size)
    for encode in (net.encode_anatomy, net.encode_pathology):
        mean, logvar = encode(x)
        assert mean.shape == logvar.shape == (2, 8)
    assert net.decode(torch.randn(2, 8), torch.randn(2, 8)).shape == (2, 3, size, size)
    # forward: the encoder mean and delta = 0
    assert torch.equal(net(x), net.decode(net.encode_anatomy(x)[0], torch.zeros(2, 8)))


def test_vae_layout_at_paper_size():
    with torch.device("meta"):
        net = VAEGenerator(4, 5, 240)
    linears = [(m.in_features, m.out_features) for m in net.anatomy_encoder.head if isinstance(m, nn.Linear)]
    assert linears == [(15 * 15 * 15, 256 * 15), (256 * 15, 2 * 256)]  # C1-15, Q2F, l(z*i)t, l(2*z)
    assert isinstance(net.anatomy_encoder.head[2], nn.Tanh)
    linears = [(m.in_features, m.out_features) for m in net.decoder.head if isinstance(m, nn.Linear)]
    assert linears == [(2 * 256, 225), (225, 225)]  # l(i*i)e, l(i*i)
    convs = [m for m in net.anatomy_encoder.features.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 128, 256, 512, 1024, 15]
    assert [c.stride[0] for c in convs] == [1, 2, 2, 2, 2, 1]
    assert sum(isinstance(m, ResidualBlock) for m in net.decoder.modules()) == 9


def test_image_size_must_allow_four_halvings():
    with pytest.raises(ValueError, match="multiple of 16"):
        VAEGenerator(1, 2, 40, width=WIDTH, z=4)


def test_width_scales_feature_counts():
    net = ResidualGenerator(1, 2, 32, width=WIDTH)
    convs = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    assert [c.out_channels for c in convs[:3]] == [8, 16, 32]


def test_residual_blocks_follow_the_paper_and_the_reference():
    def norms(block):
        return sum(isinstance(m, nn.InstanceNorm2d) for m in block.modules())

    pathogan_block = next(m for m in ResidualGenerator(1, 2, 32, width=WIDTH).modules() if isinstance(m, ResidualBlock))
    resnet_block = next(m for m in ResnetGenerator(1, 1, 32, width=WIDTH).modules() if isinstance(m, ResidualBlock))
    assert norms(pathogan_block) == 1 and any(isinstance(m, nn.ELU) for m in pathogan_block.modules())
    assert norms(resnet_block) == 2 and any(isinstance(m, nn.ReLU) for m in resnet_block.modules())


def test_resnet9_ends_in_tanh():
    out = ResnetGenerator(1, 1, 32, width=WIDTH)(100 * torch.randn(2, 1, 32, 32))
    assert out.abs().max() <= 1


def test_reference_parameter_counts():
    # the CycleGAN reference networks for RGB images: 11.378 M and 2.765 M parameters
    assert parameter_count(ResnetGenerator, 3, 3) == 11_378_179
    assert parameter_count(PatchGAN, 3) == 2_764_737


def test_paper_size_parameter_counts_without_allocating():
    z_a = parameter_count(VAEGenerator, 4, 5, 240)
    z_b = parameter_count(ResidualGenerator, 4, 5, 240)
    assert z_a == 62_747_430 and z_b == 11_387_589


def test_initialisation_is_normal_002_with_zero_biases():
    net = ResidualGenerator(1, 2, 32, width=0.5)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    weights = torch.cat([c.weight.flatten() for c in convs])
    assert abs(weights.std().item() - 0.02) < 0.002
    assert all(torch.count_nonzero(c.bias) == 0 for c in convs)
    init_weights(net, "xavier", 1.0)
    with pytest.raises(ValueError, match="unknown initialisation"):
        init_weights(net, "uniform")


def test_registered_names(registry):
    assert {"pathogan-vae", "pathogan-residual", "resnet9"} <= set(registry.names("generator"))
    assert "patchgan" in registry.names("discriminator")


@pytest.mark.parametrize("padding", [(3, 3, 3, 3), (1, 2, 0, 1), (0, 0, 2, 2)])
def test_reflection_padding_by_slices_has_the_values_and_gradients_of_torchs(padding):
    from pathogan_bench_plugins.shared.networks import reflect_by_slices

    x = torch.randn(2, 3, 9, 8, requires_grad=True)
    weights = torch.randn(2, 3, 9 + padding[2] + padding[3], 8 + padding[0] + padding[1])
    expected = torch.nn.functional.pad(x, padding, mode="reflect")
    (grad,) = torch.autograd.grad((expected * weights).sum(), x)
    got = reflect_by_slices(x, padding)
    assert torch.equal(got, expected)
    torch.testing.assert_close(torch.autograd.grad((got * weights).sum(), x)[0], grad)
