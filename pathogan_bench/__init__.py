"""pathogan-bench: weakly supervised pathology segmentation in brain MRI."""

__version__ = "0.1.0"
