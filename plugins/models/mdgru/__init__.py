"""MDGRU, the paper's fully supervised reference: multi-dimensional gated recurrent units in 2D.

The model, its options and its hook are in ``model.py``; the folder is found as a plugin without a declaration.
"""

from .model import MDGRUModel, register_models

__all__ = ["MDGRUModel", "register_models"]
