"""Simplex noise in torch: 3D simplex noise and its octave sum, drawn for many maps at once.

AnoDDPM (Wyatt et al. 2022) replaces the Gaussian noise of a diffusion
model by octave simplex noise: a 2D slice through 3D simplex noise, summed
over ``octaves`` with the frequency doubling and the amplitude multiplied by
``persistence`` from one octave to the next. This module draws such noise
for a whole batch on the batch's device, vectorised over every pixel of
every map, so that a sampler can draw fresh noise at each step.

The gradient noise itself is Ken Perlin's simplex noise in 3D as described
by S. Gustavson ("Simplex noise demystified", 2005): skew the input onto the
simplex grid, find the enclosing tetrahedron by ranking the fractional
coordinates, and sum each corner's radially attenuated (r^2 = 0.5, which
keeps the noise continuous) gradient contribution, with gradients picked by
hashing the corner through a permutation table. Each map gets its own
random permutation table, so maps are independent draws; all maps of one
call are slices at the same (random) depth, which lets the geometry be
computed once per call.

The octave sum is divided by its standard deviation (measured once for this
implementation, see :data:`SINGLE_OCTAVE_STD`), so that the noise has unit
variance per pixel like the Gaussian noise it replaces.
"""

from __future__ import annotations

import math

import torch

#: the 12 gradient directions of 3D simplex noise (midpoints of a cube's edges)
_GRADIENTS = (
    (1, 1, 0),
    (-1, 1, 0),
    (1, -1, 0),
    (-1, -1, 0),
    (1, 0, 1),
    (-1, 0, 1),
    (1, 0, -1),
    (-1, 0, -1),
    (0, 1, 1),
    (0, -1, 1),
    (0, 1, -1),
    (0, -1, -1),
)
_F3, _G3 = 1.0 / 3.0, 1.0 / 6.0
#: squared radius of a corner's influence (0.5 keeps the noise continuous across simplex boundaries)
_RADIUS2 = 0.5
#: standard deviation of one octave of :func:`simplex3` over random positions (measured on 2^22 points)
SINGLE_OCTAVE_STD = 0.00511


_GRADIENT_TABLES: dict[tuple[torch.device, torch.dtype], torch.Tensor] = {}


def _gradients(device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """The gradient table on ``device``, copied there once (no host-to-device copy inside a training step)."""
    key = (device, dtype)
    if key not in _GRADIENT_TABLES:
        _GRADIENT_TABLES[key] = torch.tensor(_GRADIENTS, dtype=dtype).to(device)
    return _GRADIENT_TABLES[key]


def random_permutations(
    n: int, generator: torch.Generator | None = None, device: torch.device | None = None
) -> torch.Tensor:
    """(n, 512) long: one random permutation of 0..255 per map, repeated twice (so hashing never wraps)."""
    keys = torch.rand(n, 256, generator=generator, device=device)
    perm = keys.argsort(dim=1)
    return torch.cat([perm, perm], dim=1)


def simplex3(x: torch.Tensor, y: torch.Tensor, z: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
    """3D simplex noise at P points (x, y, z), each (P,), for N maps with permutation tables ``perm`` (N, 512).

    The points are shared by all maps; a map differs from another by its
    permutation alone, so the geometry (which tetrahedron, each corner's
    offset and weight, its 12 possible gradient products) is computed once
    and only the hashing runs per map. Returns (N, P), unscaled (see
    :data:`SINGLE_OCTAVE_STD`).
    """
    s = (x + y + z) * _F3
    i, j, k = torch.floor(x + s), torch.floor(y + s), torch.floor(z + s)
    t = (i + j + k) * _G3
    x0, y0, z0 = x - (i - t), y - (j - t), z - (k - t)
    # rank of each fractional coordinate among the three (2 = largest): the tetrahedron's corner offsets
    a, b, c = (x0 >= y0).long(), (x0 >= z0).long(), (y0 >= z0).long()
    rank_x, rank_y, rank_z = a + b, (1 - a) + c, (1 - b) + (1 - c)
    first = [(r == 2).long() for r in (rank_x, rank_y, rank_z)]  # the largest coordinate steps first
    second = [(r >= 1).long() for r in (rank_x, rank_y, rank_z)]  # then the second largest
    ii, jj, kk = (i.long() & 255), (j.long() & 255), (k.long() & 255)
    gradients = _gradients(x.device, x.dtype)  # (12, 3)
    n = perm.shape[0]

    def corner(
        dx: torch.Tensor,
        dy: torch.Tensor,
        dz: torch.Tensor,
        oi: torch.Tensor | int,
        oj: torch.Tensor | int,
        ok: torch.Tensor | int,
    ) -> torch.Tensor:
        weight = (_RADIUS2 - dx * dx - dy * dy - dz * dz).clamp(min=0).pow(4)
        products = weight * (gradients @ torch.stack([dx, dy, dz]))  # (12, P): the 12 possible contributions
        h = torch.gather(perm, 1, (kk + ok).expand(n, -1))
        h = torch.gather(perm, 1, h + (jj + oj))
        h = torch.gather(perm, 1, h + (ii + oi)) % 12
        return torch.gather(products, 0, h)

    total = corner(x0, y0, z0, 0, 0, 0)
    total += corner(x0 - first[0] + _G3, y0 - first[1] + _G3, z0 - first[2] + _G3, *first)
    total += corner(x0 - second[0] + 2 * _G3, y0 - second[1] + 2 * _G3, z0 - second[2] + 2 * _G3, *second)
    total += corner(x0 - 1 + 3 * _G3, y0 - 1 + 3 * _G3, z0 - 1 + 3 * _G3, 1, 1, 1)
    return total


def octave_simplex_noise(
    shape: tuple[int, ...],
    period: float,
    octaves: int = 6,
    persistence: float = 0.8,
    generator: torch.Generator | None = None,
    device: torch.device | None = None,
) -> torch.Tensor:
    """Octave simplex noise of ``shape`` (..., H, W) with unit variance per pixel.

    Every (H, W) map is an independent draw: a random 2D slice of 3D simplex
    noise. The first octave has a period of ``period`` pixels (AnoDDPM: 64,
    i.e. frequency 2^-6); each further octave halves the period and
    multiplies the amplitude by ``persistence``.
    """
    *lead, height, width = shape
    n = math.prod(lead)
    perm = random_permutations(n, generator, device)
    depth = torch.rand((), generator=generator, device=device) * 256.0  # a tensor: no host sync
    rows = torch.arange(height, device=device, dtype=torch.float32)
    cols = torch.arange(width, device=device, dtype=torch.float32)
    grid_y = rows.view(-1, 1).expand(height, width).reshape(-1)
    grid_x = cols.view(1, -1).expand(height, width).reshape(-1)
    total = torch.zeros(n, height * width, device=device)
    amplitude, power = 1.0, 0.0
    for octave in range(octaves):
        frequency = (2.0**octave) / period
        total += amplitude * simplex3(
            grid_x * frequency, grid_y * frequency, (depth * frequency).expand_as(grid_x), perm
        )
        power += amplitude * amplitude
        amplitude *= persistence
    return (total / (SINGLE_OCTAVE_STD * math.sqrt(power))).view(*lead, height, width)
