"""PathoGAN's options: :class:`PathoGANConfig`, the ``[model_options]`` table of a run config.

Choices where the paper is open:

- Optimisation: Adam, lr 2e-4, betas (0.5, 0.999) for the generators and the
  discriminators; the rate is constant for the first ``decay_start`` (0.5) of
  the steps, then decays linearly to zero (CycleGAN: 100 + 100 epochs).
- Initialisation: N(0, 0.02) weights, zero biases (``init``, ``init_gain``).
- Image pool: the last 50 translations per domain, kept in buffers (so
  checkpoints hold it); once full, each new image is returned with
  probability 1/2, else swapped for a stored one. A batch with a non-finite
  translation is not stored.
- eps of eq. 6: standard normal (``label_noise`` = its std), in every training
  pass (the translations, the cycles and the identity passes); 0 in
  ``segment``, ``translate``, ``sample`` and ``preview``.
- Encodings: in training gamma and delta_B are drawn by the
  reparameterisation trick from their encoder's N(mean, exp(logvar)); at test
  time the means are used. delta_B is drawn from N(0, I) for a real healthy
  image (the A -> B -> A cycle) and for ``sample``; in the B -> A -> B cycle it
  is Delta_B(l_B * x_B), with gradients through l_B (the paper does not hold
  it constant; ``detach_label_in_delta`` holds it constant). The KL (eq. 9)
  covers Gamma_A(x_A) and Delta_B(l_B * x_B).
- Identity passes (eq. 4, 14): G_A on x_B with delta_B = 0 and G_B on x_A;
  the loss is on their label maps.
- Loss terms (``pathogan_bench_plugins.models.pathogan.loss_terms``): means over pixels, channels
  and batch, both directions summed; omega in eq. 11-12 with eps = 1 pixel,
  held constant; eq. 13 as a binary cross-entropy computed from the label
  logit (exact, no clamping); "L_VAE for both directions" as the same three
  likelihoods on G_B's outputs; KL averaged over latent dimensions.
- Mixed precision: bf16 autocast on CUDA when ``ctx.amp``; the step's tensors
  are cast to float32 before the loss terms. channels_last when
  ``ctx.channels_last``.

Independent generator passes run as one batch (G_A on [x_A, x_B]; G_B on
[x_B, y_B, x_A]): instance norm normalises each image on its own, so this
is the same computation as separate calls, with fewer, larger kernels
(``batched_passes``; false runs one call per pass). The step's random
draws are made in one place, in one order, so both ways draw the same
numbers. ``paired_discriminators`` also evaluates D_A and D_B as one
grouped call (their PatchGAN layers side by side, each group of channels
seeing only its own network's weights): the same computation again; off
by default, since on the CPU the grouped call is no faster than two.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from pathogan_bench_plugins.shared.networks import UPSAMPLING

from .networks import BOTTLENECKS

#: values of PathoGANConfig.discriminator_field and .threshold_rule
FIELDS = ("image-fraction", "reference")
THRESHOLD_RULES = ("slice-labels", "fixed")


@dataclass
class PathoGANConfig:
    """PathoGAN's options, the ``[model_options]`` of a run config."""

    #: multiplier of every network's feature counts (1 = the paper's networks)
    width: float = 1.0
    #: length of each encoding gamma_A, delta_B
    z: int = 256
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    #: fraction of the steps after which the learning rate decays linearly to zero
    decay_start: float = 0.5
    #: translations kept per domain for the discriminators (0: none)
    pool_size: int = 50
    #: weight initialisation: normal, xavier, kaiming, orthogonal, or "network" (keep the network's own)
    init: str = "normal"
    init_gain: float = 0.02
    #: Z_A (healthy -> pathological), a generator with the VAE interface
    generator_a: str = "pathogan-vae"
    #: Z_B (pathological -> healthy)
    generator_b: str = "pathogan-residual"
    discriminator: str = "patchgan"
    generator_a_options: dict[str, Any] = field(default_factory=dict)
    generator_b_options: dict[str, Any] = field(default_factory=dict)
    discriminator_options: dict[str, Any] = field(default_factory=dict)
    #: standard deviation of eps added to r0 in training (eq. 6)
    label_noise: float = 1.0
    #: hold G_B's label map l_B constant in delta_B = Delta_B(l_B * x_B) of the B -> A -> B cycle (training)
    detach_label_in_delta: bool = False
    #: run the independent generator passes of a training step as batched calls (false: one call per pass)
    batched_passes: bool = True
    #: evaluate D_A and D_B as one grouped call (PatchGAN discriminators only)
    paired_discriminators: bool = False
    #: how much of the slice one discriminator output judges: "image-fraction" (the paper's 70 of 240 px at every
    #: image size: PatchGAN layers from pathogan_bench_plugins.shared.networks.patchgan_layers) or "reference" (the
    #: reference's 70 px whatever the size); a "layers" in discriminator_options wins
    discriminator_field: str = "image-fraction"
    #: the VAE's bottlenecks: "paper-values" (at least the paper's number of values at any size) or "paper-layers"
    bottleneck: str = "paper-values"
    #: how the generators double the size: "transposed" (the paper) or "resize" (nearest, then a convolution)
    upsampling: str = "transposed"
    #: how the threshold of the label map is chosen after training: "slice-labels" (the one whose masks best tell
    #: the validation patients' pathological slices from their healthy ones: slice labels only) or "fixed" (0.5)
    threshold_rule: str = "slice-labels"
    #: decay of an exponential moving average of the generators' weights, which then segment, translate and sample
    #: (0: off; 0.999 averages over about the last thousand steps)
    ema: float = 0.0
    #: a mean label map l_B on the pathological training images below this, after a tenth of the steps, is reported
    #: as a collapse to the identity (nothing marked, nothing inpainted)
    collapse_area: float = 1e-3

    def check(self) -> None:
        """Raise ValueError naming the first option out of range."""
        positive = {"width": self.width, "lr": self.lr, "z": self.z}
        for name, value in positive.items():
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name} = {value!r}: expected a finite number > 0")
        if not isinstance(self.z, int):
            raise ValueError(f"z = {self.z!r}: expected an integer >= 1")
        if self.pool_size < 0:
            raise ValueError(f"pool_size = {self.pool_size}: expected >= 0")
        if not 0 <= self.decay_start <= 1:
            raise ValueError(f"decay_start = {self.decay_start}: expected a fraction in [0, 1]")
        if not (isinstance(self.betas, (list, tuple)) and len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas)):
            raise ValueError(f"betas = {self.betas!r}: expected two numbers in [0, 1)")
        if not math.isfinite(self.label_noise) or self.label_noise < 0:
            raise ValueError(f"label_noise = {self.label_noise}: expected a finite number >= 0")
        for name, allowed in (
            ("discriminator_field", FIELDS),
            ("bottleneck", BOTTLENECKS),
            ("upsampling", UPSAMPLING),
            ("threshold_rule", THRESHOLD_RULES),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} = {getattr(self, name)!r}: expected one of {', '.join(allowed)}")
        if not isinstance(self.ema, (int, float)) or not 0 <= self.ema < 1:
            raise ValueError(f"ema = {self.ema!r}: expected a decay in [0, 1) (0: off)")
        if not isinstance(self.collapse_area, (int, float)) or not 0 <= self.collapse_area < 1:
            raise ValueError(f"collapse_area = {self.collapse_area!r}: expected a fraction in [0, 1)")
        for name in ("detach_label_in_delta", "batched_passes", "paired_discriminators"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} = {getattr(self, name)!r}: expected true or false")
        self.betas = (float(self.betas[0]), float(self.betas[1]))  # a TOML config gives a list
