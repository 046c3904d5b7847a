"""The FLAIR intensity threshold fitted on healthy slices: the floor a learned model must beat.

The model, its options and its hook are in ``model.py``; the folder is found as a plugin without a declaration.
"""

from .model import ThresholdModel, register_models

__all__ = ["ThresholdModel", "register_models"]
