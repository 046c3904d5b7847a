"""Dataset folders that could be read two ways: a role filled twice, symbolic links, nnU-Net v1 beside v2 and MSD,
one slice-range rule for the described layouts, and the BraTS 2012-2015 release's MetaImage files."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from conftest import invoke_cli
from layout_builders import SHAPE, anatomy, bids, brats2012, contrasts, ixi, msd, nnunet
from test_data import brats2021_case, label, volume, write

from pathogan_bench.data import PreprocessConfig, prepare_slices
from pathogan_bench.engine.datasets import detect_layout
from pathogan_bench.errors import UserError
from pathogan_bench.registry import create, get_registry


def _brats2017(root: Path) -> Path:
    for pid in ("Brats17_A_1", "Brats17_B_1"):
        for i, m in enumerate(("flair", "t1", "t1ce", "t2")):
            write(root / "HGG" / pid / f"{pid}_{m}.nii.gz", volume(i))
        write(root / "HGG" / pid / f"{pid}_seg.nii.gz", label())
    return root


def _deepmedic(root: Path) -> Path:
    for pid in ("brats_2013_pat0001_1", "brats_2013_pat0002_1"):
        write(root / pid / "Flair_subtrMeanDivStd.nii.gz", volume(0))
        write(root / pid / "T1c_subtrMeanDivStd.nii.gz", volume(1))
        write(root / pid / "OTMultiClass.nii.gz", label())
    return root


def _brats2021(root: Path) -> Path:
    for pid in ("BraTS-GLI-00001-000", "BraTS-GLI-00002-000"):
        brats2021_case(root, pid)
    return root


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.name.endswith(".nii") and source.name.endswith(".nii.gz"):
        nib.save(nib.load(str(source)), str(target))
    else:
        shutil.copyfile(source, target)


# layout -> (builder, the file that is there, a second file for the same role)
TWICE = {
    "brats2021 segmentation in a subfolder": (
        "brats2021",
        _brats2021,
        "BraTS-GLI-00001-000/BraTS-GLI-00001-000-seg.nii.gz",
        "BraTS-GLI-00001-000/old/BraTS-GLI-00001-000-seg.nii.gz",
    ),
    "brats2017 FLAIR uncompressed beside compressed": (
        "brats2017",
        _brats2017,
        "HGG/Brats17_A_1/Brats17_A_1_flair.nii.gz",
        "HGG/Brats17_A_1/Brats17_A_1_flair.nii",
    ),
    "brats2013 FLAIR uncompressed beside compressed": (
        "brats2013",
        _deepmedic,
        "brats_2013_pat0001_1/Flair_subtrMeanDivStd.nii.gz",
        "brats_2013_pat0001_1/Flair_subtrMeanDivStd.nii",
    ),
    "msd image uncompressed beside compressed": (
        "msd",
        msd,
        "imagesTr/BRATS_001.nii.gz",
        "imagesTr/BRATS_001.nii",
    ),
    "msd two label files": ("msd", msd, "labelsTr/BRATS_002.nii.gz", "labelsTr/BRATS_002.nii"),
    "nnunet channel file twice": ("nnunet", nnunet, "imagesTr/BRATS_001_0000.nii.gz", "imagesTr/BRATS_001_0000.nii"),
    "nnunet two label files": ("nnunet", nnunet, "labelsTr/BRATS_003.nii.gz", "labelsTr/BRATS_003.nii"),
    "bids FLAIR uncompressed beside compressed": (
        "bids",
        bids,
        "sub-01/ses-1/anat/sub-01_ses-1_FLAIR.nii.gz",
        "sub-01/ses-1/anat/sub-01_ses-1_FLAIR.nii",
    ),
    "ixi T1 in two folders": ("ixi", ixi, "IXI-T1/IXI001-Guys-0801-T1.nii.gz", "more/IXI001-Guys-0801-T1.nii.gz"),
}


@pytest.mark.parametrize("case", list(TWICE))
def test_a_role_filled_twice_is_refused_naming_both_files(case, tmp_path):
    layout, build, there, second = TWICE[case]
    root = build(tmp_path / "ds")
    assert (root / there).is_file(), f"the builder no longer writes {there}"
    create("dataset", layout, root)  # readable as built
    _copy(root / there, root / second)
    with pytest.raises(UserError) as error:
        create("dataset", layout, root)
    message = str(error.value)
    assert Path(there).name in message and Path(second).name in message and "\n" not in message
    code, _, err = invoke_cli("data", "prepare", root, "--dataset", layout, "--cache", tmp_path / "cache")
    assert code == 2 and Path(second).name in err and err.count("\n") == 1


def test_a_native_release_case_with_two_flair_folders_is_refused(tmp_path):
    root = brats2012(tmp_path / "BRATS2015", n=1)
    case = root / "HGG" / "brats_2013_pat0001_1"
    flair = next(case.glob("VSD.Brain.XX.O.MR_Flair.*"))
    copy = case / "VSD.Brain.XX.O.MR_Flair.99999"
    copy.mkdir()
    shutil.copyfile(next(flair.glob("*.mha")), copy / "VSD.Brain.XX.O.MR_Flair.99999.mha")
    with pytest.raises(UserError, match=r"a second MR_Flair image of brats_2013_pat0001_1 beside"):
        create("dataset", "brats2012", root)


def test_a_symbolic_link_loop_ends_and_a_link_to_a_file_read_is_no_second_file(tmp_path):
    root = _brats2021(tmp_path / "ds")
    os.symlink(root, root / "loop")  # a folder holding a link to itself
    pid = "BraTS-GLI-00001-000"
    os.symlink(root / pid / f"{pid}-seg.nii.gz", root / pid / "notes-seg-link.txt")  # matches no file name
    cases = create("dataset", "brats2021", root)
    assert [c.patient_id for c in cases] == ["BraTS-GLI-00001-000", "BraTS-GLI-00002-000"]
    link = root / "alias"
    os.symlink(root / pid, link)  # the same case folder reached twice: walked once
    assert len(create("dataset", "brats2021", root)) == 2


@pytest.mark.parametrize("layout", ["brats2021", "nnunet"])
def test_a_broken_symbolic_link_is_named(layout, tmp_path):
    if layout == "brats2021":
        root = _brats2021(tmp_path / "ds")
        target = root / "BraTS-GLI-00002-000" / "BraTS-GLI-00002-000-t2f.nii.gz"
    else:
        root = nnunet(tmp_path / "ds")
        target = root / "imagesTr" / "BRATS_002_0001.nii.gz"
    target.unlink()
    os.symlink(tmp_path / "gone.nii.gz", target)
    with pytest.raises(UserError, match=r"broken symbolic link") as error:
        create("dataset", layout, root)
    assert str(target) in str(error.value) and "gone.nii.gz" in str(error.value)


def test_nnunet_v1_is_read_like_v2(tmp_path):
    v1, v2 = nnunet(tmp_path / "Task501_Glioma", version=1), nnunet(tmp_path / "Dataset501_Glioma")
    assert detect_layout(get_registry(), v1) == "nnunet"
    one, two = create("dataset", "nnunet", v1), create("dataset", "nnunet", v2)
    assert one.modalities == two.modalities == ("flair", "t1", "t1c", "t2")
    assert [c.patient_id for c in one] == [c.patient_id for c in two]
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a.load_all(one.modalities)[0], b.load_all(two.modalities)[0])
        np.testing.assert_array_equal(a.load_label(), b.load_label())
    with pytest.raises(UserError, match="no cases in the msd layout"):  # v1 is not mistaken for MSD's 4D images
        create("dataset", "msd", v1)


def test_the_same_volumes_as_msd_and_as_nnunet_prepare_the_same_slices(tmp_path):
    """One slice-range rule for the two layouts dataset.json describes: every slice unless it says otherwise."""
    tables = []
    for layout, root in (
        ("msd", msd(tmp_path / "Task01", n=3, n_test=0, slice_range=False)),
        ("nnunet", nnunet(tmp_path / "Dataset001", n=3)),
    ):
        cases = create("dataset", layout, root)
        config = PreprocessConfig(slice_range=cases.default_slice_range, image_size=16)
        tables.append(prepare_slices(cases, config, progress=False))
    assert len(tables[0]) == len(tables[1]) == 3 * SHAPE[2]
    np.testing.assert_array_equal(tables[0].images, tables[1].images)
    np.testing.assert_array_equal(tables[0].domain, tables[1].domain)


def test_the_native_brats_release_reads_the_voxels_of_its_nifti_copy(tmp_path):
    root = brats2012(tmp_path / "BRATS2015_Training", n=3)
    assert detect_layout(get_registry(), root) == "brats2012"
    cases = create("dataset", "brats2012", root)
    assert [c.patient_id for c in cases] == [f"brats_2013_pat{i:04d}_1" for i in (1, 2, 3)]
    assert cases.modalities == ("flair", "t1", "t1c", "t2") and all(c.label is not None for c in cases)
    stack, first = cases.cases[0].load_all(cases.modalities)
    expected = contrasts()  # case 1 has a lesion: compare where the lesion is not
    mask = cases.cases[0].load_label()
    assert mask is not None and mask.sum() > 0
    np.testing.assert_allclose(stack[1][~mask], expected["t1"][~mask], rtol=1e-6)
    np.testing.assert_allclose(first.affine, anatomy()[1], atol=1e-6)  # the NIfTI's RAS geometry, not LPS
    code, out, err = invoke_cli("data", "prepare", root, "--slices", "0-24", "--cache", tmp_path / "cache")
    assert code == 0, err
    assert "(brats2012;" in out and "pathological slices" in out


def test_native_brats_without_simpleitk_says_how_to_install_it(tmp_path, monkeypatch):
    root = brats2012(tmp_path / "BRATS2015_Training", n=1)
    monkeypatch.setitem(sys.modules, "SimpleITK", None)  # import SimpleITK now raises ImportError
    code, out, err = invoke_cli("data", "prepare", root, "--dataset", "brats2012", "--cache", tmp_path / "cache")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "pip install 'pathogan-bench[mha]'" in err and ".mha" in err
