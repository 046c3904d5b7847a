"""GAN pieces several models share: least-squares losses, the WGAN-GP penalty, the image pool, initialisation."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

INITIALISATIONS = ("normal", "xavier", "kaiming", "orthogonal")


def init_weights(module: nn.Module, kind: str = "normal", gain: float = 0.02) -> None:
    """Initialise weights as the CycleGAN reference does: convolutions and linear layers, biases to 0.

    ``normal``: N(0, gain); ``xavier``: Xavier normal with ``gain``;
    ``kaiming``: Kaiming normal (fan in); ``orthogonal``: orthogonal with
    ``gain``. Norm layers with affine parameters get N(1, gain) weights and
    zero biases.
    """
    if kind not in INITIALISATIONS:
        raise ValueError(f"unknown initialisation '{kind}'; known: {', '.join(INITIALISATIONS)}")
    for m in module.modules():
        if isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d)) and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)
            continue
        if not isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            continue
        if kind == "normal":
            nn.init.normal_(m.weight, 0.0, gain)
        elif kind == "xavier":
            nn.init.xavier_normal_(m.weight, gain=gain)
        elif kind == "kaiming":
            nn.init.kaiming_normal_(m.weight, a=0, mode="fan_in")
        else:
            nn.init.orthogonal_(m.weight, gain=gain)
        if m.bias is not None:
            nn.init.zeros_(m.bias)


def lsgan_generator(scores: torch.Tensor) -> torch.Tensor:
    """E[(1 - D(G(x)))^2]: the generator's side of the least-squares GAN, averaged over patches and batch."""
    return ((1 - scores) ** 2).mean()


def lsgan_discriminator(disc: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """The discriminator's side: E[(D(real) - 1)^2] + E[D(fake)^2], real and fake scored in one pass."""
    return lsgan_discriminator_loss(disc(torch.cat([real, fake.detach()])), real.shape[0])


def lsgan_discriminator_loss(scores: torch.Tensor, real: int) -> torch.Tensor:
    """E[(D(real) - 1)^2] + E[D(fake)^2] from the scores of ``real`` real images followed by those of the fakes."""
    real_scores, fake_scores = scores.split([real, scores.shape[0] - real])
    return ((real_scores - 1) ** 2).mean() + (fake_scores**2).mean()


class ImagePool(nn.Module):
    """The CycleGAN history of generated images, on the device and in buffers (so checkpoints hold it).

    While the pool is filling, new images are stored and returned as they
    are; once full, each new image is, with probability 1/2, returned as is,
    else swapped for a random stored image (which it replaces). Works on the
    device without host synchronisation. ``accept`` (a 0-d bool tensor)
    False leaves the pool unchanged: a step whose update was refused, or
    whose translations are not finite, stores nothing.
    """

    # buffers, registered in __init__
    images: torch.Tensor
    count: torch.Tensor

    def __init__(self, size: int, shape: tuple[int, ...]):
        super().__init__()
        self.size = size
        self.register_buffer("images", torch.zeros((max(size, 1), *shape)))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    def forward(self, fake: torch.Tensor, accept: torch.Tensor | None = None) -> torch.Tensor:
        fake = fake.detach()
        if self.size == 0:
            return fake
        batch, device = fake.shape[0], fake.device
        order = self.count + torch.arange(batch, device=device)
        filling = order < self.size
        if batch <= self.size:  # distinct slots once full, so no two writes collide
            drawn = torch.randperm(self.size, device=device)[:batch]
        else:
            drawn = torch.randint(0, self.size, (batch,), device=device)
        # while filling, swap only with already stored images
        stored_before = self.count.clamp(min=1)
        drawn = (drawn * stored_before) // self.size
        slot = torch.where(filling, order, drawn)
        swap = ~filling & (torch.rand(batch, device=device) < 0.5)
        stored = self.images[slot].to(fake.dtype)
        out = torch.where(swap.view(-1, 1, 1, 1), stored, fake)
        write = filling | swap
        if accept is not None:
            write = write & accept
        self.images[slot] = torch.where(write.view(-1, 1, 1, 1), fake, stored).to(self.images.dtype)
        added = batch if accept is None else batch * accept.long()
        self.count.copy_(torch.clamp(self.count + added, max=self.size))
        return out


def gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor
) -> torch.Tensor:
    """WGAN-GP's penalty (Gulrajani et al. 2017): E[(||grad_x critic(x_hat)||_2 - 1)^2] at random points x_hat on
    the lines between ``real`` and ``fake`` images (one mixing weight per image), the gradient's norm taken over
    every pixel and channel of an image; differentiable with respect to the critic's weights."""
    alpha = torch.rand((len(real),) + (1,) * (real.dim() - 1), device=real.device, dtype=real.dtype)
    mixed = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    scores = critic(mixed)
    (grad,) = torch.autograd.grad(scores.sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
