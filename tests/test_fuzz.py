"""Property-based tests: generated NIfTI files, TOML configs and option values never end badly.

Every input ends in exit code 0 with finite outputs, or exit code 2 with one
line naming the file or option; never a traceback, a NaN in an output or a
file left half-written.

Example budgets are Hypothesis settings profiles: ``ci`` (the default, about
a minute for the whole module) and ``nightly`` (``HYPOTHESIS_PROFILE=nightly
python -m pytest tests/test_fuzz.py``, twenty times as many examples).
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from conftest import invoke_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_bad_input import SHAPE, brats2021, cache_at, file_of, label, raw_nifti, volume, write

from pathogan_bench.errors import UserError

settings.register_profile(
    "ci", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
settings.register_profile("nightly", max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def outcome_problems(code: int, out: str, err: str, names: tuple[str, ...]) -> list[str]:
    """What is wrong with a command's ending: the property every generated input must satisfy."""
    problems = []
    if "Traceback" in out + err:
        problems.append("a traceback")
    lines = [line for line in err.splitlines() if line.strip()]
    if code == 2:
        errors = [line for line in lines if line.startswith("error: ")]
        if len(errors) != 1 or len(lines) != 1:
            problems.append(f"exit 2 without exactly one error line: {lines}")
        elif not any(name in errors[0] for name in names):
            problems.append(f"the error names none of {names}: {errors[0]}")
    elif code != 0:
        problems.append(f"exit code {code}: {err.strip()[-300:]}")
    return problems


def half_written(root: Path) -> list[str]:
    return [str(p) for p in root.rglob("*") if ".tmp" in p.name or (p.name.startswith(".") and p.is_dir())]


# -- NIfTI headers and data -------------------------------------------------------------------
DTYPES = [np.uint8, np.int16, np.int32, np.float32, np.float64]
AFFINE_VALUES = st.one_of(
    st.sampled_from([0.0, 1.0, -1.0, 2.5, 1e-12, 1e12, math.nan, math.inf, -math.inf]),
    st.floats(-300, 300, allow_nan=False),
)
SCALE = st.sampled_from([1.0, 0.0, math.nan, 2.0, -1.0, 1e-30, 1e30, math.inf])


@st.composite
def nifti_headers(draw) -> tuple[np.ndarray, nib.Nifti1Header]:
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    shape = draw(
        st.one_of(
            st.just(SHAPE),
            st.just(SHAPE + (1,)),
            st.tuples(*(st.integers(1, 33) for _ in range(3))),
            st.tuples(st.integers(1, 9), st.integers(1, 9)),
        )
    )
    kind = draw(st.sampled_from(["normal", "tiny", "huge", "constant", "zeros", "extremes"]))
    base = volume(draw(st.integers(0, 3)), shape) if len(shape) == 3 else np.ones(shape, np.float32)
    if len(shape) == 4:
        base = volume(0, SHAPE)[..., None]
    if kind == "tiny":
        base = base * 1e-30
    elif kind == "huge":
        base = base * 1e30
    elif kind == "constant":
        base = np.where(base != 0, 5.0, 0.0)
    elif kind == "zeros":
        base = np.zeros(shape)
    elif kind == "extremes" and dtype.kind in "iu":
        base = np.where(base != 0, np.iinfo(dtype).max, np.iinfo(dtype).min)
    with np.errstate(all="ignore"):
        if dtype.kind in "iu":
            info = np.iinfo(dtype)
            data = np.clip(np.nan_to_num(base), info.min, info.max).astype(dtype)
        else:
            data = np.asarray(base).astype(dtype)
    header = nib.Nifti1Header()
    header["pixdim"][1:4] = draw(
        st.lists(st.sampled_from([1.0, 0.0, 2.0, math.nan, -1.0, 1e-9]), min_size=3, max_size=3)
    )
    header["scl_slope"] = draw(SCALE)
    header["scl_inter"] = draw(st.sampled_from([0.0, 0.0, 10.0, math.nan, 1e30]))
    header["qform_code"] = draw(st.sampled_from([0, 1]))
    header["quatern_b"], header["quatern_c"], header["quatern_d"] = draw(
        st.lists(st.sampled_from([0.0, 0.5, 1.0, math.nan, 2.0]), min_size=3, max_size=3)
    )
    header["sform_code"] = draw(st.sampled_from([0, 1, 2]))
    if draw(st.booleans()):
        rows = np.eye(4)[:3]
    else:
        rows = np.array(draw(st.lists(AFFINE_VALUES, min_size=12, max_size=12))).reshape(3, 4)
    header["srow_x"], header["srow_y"], header["srow_z"] = rows
    return data, header


