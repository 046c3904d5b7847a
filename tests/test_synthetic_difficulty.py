"""Difficulty levels of the synthetic generator: "easy" unchanged, FLAIR confounders in "standard" and "hard"."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from pathogan_bench.data import synthetic, synthetic_anatomy
from pathogan_bench.data.synthetic import (
    default_depth,
    subject_volumes,
    synthesize,
    synthetic_root,
    synthetic_slice_range,
)
from pathogan_bench.data.synthetic_anatomy import CONTRAST
from pathogan_bench.data.synthetic_knobs import DIFFICULTIES, DIFFICULTY
from pathogan_bench.errors import UserError

SIZE, PATIENTS, SEED = 48, 4, 0

#: synthesize(patients=3, size=32, seed=0) of generator version 3, before difficulty levels existed:
#: voxels of labels 1, 2, 4 and the sum of each modality's intensities, per subject
VERSION_3 = {
    "SYN-00001": ([0, 0, 0], {"t1": 3118146.2, "t1c": 2845839.4, "t2": 1900196.4, "flair": 1824318.3}),
    "SYN-00002": ([11, 99, 3], {"t1": 3440785.6, "t1c": 3083520.7, "t2": 1811052.7, "flair": 1975815.3}),
    "SYN-00003": ([7, 216, 13], {"t1": 2862185.7, "t1c": 3078790.5, "t2": 1915691.4, "flair": 1717253.7}),
}


@pytest.fixture(scope="module")
def volumes() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per level: labels and FLAIR of PATIENTS subjects (the first tumour-free), stacked."""
    depth = default_depth(SIZE)
    out = {}
    for level in DIFFICULTIES:
        subjects = [subject_volumes(SIZE, depth, SEED, i, i >= 1, ("flair",), level) for i in range(PATIENTS)]
        out[level] = np.stack([labels for labels, _ in subjects]), np.stack([images["flair"] for _, images in subjects])
    return out


def threshold_dice(labels: np.ndarray, flair: np.ndarray, percentile: float = 99.0) -> float:
    """Dice of FLAIR above the percentile of healthy-slice brain FLAIR, over the slice range of stacked subjects.

    Each volume is z-scored in its brain first, as the preprocessing does (without its winsorising).
    """
    brain = flair > 0
    z = np.zeros(flair.shape)
    for i in range(len(flair)):
        inside = flair[i][brain[i]].astype(np.float64)
        z[i][brain[i]] = (inside - inside.mean()) / inside.std()
    lo, hi = synthetic_slice_range(labels.shape[-1])
    labels, z, brain = labels[..., lo : hi + 1] > 0, z[..., lo : hi + 1], brain[..., lo : hi + 1]
    healthy_slice = ~labels.any(axis=(1, 2), keepdims=True)
    threshold = np.percentile(z[brain & healthy_slice], percentile)
    predicted = brain & (z > threshold)
    return 2 * (predicted & labels).sum() / (predicted.sum() + labels.sum())


def test_easy_reproduces_generator_version_3(tmp_path):
    synthesize(tmp_path, patients=3, size=32, seed=0, progress=False, difficulty="easy")
    for pid, (counts, sums) in VERSION_3.items():
        seg = np.asarray(nib.load(str(tmp_path / pid / f"{pid}-seg.nii.gz")).dataobj)
        assert [int((seg == k).sum()) for k in (1, 2, 4)] == counts
        for modality, total in sums.items():
            path = tmp_path / pid / f"{pid}-{synthetic.FILE_SUFFIX[modality]}.nii.gz"
            image = np.asarray(nib.load(str(path)).dataobj)
            assert float(image.astype(np.float64).sum()) == pytest.approx(total, rel=1e-6, abs=1.0)
    assert json.loads((tmp_path / "dataset.json").read_text())["difficulty"] == "easy"


