"""The patched diffusion model (Behrendt et al. 2023): a DDPM of healthy slices that denoises one patch at a time.

The model, its options and its hook are in ``model.py``; the folder is found as a plugin without a declaration.
"""

from .model import PatchedDDPM, register_models

__all__ = ["PatchedDDPM", "register_models"]
