"""Fixed-Point GAN (Siddiquee et al. 2019): a StarGAN translator with the conditional identity loss.

The model, its options and its hook are in ``model.py``; the folder is found as a plugin without a declaration.
"""

from .model import FixedPointGAN, register_models

__all__ = ["FixedPointGAN", "register_models"]
