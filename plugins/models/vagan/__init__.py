"""VA-GAN (Baumgartner et al. 2018): an additive map that makes a pathological slice look healthy.

The model, its options and its hook are in ``model.py``; the folder is found as a plugin without a declaration.
"""

from .model import VAGAN, register_models

__all__ = ["VAGAN", "register_models"]
