"""PathoGAN's generators (section 2.4): Z_B, a residual network, and Z_A, a VAE of encoders Gamma_A, Delta_B
and decoder E_A; in the layer notation of :mod:`pathogan_bench_plugins.shared.networks`.

The sizes of the fully connected layers follow the encoding size ``z`` and
``i = image_size / 16`` (15 at the paper's 240 px).
"""

from __future__ import annotations

import torch
from torch import nn

from pathogan_bench.plugin import ModelOptionsError
from pathogan_bench_plugins.shared.gan import init_weights
from pathogan_bench_plugins.shared.networks import ResidualBlock, conv, conv_norm_act, down, scaled, up

#: what G_A's network must provide (see VAEGenerator)
VAE_INTERFACE = ("encode_anatomy", "encode_pathology", "decode")


def check_vae_interface(name: str, network: object) -> None:
    """Raise ModelOptionsError when G_A's network lacks a method of the VAE interface."""
    missing = [m for m in VAE_INTERFACE if not callable(getattr(network, m, None))]
    if missing:
        raise ModelOptionsError(
            f"generator_a '{name}' lacks the VAE methods {', '.join(missing)} that Z_A needs (see pathogan-vae)"
        )


#: downsampling factor of the encoders (four ``df`` layers)
DOWNSAMPLING = 16


def _bottleneck_size(image_size: int) -> int:
    if image_size % DOWNSAMPLING or image_size < DOWNSAMPLING:
        raise ValueError(
            f"image size {image_size} must be a positive multiple of {DOWNSAMPLING} (the encoders halve it four times)"
        )
    return image_size // DOWNSAMPLING


# -- Z_B --------------------------------------------------------------------------------------------------------------


class ResidualGenerator(nn.Module):
    """Z_B: ``c7-64, d128, d256, R256 x 9, u128, u64, C7-r`` with ELU, no bottleneck.

    Outputs the raw maps r (no final activation): the model turns r0 into the
    label map and r1..n into the inpaintings (eq. 6).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        image_size: int = 240,
        width: float = 1.0,
        blocks: int = 9,
        upsampling: str = "transposed",
    ):
        super().__init__()
        if image_size % 4:
            raise ValueError(f"image size {image_size} must be a multiple of 4 (two d layers)")
        f64, f128, f256 = scaled(64, width), scaled(128, width), scaled(256, width)
        self.net = nn.Sequential(
            conv_norm_act(in_channels, f64, 7),
            down(f64, f128),
            down(f128, f256),
            *[ResidualBlock(f256) for _ in range(blocks)],
            up(f256, f128, upsampling=upsampling),
            up(f128, f64, upsampling=upsampling),
            conv(f64, out_channels, 7),
        )
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


# -- Z_A: Gamma_A, Delta_B and E_A -------------------------------------------------------------------------------------


#: the paper's bottlenecks at 240 px: C1-15 keeps 15 x 15 x 15 values, F2Q a 15 x 15 square
PAPER_ENCODER_VALUES, PAPER_DECODER_VALUES = 15 * 15 * 15, 15 * 15
#: how the bottleneck scales: "paper-values" keeps at least the paper's number of values at any image size and width
#: (more channels where the map is smaller than 15 x 15); "paper-layers" the paper's channel counts times the width
BOTTLENECKS = ("paper-values", "paper-layers")


def bottleneck_channels(kind: str, i: int, paper_channels: int, paper_values: int, width: float) -> int:
    """Channels of a bottleneck map of i x i (the paper's 15 x 15 at 240 px)."""
    if kind not in BOTTLENECKS:
        raise ValueError(f"bottleneck = {kind!r}: expected one of {', '.join(BOTTLENECKS)}")
    layers = scaled(paper_channels, width)
    return layers if kind == "paper-layers" else max(layers, -(-paper_values // (i * i)))


class Encoder(nn.Module):
    """Gamma_A / Delta_B: ``c7-64, d128, d256, d512, d1024, C1-15, Q2F, l(z*i)t, l(2*z)``.

    Returns the mean and log-variance of the encoding, each (B, z).
    """

    def __init__(
        self,
        in_channels: int,
        image_size: int = 240,
        width: float = 1.0,
        z: int = 256,
        bottleneck: str = "paper-layers",
    ):
        super().__init__()
        i = _bottleneck_size(image_size)
        f = [scaled(n, width) for n in (64, 128, 256, 512, 1024)]
        squeezed = bottleneck_channels(bottleneck, i, 15, PAPER_ENCODER_VALUES, width)
        self.features = nn.Sequential(
            conv_norm_act(in_channels, f[0], 7),
            down(f[0], f[1]),
            down(f[1], f[2]),
            down(f[2], f[3]),
            down(f[3], f[4]),
            conv(f[4], squeezed, 1),
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

    def __init__(
        self,
        out_channels: int,
        image_size: int = 240,
        width: float = 1.0,
        z: int = 256,
        blocks: int = 9,
        bottleneck: str = "paper-layers",
        upsampling: str = "transposed",
    ):
        super().__init__()
        self.i = i = _bottleneck_size(image_size)
        # the paper's F2Q makes one 15 x 15 channel; "paper-values" keeps its 225 values on smaller maps
        self.channels = c = bottleneck_channels(bottleneck, i, 1, PAPER_DECODER_VALUES, 1.0)
        f = {n: scaled(n, width) for n in (64, 128, 256, 512, 1024)}
        self.head = nn.Sequential(nn.Linear(2 * z, c * i * i), nn.ELU(), nn.Linear(c * i * i, c * i * i))
        self.body = nn.Sequential(
            conv_norm_act(c, f[1024], 3),
            up(f[1024], f[512], upsampling=upsampling),
            up(f[512], f[256], upsampling=upsampling),
            conv(f[256], f[256], 7, nn.ELU),
            *[ResidualBlock(f[256]) for _ in range(blocks)],
            up(f[256], f[128], upsampling=upsampling),
            up(f[128], f[64], upsampling=upsampling),
            conv(f[64], out_channels, 7),
        )

    def forward(self, gamma: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
        square = self.head(torch.cat([gamma, delta], dim=1)).view(-1, self.channels, self.i, self.i)
        return self.body(square)


class VAEGenerator(nn.Module):
    """Z_A: encoders Gamma_A (healthy anatomy) and Delta_B (pathology) and the decoder E_A.

    ``encode_anatomy(x)`` = Gamma_A(x), ``encode_pathology(l * x)`` =
    Delta_B(l * x), each returning (mean, log-variance); ``decode(gamma,
    delta)`` = E_A(gamma, delta), the raw maps r. ``forward(x, delta)`` is
    the deterministic Z_A(x, delta) = E_A(mean of Gamma_A(x), delta), with
    delta = 0 when not given.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        image_size: int = 240,
        width: float = 1.0,
        z: int = 256,
        blocks: int = 9,
        bottleneck: str = "paper-layers",
        upsampling: str = "transposed",
    ):
        super().__init__()
        self.anatomy_encoder = Encoder(in_channels, image_size, width, z, bottleneck)
        self.pathology_encoder = Encoder(in_channels, image_size, width, z, bottleneck)
        self.decoder = Decoder(out_channels, image_size, width, z, blocks, bottleneck, upsampling)
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
