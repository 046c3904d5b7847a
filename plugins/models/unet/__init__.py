"""A 2D U-Net trained with Dice + cross-entropy on pixel labels (fully supervised baseline).

The model, its options and its hook are in ``model.py``; the folder is found as a plugin without a declaration.
"""

from .model import UNetModel, register_models

__all__ = ["UNetModel", "register_models"]
