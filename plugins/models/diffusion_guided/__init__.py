"""Classifier-guided DDIM (Wolleb et al. 2022), weakly supervised anomaly segmentation.

The model, its options and its hook are in ``model.py``; the folder is found as a plugin without a declaration.
"""

from .model import DiffusionGuided, register_models

__all__ = ["DiffusionGuided", "register_models"]
