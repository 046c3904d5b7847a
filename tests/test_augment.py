"""Augmentation follows the anatomy: mirrored left-right (from the affine), pixel sizes scaled with resizing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pathogan_bench.data import AugmentConfig, Augmenter
from pathogan_bench.engine.batches import augment_config

LPS = np.diag([-1.0, -1.0, 1.0, 1.0])
RAS = np.eye(4)
#: left-right along array axis 1, anterior-posterior along axis 0
SWAPPED = np.array([[0.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]])


def marked_slice() -> torch.Tensor:
    """One 16 x 16 slice, background -1, with a bright pixel near the end of array axis 0 and the start of axis 1."""
    image = torch.full((1, 1, 16, 16), -1.0)
    image[0, 0, 13, 4] = 1.0
    return image


@pytest.mark.parametrize("axis, expected", [("rows", (2, 4)), ("columns", (13, 11))])
def test_mirroring_flips_only_the_named_axis(axis, expected):
    always = AugmentConfig(mirror=True, mirror_axis=axis, rotation=0.0, scale_base=1.0, elastic_std=0.0)
    for seed in range(20):  # some seed draws the flip
        out, _ = Augmenter(always)(marked_slice(), None, generator=torch.Generator().manual_seed(seed))
        peak = divmod(int(out[0, 0].argmax()), 16)
        if peak != (13, 4):
            assert peak == expected
            return
    raise AssertionError("no flip drawn in 20 seeds")


class Table:
    def __init__(self, affine: np.ndarray, source: int, size: int):
        self.patient = np.array(["a", "a", "b"])
        self.volumes = {
            "a": {"affine": affine.tolist(), "shape": [source, source, 155]},
            "b": {"affine": affine.tolist(), "shape": [source, source, 155]},
        }
        self.images = np.zeros((3, 2, size, size), np.float32)


@pytest.mark.parametrize("affine, axis", [(LPS, "rows"), (RAS, "rows"), (SWAPPED, "columns")])
def test_the_mirror_axis_comes_from_the_affine(affine, axis):
    config = augment_config(Table(affine, 240, 240), np.arange(3))
    assert config.mirror and config.mirror_axis == axis


def test_pixel_unit_settings_scale_with_the_resize():
    config = augment_config(Table(LPS, 240, 96), np.arange(3))
    assert config.elastic_spacing == round(128 * 0.4) and config.elastic_std == pytest.approx(5.0 * 0.4)
    assert config.rotation == AugmentConfig().rotation and config.scale_base == AugmentConfig().scale_base
    assert augment_config(Table(LPS, 240, 240), np.arange(3)).elastic_std == 5.0
