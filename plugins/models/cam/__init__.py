"""Class activation maps of a healthy-vs-pathological slice classifier (Grad-CAM, Selvaraju et al. 2017).

The model, its options and its hook are in ``model.py``; the folder is found as a plugin without a declaration.
"""

from .model import CAM, register_models

__all__ = ["CAM", "register_models"]
