"""f-AnoGAN (Schlegl et al. 2019): a WGAN-GP of healthy slices and its izif encoder.

The model, its options and its hook are in ``model.py``; the folder is found as a plugin without a declaration.
"""

from .model import FAnoGAN, register_models

__all__ = ["FAnoGAN", "register_models"]
