"""Slices shown in the radiological convention whatever the NIfTI affine: anterior up, patient's left on the right."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from pathogan_bench.utils.orientation import RADIOLOGICAL, figure_label, orientation_label, slice_view, to_display

#: world (RAS+) direction each axis code points to
DIRECTION = {"R": (1, 0, 0), "L": (-1, 0, 0), "A": (0, 1, 0), "P": (0, -1, 0), "S": (0, 0, 1), "I": (0, 0, -1)}


def affine_for(codes: str, spacing=(1.0, 1.0, 1.0)) -> np.ndarray:
    """An affine whose array axes point toward ``codes`` (e.g. "LPS"), with some offset."""
    affine = np.eye(4)
    for axis, code in enumerate(codes):
        affine[:3, axis] = np.asarray(DIRECTION[code], dtype=float) * spacing[axis]
    affine[:3, 3] = (12.0, -30.0, 7.0)
    return affine


def corner(affine: np.ndarray, shape: tuple[int, int], left: bool, anterior: bool) -> tuple[int, int]:
    """The in-plane corner voxel at the patient's left/right and anterior/posterior (from world coordinates)."""
    corners = list(itertools.product((0, shape[0] - 1), (0, shape[1] - 1)))
    world = [affine[:3, :3] @ np.array([i, j, 0.0]) + affine[:3, 3] for i, j in corners]
    # RAS+: patient's left is -x, anterior is +y
    score = [(-w[0] if left else w[0]) + (w[1] if anterior else -w[1]) for w in world]
    return corners[int(np.argmax(score))]


AXIAL = ["RAS", "LPS", "LAS", "PLS", "ARI", "RPI"]


@pytest.mark.parametrize("codes", AXIAL)
def test_anterior_left_voxel_is_top_right_on_screen(codes):
    affine = affine_for(codes)
    shape = (5, 7)  # not square, so a missing or extra transpose shows
    img = np.zeros(shape)
    img[corner(affine, shape, left=True, anterior=True)] = 1  # anterior left
    img[corner(affine, shape, left=False, anterior=True)] = 2  # anterior right
    img[corner(affine, shape, left=True, anterior=False)] = 3  # posterior left
    shown = to_display(img, affine)
    assert shown[0, -1] == 1, "anterior-left voxel should be at the top right"
    assert shown[0, 0] == 2, "anterior-right voxel should be at the top left"
    assert shown[-1, -1] == 3, "posterior-left voxel should be at the bottom right"
    assert orientation_label(affine) == RADIOLOGICAL


def test_brats_layout_is_a_plain_transpose_and_a_view():
    lps = affine_for("LPS")
    img = np.arange(12.0).reshape(3, 4)
    shown = to_display(img, lps)
    np.testing.assert_array_equal(shown, img.T)
    assert np.shares_memory(shown, img)  # a view: no data copied or changed
    np.testing.assert_array_equal(img, np.arange(12.0).reshape(3, 4))


def test_identity_is_ras():
    img = np.zeros((4, 6))
    img[0, -1] = 1  # x = 0 is the patient's far left in RAS, y = last is the most anterior
    shown = to_display(img, np.eye(4))
    assert shown[0, -1] == 1
    assert orientation_label(np.eye(4)) == RADIOLOGICAL


@pytest.mark.parametrize("bad", [None, np.zeros((4, 4)), np.full((4, 4), np.nan), [[1, 0], [0, 1]]])
def test_unknown_affine_assumes_brats_lps_and_says_so(bad):
    img = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(to_display(img, bad), to_display(img, affine_for("LPS")))
    assert slice_view(bad).assumed
    assert "assumed" in orientation_label(bad)


def test_stacks_and_oblique_affines():
    affine = affine_for("RAS")
    rotation = np.array([[np.cos(0.2), -np.sin(0.2), 0], [np.sin(0.2), np.cos(0.2), 0], [0, 0, 1]])
    oblique = affine.copy()
    oblique[:3, :3] = rotation @ affine[:3, :3]  # 11 degrees off: still R, A, S
    stack = np.random.default_rng(0).normal(size=(2, 3, 5, 7))
    shown = to_display(stack, oblique)
    assert shown.shape == (2, 3, 7, 5)
    for b, c in itertools.product(range(2), range(3)):
        np.testing.assert_array_equal(shown[b, c], to_display(stack[b, c], affine))


def test_non_axial_slices_show_superior_up():
    coronal = affine_for("LSA")  # volume[:, :, z] is a coronal slice
    img = np.zeros((4, 6))
    img[corner_superior(coronal, img.shape, left=True)] = 1
    shown = to_display(img, coronal)
    assert shown[0, -1] == 1  # superior left at the top right
    assert "coronal" in orientation_label(coronal)


def corner_superior(affine: np.ndarray, shape: tuple[int, int], left: bool) -> tuple[int, int]:
    corners = list(itertools.product((0, shape[0] - 1), (0, shape[1] - 1)))
    world = [affine[:3, :3] @ np.array([i, j, 0.0]) for i, j in corners]
    score = [(-w[0] if left else w[0]) + w[2] for w in world]
    return corners[int(np.argmax(score))]


def test_figure_label_joins_distinct_notes():
    assert figure_label([affine_for("LPS"), affine_for("RAS")]) == RADIOLOGICAL
    assert "assumed" in figure_label([affine_for("LPS"), None])


def test_screen_edges():
    assert slice_view(affine_for("RAS")).edges == {"top": "A", "bottom": "P", "left": "R", "right": "L"}
    assert slice_view(affine_for("LSA")).edges == {"top": "S", "bottom": "I", "left": "R", "right": "L"}
