"""Layers in the PathoGAN paper's notation (section 2.4), and the generator and discriminator every GAN model may use.

Notation:

- ``ck-f``: k x k convolution with stride 1, instance norm, ELU
- ``Ck-f``: k x k convolution with stride 1 only
- ``df``: stride-2 3 x 3 convolution, instance norm, ELU (halves the size)
- ``uf``: stride-2 3 x 3 transposed convolution, instance norm, ELU (doubles it)
- ``Rf``: residual block: input + conv3(ELU(IN(conv3(input))))
- ``l(f)``: fully connected layer; ``Q2F`` / ``F2Q``: square image <-> vector
- a trailing ``t`` / ``e``: an extra tanh / ELU

Layout choices the paper leaves open follow the CycleGAN reference
implementation: stride-1 convolutions with k > 1 use reflection padding,
strided and transposed convolutions zero padding 1 (plus output padding 1),
instance norm has no affine parameters and keeps no running statistics,
convolutions keep their biases, weights start as N(0, 0.02) and biases at 0.
PathoGAN's residual block is the paper's (no norm after the second
convolution); ``resnet9`` keeps the reference block (with it).

Every feature count is multiplied by ``width`` (at least 1 feature), so the
same code runs at 1/8 width on 32-64 px images in tests.

Registered generator (factory ``(in_channels, out_channels, image_size,
width=1.0, **options)``): ``resnet9`` (the CycleGAN reference generator).
Registered discriminators (factory ``(in_channels, width=1.0, **options)``):
``patchgan`` and ``patchgan-multiscale``; :func:`patchgan_layers` gives the depth
whose receptive field is the paper's share of the image side. PathoGAN's own generators (``pathogan-vae``,
``pathogan-residual``) are built from these layers in
``pathogan_bench_plugins.models.pathogan.networks``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pathogan_bench.plugin import Spec, hookimpl
from pathogan_bench_plugins.shared.gan import init_weights


def scaled(features: int, width: float) -> int:
    """A feature count multiplied by the width multiplier, at least 1."""
    return max(1, int(round(features * width)))


# -- layers in the paper's notation ---------------------------------------------------------------------------------


def reflect_by_slices(x: torch.Tensor, padding: tuple[int, int, int, int]) -> torch.Tensor:
    """Reflection padding (left, right, top, bottom) built from flipped slices: the values of
    ``F.pad(x, padding, mode="reflect")``, with a backward that adds no gradient twice in the same place."""
    left, right, top, bottom = padding
    width, height = x.shape[-1], x.shape[-2]
    x = torch.cat([x[..., 1 : left + 1].flip(-1), x, x[..., width - right - 1 : width - 1].flip(-1)], dim=-1)
    rows = [x[..., 1 : top + 1, :].flip(-2), x, x[..., height - bottom - 1 : height - 1, :].flip(-2)]
    return torch.cat(rows, dim=-2)


class ReflectionPad2d(nn.ReflectionPad2d):
    """Reflection padding whose backward is deterministic on CUDA when torch is asked for deterministic algorithms.

    CUDA's reflection-padding backward adds gradients with atomic operations,
    in an order that varies from run to run (torch warns under
    ``--deterministic``); then the padding is built from flipped slices
    instead (:func:`reflect_by_slices`), a few more kernels with the same
    values. Otherwise it is ``nn.ReflectionPad2d``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.is_cuda and torch.are_deterministic_algorithms_enabled():
            return reflect_by_slices(x, self.padding)
        return super().forward(x)