@given(nifti_headers())
def test_data_prepare_on_generated_nifti_files_ends_cleanly(generated):
    data, header = generated
    with tempfile.TemporaryDirectory() as tmp:
        root = brats2021(Path(tmp) / "data")
        target = raw_nifti(file_of(root, 1, "t1c"), data, header)
        cache = Path(tmp) / "cache"
        with cache_at(cache):
            result = invoke_cli("data", "prepare", root)
        problems = outcome_problems(result.code, result.out, result.err, (target.name,))
        if result.code == 0:
            for images in cache.rglob("images.npy"):
                cached = np.load(images)
                if not np.isfinite(cached).all():
                    problems.append("non-finite cached values")
                elif len(cached) and (cached.reshape(len(cached), cached.shape[1], -1).std(axis=(0, 2)) == 0).any():
                    problems.append("a flat channel was cached")
        problems += half_written(Path(tmp))
        assert not problems, f"{problems}\nheader {header}\nstderr {result.err}"


@st.composite
def label_pairs(draw) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    dtype = np.dtype(draw(st.sampled_from([np.uint8, np.int16, np.float32, np.float64])))
    data = label().astype(dtype)
    change = draw(st.sampled_from(["none", "flip", "shift", "scale", "nan", "fraction", "transpose"]))
    affine = np.eye(4)
    if change == "flip":
        data, affine = data[::-1].copy(), np.diag([-1.0, 1, 1, 1])
        affine[0, 3] = SHAPE[0] - 1
    elif change == "shift":
        affine[:3, 3] = draw(st.lists(st.floats(-2, 2), min_size=3, max_size=3))
    elif change == "scale":
        affine[:3, :3] *= draw(st.floats(0.5, 2.0))
    elif change == "nan" and dtype.kind == "f":
        data[0, 0, 0] = np.nan
    elif change == "fraction" and dtype.kind == "f":
        data = data * np.float32(0.5)
    elif change == "transpose":
        data, affine = np.ascontiguousarray(data.transpose(1, 0, 2)), affine[[1, 0, 2, 3]]
    spacing = draw(st.sampled_from(["auto", "1", "1,1,2.5", "0", "-1", "nan", "1,x", "inf", "1,1"]))
    return data, affine, np.eye(4), spacing


@given(label_pairs())
def test_metrics_on_generated_pairs_and_spacings_ends_cleanly(pair):
    pred_data, pred_affine, gt_affine, spacing = pair
    with tempfile.TemporaryDirectory() as tmp:
        pred = write(Path(tmp) / "pred.nii.gz", pred_data, pred_affine)
        gt = write(Path(tmp) / "gt.nii.gz", label(), gt_affine)
        out = Path(tmp) / "scores.csv"
        result = invoke_cli("metrics", pred, gt, "--spacing", spacing, "--out", out)
        problems = outcome_problems(result.code, result.out, result.err, ("pred.nii.gz", "--spacing"))
        if result.code == 0:
            import pandas as pd

            scores = pd.read_csv(out)
            numbers = scores.select_dtypes("number").drop(columns=["z"], errors="ignore").to_numpy(float)
            if np.isnan(numbers).any():
                problems.append("NaN in the scores")
        problems += half_written(Path(tmp))
        assert not problems, f"{problems}\nstderr {result.err}"


