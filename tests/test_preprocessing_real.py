"""The paper's preprocessing (section 2.5) held on the raw BraTS 2018 volumes: brain intensities to N(0, 1/3),
clipped to [-1, 1], background -1; healthy, minor and pathological slices by the "> 20 tumour pixels" rule counted
at the scans' own resolution; and the pre-normalised BraTS 2013 files brought to the same scale."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import invoke_cli

from pathogan_bench.data.slices import HEALTHY, MINOR, PATHOLOGICAL, PreprocessConfig, case_slices
from pathogan_bench.engine.datasets import read_dataset
from pathogan_bench.registry import get_registry


def cases(shared_data, name: str):
    folder = shared_data / name
    if not folder.is_dir():
        pytest.skip(f"{folder} not available")
    return read_dataset(get_registry(), "auto", folder)


@pytest.mark.slow
def test_raw_brats2018_volumes_are_normalised_to_the_papers_scale(shared_data):
    collection = cases(shared_data, "brats2018-sample")
    assert collection.scheme == "brats2017" and collection.modalities == ("flair", "t1", "t1c", "t2")
    for case in collection.cases[:4]:
        raw, _ = case.load_all(collection.modalities)
        assert raw.min() >= 0 and raw.max() > 100  # raw scanner intensities, skull-stripped (background 0)
        brain = np.any(raw != 0, axis=0)
        out = case_slices(case, collection.modalities, PreprocessConfig(slice_range=None))
        images = np.moveaxis(out["images"], 0, -1)  # (C, X, Y, Z) again
        for c, name in enumerate(collection.modalities):
            values = images[c][brain]
            assert abs(values.mean()) < 0.02, (case.patient_id, name)
            assert 0.27 < values.std() < 0.345, (case.patient_id, name)  # 1/3, less what clipping takes
            assert values.min() >= -1 and values.max() <= 1 and np.mean(np.abs(values) >= 1) < 0.03
            assert np.all(images[c][~brain] == -1)


@pytest.mark.slow
def test_slices_are_pathological_above_twenty_tumour_pixels_at_full_resolution(shared_data):
    collection = cases(shared_data, "brats2018-sample")
    case = collection.cases[0]
    out = case_slices(case, collection.modalities, PreprocessConfig(slice_range=None, image_size=64))
    tumour = case.load_label().sum(axis=(0, 1))  # per axial slice, at 240 x 240
    assert out["images"].shape[-1] == 64  # resized after the rule was applied at the scan's resolution
    np.testing.assert_array_equal(out["domain"] == PATHOLOGICAL, tumour > 20)
    np.testing.assert_array_equal(out["domain"] == HEALTHY, tumour == 0)
    np.testing.assert_array_equal(out["domain"] == MINOR, (tumour > 0) & (tumour <= 20))


@pytest.mark.slow
def test_pre_normalised_brats2013_files_come_to_the_same_scale_within_their_brain_mask(shared_data):
    collection = cases(shared_data, "brats2013-deepmedic")
    case = collection.cases[0]
    out = case_slices(case, collection.modalities, PreprocessConfig(slice_range=None))
    images = np.moveaxis(out["images"], 0, -1)
    inside = images[0] > -1
    assert abs(images[0][inside].mean()) < 0.02 and 0.3 < images[0][inside].std() < 0.345


@pytest.mark.slow
def test_the_intensities_command_prints_each_modalitys_statistics_and_draws_them(shared_data, tmp_path):
    folder = shared_data / "brats2018-sample" / "Brats18_CBICA_AMH_1"
    if not folder.is_dir():
        pytest.skip(f"{folder} not available")
    code, out, err = invoke_cli("data", "intensities", folder, "--out", tmp_path / "i.png")
    assert code == 0, err
    assert "t1c" in out and "normalised mean ± std" in out and (tmp_path / "i.png").read_bytes()[:4] == b"\x89PNG"
