"""PathoGAN (Andermatt et al. 2018), the model this toolkit is built around, in one folder:

- ``model.py``: the model (networks' wiring, training step, segmentation, sampling);
- ``config.py``: ``PathoGANConfig``, its options;
- ``translation.py``: the residual translation of eq. 6 and a training step's random draws;
- ``step.py``: ``TranslationStep``, the forward pass that loss terms read (the loss-term contract);
- ``loss_terms.py``: the paper's loss terms (eq. 7-15) and loss sets (eq. 16-17);
- ``networks.py``: its generators Z_A (``pathogan-vae``) and Z_B (``pathogan-residual``);
- ``commands.py``: ``pathogan-bench sample``.

Registered through the ``pathogan_bench`` entry-point group like any third-party plugin.
"""

from __future__ import annotations

from pathogan_bench.plugin import Spec, hookimpl

from .config import PathoGANConfig
from .loss_terms import register_loss_sets, register_loss_terms
from .model import PathoGAN
from .networks import ResidualGenerator, VAEGenerator
from .step import TranslationStep

__all__ = ["PathoGAN", "PathoGANConfig", "TranslationStep", "register_loss_sets", "register_loss_terms"]


@hookimpl
def register_models() -> list[type]:
    return [PathoGAN]


@hookimpl
def register_generators() -> list[Spec]:
    return [
        Spec(
            "pathogan-vae",
            VAEGenerator,
            "PathoGAN's Z_A: VAE with encoders Gamma_A, Delta_B and decoder E_A (healthy -> pathological)",
        ),
        Spec(
            "pathogan-residual",
            ResidualGenerator,
            "PathoGAN's Z_B: ResNet with ELU, no bottleneck (pathological -> healthy)",
        ),
    ]


@hookimpl
def register_commands() -> list:
    from .commands import sample_command

    return [sample_command]
