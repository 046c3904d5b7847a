"""Generator and discriminator networks, in the paper's layer notation (section 2.4).

``ck-f``: k x k convolution, instance norm, ELU; ``Ck-f``: convolution only;
``df``: stride-2 3 x 3 convolution, instance norm, ELU; ``uf``: stride-2
transposed convolution, instance norm, ELU; ``Rf``: residual block
(conv3, IN, ELU, conv3, added to the input); ``l(f)``: fully connected;
a trailing ``t`` / ``e``: an extra tanh / ELU. Every feature count is
scaled by ``width`` so the same code runs at 1/8 width in tests.
"""

from __future__ import annotations

import torch
from torch import nn

from pathogan_bench.hookspecs import hookimpl
from pathogan_bench.registry import Spec


def _f(features: int, width: float) -> int:
    return max(1, int(round(features * width)))


def conv_block(cin: int, cout: int, k: int, act: type[nn.Module] = nn.ELU) -> nn.Sequential:
    """``ck-f``: reflection-padded convolution, instance norm, activation."""
    return nn.Sequential(nn.ReflectionPad2d(k // 2), nn.Conv2d(cin, cout, k), nn.InstanceNorm2d(cout), act())


def down(cin: int, cout: int, act: type[nn.Module] = nn.ELU) -> nn.Sequential:
    """``df``: stride-2 3 x 3 convolution, instance norm, activation."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=2, padding=1), nn.InstanceNorm2d(cout), act())


def up(cin: int, cout: int, act: type[nn.Module] = nn.ELU) -> nn.Sequential:
    """``uf``: stride-2 transposed convolution doubling the size, instance norm, activation."""
    return nn.Sequential(nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1),
                         nn.InstanceNorm2d(cout), act())


class ResidualBlock(nn.Module):
    """``Rf``: x + conv3(act(IN(conv3(x)))) (with an IN after the second conv, as in CycleGAN)."""

    def __init__(self, features: int, act: type[nn.Module] = nn.ELU):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(features, features, 3), nn.InstanceNorm2d(features), act(),
            nn.ReflectionPad2d(1), nn.Conv2d(features, features, 3), nn.InstanceNorm2d(features),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def init_weights(module: nn.Module, std: float = 0.02) -> None:
    """Normal(0, 0.02) weights and zero biases, the CycleGAN reference's initialisation."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class ResidualGenerator(nn.Module):
    """Z_B: ``c7-64, d128, d256, R256 x 9, u128, u64, C7-r`` with ELU, no bottleneck."""

    def __init__(self, in_channels: int, out_channels: int, image_size: int = 240, width: float = 1.0,
                 blocks: int = 9):
        super().__init__()
        f64, f128, f256 = _f(64, width), _f(128, width), _f(256, width)
        self.net = nn.Sequential(
            conv_block(in_channels, f64, 7), down(f64, f128), down(f128, f256),
            *[ResidualBlock(f256) for _ in range(blocks)],
            up(f256, f128), up(f128, f64), nn.ReflectionPad2d(3), nn.Conv2d(f64, out_channels, 7),
        )
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Encoder(nn.Module):
    """Gamma_A / Delta_B: ``c7-64, d128, d256, d512, d1024, C1-15, Q2F, l(z*i)t, l(2*z)`` -> (mu, logvar)."""

    def __init__(self, in_channels: int, image_size: int, width: float, z: int):
        super().__init__()
        if image_size % 16:
            raise ValueError(f"image size {image_size} must be divisible by 16 (four stride-2 steps)")
        i = image_size // 16
        f = [_f(n, width) for n in (64, 128, 256, 512, 1024)]
        self.conv = nn.Sequential(
            conv_block(in_channels, f[0], 7), down(f[0], f[1]), down(f[1], f[2]), down(f[2], f[3]), down(f[3], f[4]),
            nn.Conv2d(f[4], 15, 1),
        )
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(15 * i * i, z * i), nn.Tanh(), nn.Linear(z * i, 2 * z))
        self.z = z

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.fc(self.conv(x)).chunk(2, dim=1)
        return mu, logvar


class Decoder(nn.Module):
    """E_A: ``l(i*i)e, l(i*i), F2Q, c3-1024, u512, u256, C7-256e, R256 x 9, u128, u64, C7-r``."""

    def __init__(self, out_channels: int, image_size: int, width: float, z: int, blocks: int = 9):
        super().__init__()
        self.i = image_size // 16
        ii = self.i * self.i
        f = {n: _f(n, width) for n in (64, 128, 256, 512, 1024)}
        self.fc = nn.Sequential(nn.Linear(2 * z, ii), nn.ELU(), nn.Linear(ii, ii))
        self.conv = nn.Sequential(
            conv_block(1, f[1024], 3), up(f[1024], f[512]), up(f[512], f[256]),
            nn.ReflectionPad2d(3), nn.Conv2d(f[256], f[256], 7), nn.ELU(),
            *[ResidualBlock(f[256]) for _ in range(blocks)],
            up(f[256], f[128]), up(f[128], f[64]), nn.ReflectionPad2d(3), nn.Conv2d(f[64], out_channels, 7),
        )

    def forward(self, gamma: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
        square = self.fc(torch.cat([gamma, delta], dim=1)).view(-1, 1, self.i, self.i)
        return self.conv(square)


class VAEGenerator(nn.Module):
    """Z_A: encoders Gamma_A (healthy anatomy) and Delta_B (pathology) and decoder E_A."""

    def __init__(self, in_channels: int, out_channels: int, image_size: int = 240, width: float = 1.0, z: int = 256):
        super().__init__()
        self.gamma = Encoder(in_channels, image_size, width, z)
        self.delta = Encoder(in_channels, image_size, width, z)
        self.decoder = Decoder(out_channels, image_size, width, z)
        self.z = z
        init_weights(self)

    def forward(self, gamma: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
        return self.decoder(gamma, delta)


class ResnetGenerator(nn.Module):
    """The CycleGAN reference ResNet generator (9 blocks, ReLU, instance norm, tanh output)."""

    def __init__(self, in_channels: int, out_channels: int, image_size: int = 240, width: float = 1.0,
                 blocks: int = 9):
        super().__init__()
        f64, f128, f256 = _f(64, width), _f(128, width), _f(256, width)
        self.net = nn.Sequential(
            conv_block(in_channels, f64, 7, nn.ReLU), down(f64, f128, nn.ReLU), down(f128, f256, nn.ReLU),
            *[ResidualBlock(f256, nn.ReLU) for _ in range(blocks)],
            up(f256, f128, nn.ReLU), up(f128, f64, nn.ReLU), nn.ReflectionPad2d(3), nn.Conv2d(f64, out_channels, 7),
            nn.Tanh(),
        )
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class PatchGAN(nn.Module):
    """The 70 x 70 PatchGAN of the CycleGAN reference: C64-C128-C256-C512, 4 x 4 kernels, LeakyReLU 0.2."""

    def __init__(self, in_channels: int, width: float = 1.0, layers: int = 3):
        super().__init__()
        f = _f(64, width)
        seq: list[nn.Module] = [nn.Conv2d(in_channels, f, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
        cin = f
        for n in range(1, layers + 1):
            cout = _f(64 * min(2 ** n, 8), width)
            seq += [nn.Conv2d(cin, cout, 4, stride=2 if n < layers else 1, padding=1), nn.InstanceNorm2d(cout),
                    nn.LeakyReLU(0.2)]
            cin = cout
        seq.append(nn.Conv2d(cin, 1, 4, stride=1, padding=1))
        self.net = nn.Sequential(*seq)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@hookimpl
def register_generators():
    return [
        Spec("pathogan-vae", VAEGenerator),
        Spec("pathogan-residual", ResidualGenerator),
        Spec("resnet9", ResnetGenerator),
    ]


@hookimpl
def register_discriminators():
    return [Spec("patchgan", PatchGAN)]
