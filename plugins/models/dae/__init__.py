"""The denoising autoencoder of Kascenas et al. (MIDL 2022): a U-Net trained on healthy slices to remove coarse noise.

The model, its options and its hook are in ``model.py``; the folder is found as a plugin without a declaration.
"""

from .model import DenoisingAE, register_models

__all__ = ["DenoisingAE", "register_models"]
