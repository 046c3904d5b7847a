"""The plain CycleGAN baseline (weakly supervised): segments by the difference to its healthy translation.

The model, its options and its hook are in ``model.py``; the folder is found as a plugin without a declaration.
"""

from .model import CycleGAN, register_models

__all__ = ["CycleGAN", "register_models"]