# -- TOML configs ---------------------------------------------------------------------------------
SECTIONS = {
    "": ["model", "loss_set", "seed", "preset", "device", "out", "name", "bogus"],
    "data": [
        "synthetic_patients",
        "synthetic_size",
        "image_size",
        "slice_range",
        "split_fractions",
        "n_healthy",
        "modalities",
        "skip_bad_cases",
        "nope",
    ],
    "train": [
        "steps",
        "epochs",
        "batch_size",
        "log_every",
        "checkpoint_every",
        "lr",
        "threads",
        "max_skipped_fraction",
        "unknown",
    ],
    "eval": ["metrics", "figure_slices", "empty", "batch_size"],
    "model_options": ["width", "lr", "z"],
    "loss_sets": ["mine"],
    "nested": ["deeper"],
}
TOML_VALUES = st.one_of(
    st.integers(-5, 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=8),
    st.lists(st.integers(-3, 200), max_size=4),
    st.lists(st.floats(-1, 2), max_size=4),
    st.just([["gan", 1.0], ["cycle", float("nan")]]),
    st.dictionaries(st.sampled_from(["a", "b"]), st.integers(), max_size=2),
)


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return '"' + value.encode("unicode_escape").decode().replace('"', '\\"') + '"'
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return str(value)


@st.composite
def toml_configs(draw) -> str:
    lines: list[str] = []
    for section in draw(st.lists(st.sampled_from(list(SECTIONS)), unique=True, max_size=4)):
        if section:
            lines.append(f"[{section}]")
        for key in draw(st.lists(st.sampled_from(SECTIONS[section]), unique=True, min_size=1, max_size=3)):
            lines.append(f"{key} = {toml_value(draw(TOML_VALUES))}")
    return "\n".join(lines) + "\n"


@given(toml_configs())
def test_generated_configs_are_accepted_or_refused_in_one_line(text):
    from pathogan_bench.config import resolve_config
    from pathogan_bench.engine.plan import plan_run

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.toml"
        path.write_text(text)
        try:
            plan_run(resolve_config(path))
        except UserError as exc:
            message = str(exc)
            assert "\n" not in message.strip(), message
            assert message.strip(), "an empty error"
        assert not list(Path(tmp).iterdir())[1:], "a config check wrote files"


# -- command-line option values ---------------------------------------------------------------------
OPTION_VALUES = st.one_of(
    st.sampled_from(
        [
            "",
            "0",
            "-1",
            "nan",
            "inf",
            "1e309",
            "60-100",
            "100-60",
            "a,b",
            "0.5,0.5,0.5",
            "1-",
            "--",
            "t1c",
            "flair,t1c",
            "flair,flair",
            "T2",
            "x" * 300,
            "0.6,0.2,0.2",
            "2-5",
            "0-0",
        ]
    ),
    st.text(alphabet="0123456789-,.abe", max_size=10),
)


@settings(max_examples=max(5, settings().max_examples // 2))
@given(st.sampled_from(["--slices", "--modalities", "--split-fractions"]), OPTION_VALUES)
def test_data_prepare_option_values_end_cleanly(option, value):
    with tempfile.TemporaryDirectory() as tmp:
        root = brats2021(Path(tmp) / "data")
        cache = Path(tmp) / "cache"
        with cache_at(cache):
            result = invoke_cli("data", "prepare", root, option, value)
        problems = outcome_problems(result.code, result.out, result.err, (option, value or "''", str(root)))
        problems += half_written(Path(tmp))
        assert not problems, f"{option} {value!r}: {problems}\nstderr {result.err}"


@pytest.mark.parametrize("profile", ["ci", "nightly"])
def test_the_profiles_are_registered(profile):
    assert settings.get_profile(profile).deadline is None