def conv(cin: int, cout: int, k: int, act: type[nn.Module] | None = None) -> nn.Sequential:
    """``Ck-f`` (``act`` None) or ``Ck-f`` + activation: reflection-padded stride-1 convolution."""
    layers: list[nn.Module] = [ReflectionPad2d(k // 2)] if k > 1 else []
    layers.append(nn.Conv2d(cin, cout, k))
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


def conv_norm_act(cin: int, cout: int, k: int, act: type[nn.Module] = nn.ELU) -> nn.Sequential:
    """``ck-f``: reflection-padded stride-1 convolution, instance norm, activation."""
    return nn.Sequential(*conv(cin, cout, k), nn.InstanceNorm2d(cout), act())


def down(cin: int, cout: int, act: type[nn.Module] = nn.ELU) -> nn.Sequential:
    """``df``: stride-2 3 x 3 convolution, instance norm, activation."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=2, padding=1), nn.InstanceNorm2d(cout), act())


#: how ``uf`` doubles the size: the paper's transposed convolution, or nearest-neighbour resizing then a 3 x 3
#: convolution (Odena et al. 2016), which cannot draw checkerboard patterns
UPSAMPLING = ("transposed", "resize")


def up(cin: int, cout: int, act: type[nn.Module] = nn.ELU, upsampling: str = "transposed") -> nn.Sequential:
    """``uf``: stride-2 3 x 3 transposed convolution doubling the size (or ``upsampling="resize"``: nearest x 2 and
    a reflection-padded 3 x 3 convolution), instance norm, activation."""
    if upsampling not in UPSAMPLING:
        raise ValueError(f"upsampling = {upsampling!r}: expected one of {', '.join(UPSAMPLING)}")
    if upsampling == "resize":
        return nn.Sequential(
            nn.Upsample(scale_factor=2, mode="nearest"), *conv(cin, cout, 3), nn.InstanceNorm2d(cout), act()
        )
    return nn.Sequential(
        nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1), nn.InstanceNorm2d(cout), act()
    )


class ResidualBlock(nn.Module):
    """``Rf``: input + conv3(act(IN(conv3(input)))), optionally with IN after the second conv too."""

    def __init__(self, features: int, act: type[nn.Module] = nn.ELU, norm_after_second: bool = False):
        super().__init__()
        layers: list[nn.Module] = [*conv_norm_act(features, features, 3, act), *conv(features, features, 3)]
        if norm_after_second:
            layers.append(nn.InstanceNorm2d(features))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


# -- CycleGAN reference networks ---------------------------------------------------------------------------------------


class ResnetGenerator(nn.Module):
    """The CycleGAN reference ResNet generator: c7s1-64, d128, d256, R256 x 9, u128, u64, c7s1-out, tanh.

    ReLU and instance norm (also after the second convolution of each block),
    no dropout.
    """

    def __init__(self, in_channels: int, out_channels: int, image_size: int = 240, width: float = 1.0, blocks: int = 9):
        super().__init__()
        f64, f128, f256 = scaled(64, width), scaled(128, width), scaled(256, width)
        self.net = nn.Sequential(
            conv_norm_act(in_channels, f64, 7, nn.ReLU),
            down(f64, f128, nn.ReLU),
            down(f128, f256, nn.ReLU),
            *[ResidualBlock(f256, nn.ReLU, norm_after_second=True) for _ in range(blocks)],
            up(f256, f128, nn.ReLU),
            up(f128, f64, nn.ReLU),
            conv(f64, out_channels, 7, nn.Tanh),
        )
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class PatchGAN(nn.Module):
    """The 70 x 70 PatchGAN of the CycleGAN reference: C64-C128-C256-C512 then a 1-channel map.

    4 x 4 kernels with padding 1, stride 2 except the last two layers,
    LeakyReLU 0.2, instance norm on every layer but the first and the output.
    """

    def __init__(self, in_channels: int, width: float = 1.0, layers: int = 3, features: int = 64):
        super().__init__()
        cin = scaled(features, width)
        seq: list[nn.Module] = [nn.Conv2d(in_channels, cin, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
        for n in range(1, layers + 1):
            cout = scaled(features * min(2**n, 8), width)
            stride = 2 if n < layers else 1
            seq += [nn.Conv2d(cin, cout, 4, stride=stride, padding=1), nn.InstanceNorm2d(cout), nn.LeakyReLU(0.2)]
            cin = cout
        seq.append(nn.Conv2d(cin, 1, 4, stride=1, padding=1))
        self.net = nn.Sequential(*seq)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


#: the reference PatchGAN's receptive field, 70 px, over the paper's 240 px slices: the share of a slice one
#: discriminator output judges
PAPER_FIELD_FRACTION = 70 / 240


def patchgan_field(layers: int) -> int:
    """The receptive field (px) of one output of :class:`PatchGAN` with ``layers`` (70 at 3, 34 at 2, 16 at 1)."""
    strides = [2] * max(layers, 1) + [1] * (2 if layers >= 1 else 1)
    field, jump = 1, 1
    for stride in strides:  # every layer is a 4 x 4 convolution
        field += 3 * jump
        jump *= stride
    return field


def patchgan_layers(image_size: int, fraction: float = PAPER_FIELD_FRACTION, most: int = 6) -> int:
    """The PatchGAN depth whose receptive field is closest to ``fraction`` of the image side (3 at the paper's
    240 px, 2 at 128 px, 1 at 64 px, 0 at 32 px): a discriminator that judges local tissue at every image size,
    not whole anatomy at small ones."""
    target = fraction * image_size
    return min(range(most + 1), key=lambda n: (abs(patchgan_field(n) - target), n))


class MultiScalePatchGAN(nn.Module):
    """PatchGANs on the image and on copies halved in size (pix2pixHD, Wang et al. 2018): coarse scales see more of
    the slice with the same layers. Returns every scale's scores flattened side by side, (B, N), which the
    least-squares losses average like one map."""

    def __init__(self, in_channels: int, width: float = 1.0, layers: int = 3, features: int = 64, scales: int = 2):
        super().__init__()
        if scales < 1:
            raise ValueError(f"scales = {scales}: expected at least 1")
        self.scales = nn.ModuleList(PatchGAN(in_channels, width, layers, features) for _ in range(scales))
        self.halve = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scores = []
        for i, disc in enumerate(self.scales):
            if i:
                x = self.halve(x)
            scores.append(disc(x).flatten(1))
        return torch.cat(scores, dim=1)


def _layer_signature(layer: nn.Module) -> tuple | None:
    """What a grouped call must match of a PatchGAN layer; None for a layer it cannot run grouped."""
    if isinstance(layer, nn.Conv2d) and layer.groups == 1 and layer.padding_mode == "zeros":
        return ("conv", layer.weight.shape, layer.stride, layer.padding, layer.dilation, layer.bias is not None)
    if isinstance(layer, nn.InstanceNorm2d) and not layer.affine and not layer.track_running_stats:
        return ("instance-norm", layer.eps)
    if isinstance(layer, nn.LeakyReLU):
        return ("leaky-relu", layer.negative_slope)
    return None


def pairing_problem(a: nn.Module, b: nn.Module) -> str | None:
    """Why two discriminators cannot run as one grouped call (:func:`paired_patchgan`); None when they can."""
    if not (isinstance(a, PatchGAN) and isinstance(b, PatchGAN)):
        return f"needs two PatchGAN discriminators, not {type(a).__name__} and {type(b).__name__}"
    signatures = [(_layer_signature(x), _layer_signature(y)) for x, y in zip(a.net, b.net)]
    if len(a.net) != len(b.net) or any(x is None or x != y for x, y in signatures):
        return "needs two discriminators of the same layers (convolutions, instance norm without parameters, LeakyReLU)"
    return None


def paired_patchgan(
    a: PatchGAN, b: PatchGAN, x_a: torch.Tensor, x_b: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``a(x_a)`` and ``b(x_b)`` as one grouped call: the inputs side by side along the channels, each convolution
    with both networks' weights and ``groups=2``, so each half of the channels sees only its own network.

    Instance norm and LeakyReLU act on each channel of each image alone, so
    this is the same computation as two calls (up to the order of
    floating-point sums), in half the kernel launches. Check the pair with
    :func:`pairing_problem` first.
    """
    h = torch.cat([x_a, x_b], dim=1)
    for layer_a, layer_b in zip(a.net, b.net):
        if isinstance(layer_a, nn.Conv2d) and isinstance(layer_b, nn.Conv2d):
            bias = None if layer_a.bias is None or layer_b.bias is None else torch.cat([layer_a.bias, layer_b.bias])
            weight = torch.cat([layer_a.weight, layer_b.weight])
            h = F.conv2d(h, weight, bias, layer_a.stride, layer_a.padding, layer_a.dilation, groups=2)
        elif isinstance(layer_a, nn.InstanceNorm2d):
            h = F.instance_norm(h, eps=layer_a.eps)
        else:
            h = layer_a(h)
    score_a, score_b = h.chunk(2, dim=1)
    return score_a, score_b


def parameter_count(factory, *args, **kwargs) -> int:
    """Parameters of a network, built on the meta device (no memory is allocated)."""
    with torch.device("meta"):
        return sum(p.numel() for p in factory(*args, **kwargs).parameters())


@hookimpl
def register_generators():
    return [
        Spec("resnet9", ResnetGenerator, "CycleGAN reference ResNet generator, 9 blocks, ReLU, instance norm, tanh"),
    ]


@hookimpl
def register_discriminators():
    return [
        Spec("patchgan", PatchGAN, "CycleGAN reference 70 x 70 PatchGAN, instance norm, LeakyReLU 0.2"),
        Spec("patchgan-multiscale", MultiScalePatchGAN, "PatchGANs on the image and halved copies (pix2pixHD)"),
    ]