def test_easy_never_reaches_the_confounders(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("confounders added to an easy subject")

    depth = default_depth(32)
    expected = subject_volumes(32, depth, 3, 1, True, difficulty="easy")
    monkeypatch.setattr(synthetic, "confound", forbidden)
    labels, images = subject_volumes(32, depth, 3, 1, True, difficulty="easy")
    assert np.array_equal(labels, expected[0])
    assert all(np.array_equal(images[m], expected[1][m]) for m in images)


def test_confounders_with_zeroed_knobs_change_nothing():
    zero = {knob: 0.0 for knob in DIFFICULTY["hard"]}
    assert DIFFICULTY["easy"] == zero
    for tumour in (False, True):
        tissue, labels = synthetic_anatomy.subject(32, default_depth(32), np.random.default_rng([0, 1]), tumour)
        before = tissue.copy(), labels.copy()
        synthetic.confound(tissue, labels, 240.0 / 32, np.random.default_rng(0), zero)
        assert np.array_equal(tissue, before[0]) and np.array_equal(labels, before[1])


@pytest.mark.slow
def test_levels_keep_the_anatomy_and_the_whole_tumour(volumes):
    easy_labels, easy_flair = volumes["easy"]
    for level in ("standard", "hard"):
        labels, flair = volumes[level]
        assert np.array_equal(labels > 0, easy_labels > 0)
        assert np.array_equal(flair > 0, easy_flair > 0)
        assert set(np.unique(labels)) <= {0, 1, 2, 4}
        assert (labels == 1).sum() >= (easy_labels == 1).sum()  # a cystic core is necrosis


def test_some_tumour_is_not_flair_bright(volumes):
    dark = {}
    for level, (labels, flair) in volumes.items():
        tumour, healthy = labels > 0, (labels == 0) & (flair > 0)
        dark[level] = (flair[tumour] < np.percentile(flair[healthy], 95)).mean()
    assert dark["standard"] > dark["easy"] + 0.05 and dark["hard"] > dark["standard"]


def test_some_healthy_brain_is_flair_bright(volumes):
    bright = {}
    for level, (labels, flair) in volumes.items():
        tumour, healthy = labels > 0, (labels == 0) & (flair > 0)
        bright[level] = (flair[healthy] > np.median(flair[tumour])).sum()
        tumour_free = flair[0][flair[0] > 0]  # the first subject: confounders without any tumour
        if level != "easy":
            assert (tumour_free > np.median(flair[tumour])).any()
    assert 0 < bright["standard"] < bright["hard"] and bright["easy"] < bright["standard"]


def test_flair_threshold_dice_falls_with_difficulty(volumes):
    dice = {level: threshold_dice(*volumes[level]) for level in DIFFICULTIES}
    assert dice["easy"] > 0.8
    assert dice["easy"] - 0.05 > dice["standard"] > dice["hard"] + 0.03


def test_confounders_have_tissue_contrast():
    t1, t1c, t2, flair = (CONTRAST[m] for m in ("t1", "t1c", "t2", "flair"))
    wm, gm = synthetic_anatomy.WM, synthetic_anatomy.GM
    wmh, cyst, infiltration = synthetic_anatomy.WMH, synthetic_anatomy.CYST, synthetic_anatomy.INFILTRATION
    # a white-matter hyperintensity: bright on FLAIR and T2, about iso on T1 and T1c
    assert flair[wmh] > flair[gm] and t2[wmh] > t2[gm] and abs(t1[wmh] - t1[wm]) < 0.1 and t1c[wmh] == t1[wmh]
    # a fluid-filled core: dark on T1 and T1c, bright on T2, darker than white matter on FLAIR
    assert t1[cyst] < t1[gm] and t1c[cyst] < t1c[gm] and t2[cyst] > t2[gm] and flair[cyst] < flair[wm]
    # infiltrated tissue: about grey matter on FLAIR, edema on the others
    assert abs(flair[infiltration] - flair[gm]) < 0.05 and t2[infiltration] > t2[gm] + 0.1 and t1[infiltration] < t1[gm]
    # a flow artefact changes FLAIR only
    assert all(CONTRAST[m][synthetic.FLOW] == CONTRAST[m][synthetic.CSF] for m in ("t1", "t1c", "t2"))


@pytest.mark.parametrize(
    "call",
    [
        lambda tmp: synthesize(tmp / "out", patients=1, size=32, progress=False, difficulty="medium"),
        lambda tmp: synthetic_root(tmp / "cache", patients=1, size=32, difficulty="medium"),
        lambda tmp: subject_volumes(32, 20, 0, 0, True, difficulty="Easy"),
    ],
)
def test_unknown_difficulty_is_a_user_error(call, tmp_path):
    with pytest.raises(UserError) as info:
        call(tmp_path)
    message = str(info.value)
    assert "\n" not in message and all(level in message for level in DIFFICULTIES)
    assert not any(tmp_path.iterdir())  # refused before anything is written


def test_cached_folder_is_keyed_by_difficulty(tmp_path):
    roots = {
        level: synthetic_root(tmp_path, patients=2, size=32, modalities=("flair",), difficulty=level)
        for level in ("easy", "hard")
    }
    assert roots["easy"] != roots["hard"] and all(level in roots[level].name for level in roots)
    assert synthetic_root(tmp_path, patients=2, size=32, modalities=("flair",)).name.split("-")[3] == "standard"
    assert synthetic_root(tmp_path, patients=2, size=32, modalities=("flair",), difficulty="hard") == roots["hard"]
    assert json.loads((roots["hard"] / "dataset.json").read_text())["difficulty"] == "hard"
