"""Generator and discriminator networks, in the paper's layer notation (section 2.4).

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
same code runs at 1/8 width on 32-64 px images in tests. The sizes of the
fully connected layers follow the encoding size ``z`` and ``i = image_size /
16`` (15 at the paper's 240 px) instead.

Registered generators (factory ``(in_channels, out_channels, image_size,
width=1.0, **options)``): ``pathogan-vae`` (Z_A), ``pathogan-residual`` (Z_B),
``resnet9`` (the CycleGAN reference generator). Registered discriminator
(factory ``(in_channels, width=1.0, **options)``): ``patchgan``.
"""

from __future__ import annotations

import torch
from torch import nn

from pathogan_bench.plugin import Spec, hookimpl
from pathogan_bench_plugins.gan import init_weights

#: downsampling factor of the encoders (four ``df`` layers)
DOWNSAMPLING = 16


def scaled(features: int, width: float) -> int:
    """A feature count multiplied by the width multiplier, at least 1."""
    return max(1, int(round(features * width)))


# -- layers in the paper's notation ---------------------------------------------------------------------------------

def conv(cin: int, cout: int, k: int, act: type[nn.Module] | None = None) -> nn.Sequential:
    """``Ck-f`` (``act`` None) or ``Ck-f`` + activation: reflection-padded stride-1 convolution."""
    layers: list[nn.Module] = [nn.ReflectionPad2d(k // 2)] if k > 1 else []
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


def up(cin: int, cout: int, act: type[nn.Module] = nn.ELU) -> nn.Sequential:
    """``uf``: stride-2 3 x 3 transposed convolution doubling the size, instance norm, activation."""
    return nn.Sequential(nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1),
                         nn.InstanceNorm2d(cout), act())


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


def _bottleneck_size(image_size: int) -> int:
    if image_size % DOWNSAMPLING or image_size < DOWNSAMPLING:
        raise ValueError(f"image size {image_size} must be a positive multiple of {DOWNSAMPLING} "
                         "(the encoders halve it four times)")
    return image_size // DOWNSAMPLING


# -- Z_B --------------------------------------------------------------------------------------------------------------

class ResidualGenerator(nn.Module):
    """Z_B: ``c7-64, d128, d256, R256 x 9, u128, u64, C7-r`` with ELU, no bottleneck.

    Outputs the raw maps r (no final activation): the model turns r0 into the
    label map and r1..n into the inpaintings (eq. 6).
    """

    def __init__(self, in_channels: int, out_channels: int, image_size: int = 240, width: float = 1.0,
                 blocks: int = 9):
        super().__init__()
        if image_size % 4:
            raise ValueError(f"image size {image_size} must be a multiple of 4 (two d layers)")
        f64, f128, f256 = scaled(64, width), scaled(128, width), scaled(256, width)
        self.net = nn.Sequential(
            conv_norm_act(in_channels, f64, 7), down(f64, f128), down(f128, f256),
            *[ResidualBlock(f256) for _ in range(blocks)],
            up(f256, f128), up(f128, f64), conv(f64, out_channels, 7),
        )
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


# -- Z_A: Gamma_A, Delta_B and E_A -------------------------------------------------------------------------------------

class Encoder(nn.Module):
    """Gamma_A / Delta_B: ``c7-64, d128, d256, d512, d1024, C1-15, Q2F, l(z*i)t, l(2*z)``.

    Returns the mean and log-variance of the encoding, each (B, z).
    """

    def __init__(self, in_channels: int, image_size: int = 240, width: float = 1.0, z: int = 256):
        super().__init__()
        i = _bottleneck_size(image_size)
        f = [scaled(n, width) for n in (64, 128, 256, 512, 1024)]
        squeezed = scaled(15, width)
        self.features = nn.Sequential(
            conv_norm_act(in_channels, f[0], 7), down(f[0], f[1]), down(f[1], f[2]), down(f[2], f[3]),
            down(f[3], f[4]), conv(f[4], squeezed, 1),
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(squeezed * i * i, z * i), nn.Tanh(), nn.Linear(z * i, 2 * z))
        self.z = z

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, logvar = self.head(self.features(x)).chunk(2, dim=1)
        return mean, logvar


class Decoder(nn.Module):
    """E_A: ``l(i*i)e, l(i*i), F2Q, c3-1024, u512, u256, C7-256e, R256 x 9, u128, u64, C7-r``.

    Takes the concatenation of gamma_A and delta_B (2z values) and returns
    the raw maps r at the full image size.
    """

    def __init__(self, out_channels: int, image_size: int = 240, width: float = 1.0, z: int = 256, blocks: int = 9):
        super().__init__()
        self.i = i = _bottleneck_size(image_size)
        f = {n: scaled(n, width) for n in (64, 128, 256, 512, 1024)}
        self.head = nn.Sequential(nn.Linear(2 * z, i * i), nn.ELU(), nn.Linear(i * i, i * i))
        self.body = nn.Sequential(
            conv_norm_act(1, f[1024], 3), up(f[1024], f[512]), up(f[512], f[256]), conv(f[256], f[256], 7, nn.ELU),
            *[ResidualBlock(f[256]) for _ in range(blocks)],
            up(f[256], f[128]), up(f[128], f[64]), conv(f[64], out_channels, 7),
        )

    def forward(self, gamma: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
        square = self.head(torch.cat([gamma, delta], dim=1)).view(-1, 1, self.i, self.i)
        return self.body(square)


class VAEGenerator(nn.Module):
    """Z_A: encoders Gamma_A (healthy anatomy) and Delta_B (pathology) and the decoder E_A.

    ``encode_anatomy(x)`` = Gamma_A(x), ``encode_pathology(l * x)`` =
    Delta_B(l * x), each returning (mean, log-variance); ``decode(gamma,
    delta)`` = E_A(gamma, delta), the raw maps r. ``forward(x, delta)`` is
    the deterministic Z_A(x, delta) = E_A(mean of Gamma_A(x), delta), with
    delta = 0 when not given.
    """

    def __init__(self, in_channels: int, out_channels: int, image_size: int = 240, width: float = 1.0, z: int = 256,
                 blocks: int = 9):
        super().__init__()
        self.anatomy_encoder = Encoder(in_channels, image_size, width, z)
        self.pathology_encoder = Encoder(in_channels, image_size, width, z)
        self.decoder = Decoder(out_channels, image_size, width, z, blocks)
        self.z = z
        init_weights(self)

    def encode_anatomy(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.anatomy_encoder(x)

    def encode_pathology(self, masked: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.pathology_encoder(masked)

    def decode(self, gamma: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
        return self.decoder(gamma, delta)

    def forward(self, x: torch.Tensor, delta: torch.Tensor | None = None) -> torch.Tensor:
        gamma, _ = self.encode_anatomy(x)
        if delta is None:
            delta = torch.zeros_like(gamma)
        return self.decode(gamma, delta)


# -- CycleGAN reference networks ---------------------------------------------------------------------------------------

class ResnetGenerator(nn.Module):
    """The CycleGAN reference ResNet generator: c7s1-64, d128, d256, R256 x 9, u128, u64, c7s1-out, tanh.

    ReLU and instance norm (also after the second convolution of each block),
    no dropout.
    """

    def __init__(self, in_channels: int, out_channels: int, image_size: int = 240, width: float = 1.0,
                 blocks: int = 9):
        super().__init__()
        f64, f128, f256 = scaled(64, width), scaled(128, width), scaled(256, width)
        self.net = nn.Sequential(
            conv_norm_act(in_channels, f64, 7, nn.ReLU), down(f64, f128, nn.ReLU), down(f128, f256, nn.ReLU),
            *[ResidualBlock(f256, nn.ReLU, norm_after_second=True) for _ in range(blocks)],
            up(f256, f128, nn.ReLU), up(f128, f64, nn.ReLU), conv(f64, out_channels, 7, nn.Tanh),
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
            cout = scaled(features * min(2 ** n, 8), width)
            stride = 2 if n < layers else 1
            seq += [nn.Conv2d(cin, cout, 4, stride=stride, padding=1), nn.InstanceNorm2d(cout), nn.LeakyReLU(0.2)]
            cin = cout
        seq.append(nn.Conv2d(cin, 1, 4, stride=1, padding=1))
        self.net = nn.Sequential(*seq)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def parameter_count(factory, *args, **kwargs) -> int:
    """Parameters of a network, built on the meta device (no memory is allocated)."""
    with torch.device("meta"):
        return sum(p.numel() for p in factory(*args, **kwargs).parameters())


@hookimpl
def register_generators():
    return [
        Spec("pathogan-vae", VAEGenerator,
             "PathoGAN's Z_A: VAE with encoders Gamma_A, Delta_B and decoder E_A (healthy -> pathological)"),
        Spec("pathogan-residual", ResidualGenerator,
             "PathoGAN's Z_B: ResNet with ELU, no bottleneck (pathological -> healthy)"),
        Spec("resnet9", ResnetGenerator, "CycleGAN reference ResNet generator, 9 blocks, ReLU, instance norm, tanh"),
    ]


@hookimpl
def register_discriminators():
    return [Spec("patchgan", PatchGAN, "CycleGAN reference 70 x 70 PatchGAN, instance norm, LeakyReLU 0.2")]
