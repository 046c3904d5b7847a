"""AnoDDPM (Wyatt et al. 2022): a diffusion model of healthy slices with simplex noise.

The model, its options and its hook are in ``model.py``; the folder is found as a plugin without a declaration.
"""

from .model import AnoDDPM, register_models

__all__ = ["AnoDDPM", "register_models"]
