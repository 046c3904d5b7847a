"""A corpus of bad input: each kind stops with one line naming the file or option and the problem.

Every kind builds its own bad input from scratch (tiny NIfTI volumes, folders
in the BraTS layouts, TOML configs, copies of one tiny trained run with
altered checkpoints) and runs one command. A kind passes when the command
exits with code 2, prints exactly one line on stderr (``error: ...``) that
names the offending file or option and the problem, prints no traceback,
and leaves nothing behind: no new run directory that looks finished, no
partial or new output file, no empty or partial cache entry. A few kinds are
not errors by design (values near the float32 limit are normalised to finite
values; a corrupt newest checkpoint falls back to an older one with a
warning; a case without a segmentation beside labelled ones can still be
segmented); they assert that outcome instead.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import logging
import os
import shutil
import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import layout_builders as layouts
import nibabel as nib
import numpy as np
import pytest
from conftest import TINY_DATA, invoke_cli

SHAPE = (32, 32, 12)
MODS = ("t1n", "t1c", "t2w", "t2f")
#: the tests' tiny data, with checkpoints at steps 4 and 6 of a 6-step run
TINY = (
    TINY_DATA
    + """
[train]
log_every = 2
checkpoint_every = 4
sample_every = 0
[eval]
figure_slices = 0
"""
)
TINY_MODEL = ("--model-option", "width=0.0625")
#: files only a finished (or finishing) run writes
FINISHED_OUTPUTS = {"predictions.npz", "summary.json", "report.md", "metrics_slices.csv", "metrics_patients.csv"}
#: what a run that failed early may leave in its directory
RUN_BOOKKEEPING = {"config.toml", "run.json", "log.txt", "splits.json"}


def cli(*args):
    """Every command of the corpus goes through here."""
    return invoke_cli(*args)


# -- building bad input ----------------------------------------------------------
def write(path: Path, data: np.ndarray, affine: np.ndarray | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(data, np.eye(4) if affine is None else affine), str(path))
    return path


def raw_nifti(path: Path, data: np.ndarray, header: nib.Nifti1Header) -> Path:
    """Write ``data`` under ``header`` byte for byte, as a converter might (nibabel would fix the header up)."""
    header.set_data_shape(data.shape)
    header.set_data_dtype(data.dtype)
    header["vox_offset"] = 352
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") as fh:
        header.write_to(fh)
        fh.write(b"\0" * (352 - header.sizeof_hdr))
        fh.write(np.asarray(data).tobytes(order="F"))
    return path


def volume(seed: int = 0, shape: tuple[int, ...] = SHAPE) -> np.ndarray:
    """A brain of normal intensities in the middle 20 x 20 pixels (or 5/8 of a smaller image), zero around."""
    rng = np.random.default_rng(seed)
    data = np.zeros(shape, np.float32)
    a, b = shape[0] * 3 // 16, shape[0] * 13 // 16
    data[a:b, a:b, :] = rng.normal(100, 20, (b - a, b - a) + tuple(shape[2:]))
    return data


def label(shape: tuple[int, ...] = SHAPE) -> np.ndarray:
    seg = np.zeros(shape, np.uint8)
    for z in (5, 6, 7):
        seg[10:16, 10:16, z] = 2
        seg[12:14, 12:14, z] = 4
    return seg


def brats2021_case(root: Path, pid: str, mods=MODS, seg: bool = True) -> Path:
    for i, m in enumerate(mods):
        write(root / pid / f"{pid}-{m}.nii.gz", volume(i))
    if seg:
        write(root / pid / f"{pid}-seg.nii.gz", label())
    return root / pid


def brats2021(root: Path, n: int = 2) -> Path:
    """A dataset folder with ``n`` labelled cases BraTS-GLI-0000{1..n}-000, every slice in range."""
    for i in range(1, n + 1):
        brats2021_case(root, f"BraTS-GLI-{i:05d}-000")
    describe(root)
    return root


def describe(root: Path) -> None:
    """The folder's dataset.json: every one of the volumes' slices."""
    (root / "dataset.json").write_text(json.dumps({"slice_range": [0, SHAPE[2] - 1]}))


def file_of(root: Path, case: int, modality: str) -> Path:
    pid = f"BraTS-GLI-{case:05d}-000"
    return root / pid / f"{pid}-{modality}.nii.gz"


def brats2013_case(root: Path, pid: str, mask_shape: tuple[int, ...] = SHAPE) -> Path:
    names = ("Flair_subtrMeanDivStd", "T1_subtrMeanDivStd", "T1c_subtrMeanDivStd", "T2_subtrMeanDivStd")
    for i, name in enumerate(names):
        write(root / pid / f"{name}.nii.gz", volume(i))
    write(root / pid / "brainmask.nii.gz", np.ones(mask_shape, np.uint8))
    write(root / pid / "OTMultiClass.nii.gz", label())
    return root / pid


def flip_bytes(path: Path, offset_from_end: int = 64, count: int = 16) -> None:
    """Alter a file's content in place, keeping its size."""
    data = bytearray(path.read_bytes())
    start = max(0, len(data) - offset_from_end)
    for i in range(start, min(len(data), start + count)):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def corrupt_safetensors_header(tensor_file: Path) -> None:
    """Garble the JSON header of a safetensors file and record the new file in its checkpoint JSON.

    The checkpoint JSON's size and SHA-256 are updated to match, so the
    header itself is what a reader has to refuse.
    """
    import hashlib

    data = bytearray(tensor_file.read_bytes())
    data[8:24] = b"{not json at all"
    tensor_file.write_bytes(bytes(data))
    meta_path = tensor_file.with_suffix(".json")
    meta = json.loads(meta_path.read_text())
    if "sha256" in meta:
        meta["sha256"] = hashlib.sha256(bytes(data)).hexdigest()
    if "tensor_bytes" in meta:
        meta["tensor_bytes"] = len(data)
    meta_path.write_text(json.dumps(meta))


# -- the harness -------------------------------------------------------------------
@dataclass
class Env:
    """A fresh folder for one kind, with the shared trained run on request."""

    root: Path
    trained: Callable[[], Path]
    denied: list[Path] = field(default_factory=list)
    #: folders made unreadable with chmod, given their permissions back after the command
    locked: list[Path] = field(default_factory=list)

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    def path(self, name: str) -> Path:
        return self.root / name

    def run_copy(self, name: str = "run") -> Path:
        target = self.root / name
        shutil.copytree(self.trained(), target)
        return target

    def toml(self, text: str, name: str = "bad.toml") -> Path:
        path = self.root / name
        path.write_text(text)
        return path

    def tiny(self) -> Path:
        return self.toml(TINY, "tiny.toml")

    def deny(self, folder: Path) -> None:
        """Make ``folder`` unreadable as it is for a user without permission (simulated for root)."""
        self.denied.append(folder)


@dataclass
class Outcome:
    args: list
    #: substrings the one stderr line must contain: the offending file or option, and the problem
    expect: tuple[str, ...] = ()
    #: further checks after a command that is meant to succeed (exit code 0): problems found
    check: Callable[[], list[str]] | None = None
    #: a condition of the machine the command runs under (e.g. a full disk), entered around the command alone
    during: Callable[[], contextlib.AbstractContextManager] | None = None


@dataclass
class Kind:
    name: str
    build: Callable[[Env], Outcome]
    code: int = 2
    #: only meaningful where folder permissions are enforced (not for root)
    needs_permissions: bool = False


KINDS: dict[str, Kind] = {}


def kind(name: str, code: int = 2, needs_permissions: bool = False):
    def register(build: Callable[[Env], Outcome]) -> Callable[[Env], Outcome]:
        assert name not in KINDS, name
        KINDS[name] = Kind(name, build, code, needs_permissions)
        return build

    return register


@contextlib.contextmanager
def denied(paths: list[Path]) -> Iterator[None]:
    """``os.scandir`` and ``os.listdir`` fail with PermissionError on ``paths``, as for a user without rights."""
    if not paths:
        yield
        return
    blocked = {os.path.realpath(p) for p in paths}
    real_scandir, real_listdir = os.scandir, os.listdir

    def check(path) -> None:
        if os.path.realpath(os.fspath(path)) in blocked:
            raise PermissionError(13, "Permission denied", os.fspath(path))

    def scandir(path="."):
        check(path)
        return real_scandir(path)

    def listdir(path="."):
        check(path)
        return real_listdir(path)

    os.scandir, os.listdir = scandir, listdir
    try:
        yield
    finally:
        os.scandir, os.listdir = real_scandir, real_listdir


class _LastResort(logging.Handler):
    """Warnings of the project's logger to the current stderr when nothing else handles them.

    That is what a command line process does without logging configuration
    (Python's last-resort handler); under pytest the root logger's capture
    handler would swallow them.
    """

    def __init__(self, logger: logging.Logger):
        super().__init__(logging.WARNING)
        self.logger = logger

    def emit(self, record: logging.LogRecord) -> None:
        if any(h is not self for h in self.logger.handlers):  # a run's own log handlers take it
            return
        sys.stderr.write(f"{record.getMessage()}\n")


@contextlib.contextmanager
def as_in_a_shell() -> Iterator[list[warnings.WarningMessage]]:
    """Log warnings go to stderr as in a shell; Python warnings are collected (a shell would print them)."""
    logger = logging.getLogger("pathogan_bench")
    handler, propagate = _LastResort(logger), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("default")  # Python's own defaults for a script
            for category in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
                warnings.simplefilter("ignore", category)
            yield caught
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def permissions_enforced(tmp: Path) -> bool:
    probe = tmp / "probe"
    probe.mkdir()
    probe.chmod(0)
    try:
        os.listdir(probe)
        return False
    except PermissionError:
        return True
    finally:
        probe.chmod(0o755)
        probe.rmdir()


def snapshot(root: Path) -> dict[Path, tuple[int, int] | None]:
    """Every file (size, mtime) and folder (None) under ``root``."""
    found: dict[Path, tuple[int, int] | None] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            found[Path(dirpath) / d] = None
        for f in filenames:
            st = (Path(dirpath) / f).lstat()  # a broken symbolic link is a file of the snapshot too
            found[Path(dirpath) / f] = (st.st_size, st.st_mtime_ns)
    return found


def _in_run_dir(path: Path) -> bool:
    """``path`` is a file a run that failed early may leave in its run directory."""
    return path.name in RUN_BOOKKEEPING and (path.parent / "config.toml").is_file()


def leftovers(before: dict[Path, tuple[int, int] | None], root: Path, cache: Path) -> list[str]:
    """What a command left behind under ``root``: partial, new or changed output files, empty cache entries."""
    problems = []
    for path, stat in sorted(snapshot(root).items()):
        rel = path.relative_to(root)
        if any(".tmp" in part for part in rel.parts):
            problems.append(f"partial file {rel}")
        elif path.parent == cache and path.name.startswith("."):
            problems.append(f"partial cache entry {rel}")
        elif path.parent == cache / "slices" and stat is None and not (path / "meta.json").is_file():
            problems.append(f"partial or empty cache entry {rel}")
        elif path.parent == cache and path.name.startswith("synthetic-") and not (path / ".complete").is_file():
            problems.append(f"partial synthetic data {rel}")
        elif cache in path.parents or stat is None:
            continue
        elif path.name == "run.json" and before.get(path) != stat and _status(path) == "done":
            problems.append(f"a finished run {rel.parent}")
        elif path in before:
            if before[path] != stat and not _in_run_dir(path):
                problems.append(f"changed file {rel}")
        elif not _in_run_dir(path):
            problems.append(f"new file {rel}" + (" (a run's output)" if path.name in FINISHED_OUTPUTS else ""))
    return problems


def _status(run_json: Path) -> str | None:
    try:
        return json.loads(run_json.read_text()).get("status")
    except (OSError, ValueError, AttributeError):
        return "unreadable"


@dataclass
class Result:
    code: int
    out: str
    err: str
    problems: list[str]


@contextlib.contextmanager
def cache_at(folder: Path) -> Iterator[None]:
    """Generated data and preprocessed slices go to ``folder`` (``$PATHOGAN_BENCH_CACHE``)."""
    old = os.environ.get("PATHOGAN_BENCH_CACHE")
    os.environ["PATHOGAN_BENCH_CACHE"] = str(folder)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("PATHOGAN_BENCH_CACHE", None)
        else:
            os.environ["PATHOGAN_BENCH_CACHE"] = old


def run_kind(k: Kind, root: Path, trained: Callable[[], Path]) -> Result:
    """Build one kind under ``root`` (fresh), run its command, and collect what is wrong with the outcome.

    A run that fails after creating its run directory may leave its
    bookkeeping there (config.toml, run.json marked failed, log.txt,
    splits.json); anything else new or changed counts as left behind.
    """
    env = Env(root, trained)
    root.mkdir(parents=True, exist_ok=True)
    outcome = k.build(env)
    before = snapshot(root)
    try:
        during = outcome.during() if outcome.during is not None else contextlib.nullcontext()
        with cache_at(env.cache), denied(env.denied), as_in_a_shell() as caught, during:
            result = cli(*outcome.args)
    finally:
        for path in env.locked:
            path.chmod(0o755)
    problems: list[str] = []
    err = result.err + "".join(f"{w.category.__name__}: {w.message}\n" for w in caught)
    lines = err.splitlines()
    if "Traceback" in result.out + result.err:
        problems.append("a traceback")
    if result.code != k.code:
        problems.append(f"exit code {result.code}, expected {k.code}")
    if k.code == 2:
        if len(lines) != 1:
            problems.append(f"{len(lines)} lines on stderr, expected 1")
        first = lines[0] if lines else ""
        if not first.startswith("error: "):
            problems.append(f"stderr does not start with 'error: ': {first!r}")
        problems += [f"stderr does not mention {s!r}" for s in outcome.expect if s not in first]
        problems += leftovers(before, root, env.cache)
    else:
        if any(line.startswith(("error", "internal error")) for line in lines):
            problems.append(f"an error on stderr: {result.err.strip()[:300]!r}")
        problems += [f"stderr does not mention {s!r}" for s in outcome.expect if s not in err]
        problems += [p for p in leftovers(before, root, env.cache) if p.startswith("partial")]
        if outcome.check is not None:
            problems += outcome.check()
    return Result(result.code, result.out, err, problems)


def train_tiny(root: Path, steps: int = 6) -> Path:
    """The tiny PathoGAN run the checkpoint and run-folder kinds start from (checkpoints at steps 4 and 6)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "tiny.toml").write_text(TINY)
    with cache_at(root / "cache"):
        result = cli(
            "run",
            "--config",
            root / "tiny.toml",
            "--steps",
            str(steps),
            *TINY_MODEL,
            "--out",
            root / "runs",
            "--name",
            "trained",
            "--seed",
            "1",
        )
    assert result.code == 0, result.out + result.err
    return root / "runs" / "trained"


# -- the corpus: run options and configs (checked before any data is read) ---------------
def run_args(env: Env, *extra) -> list:
    return ["run", "--config", env.tiny(), *TINY_MODEL, "--out", env.path("runs"), *extra]


@kind("run --steps -5")
def _(env):
    return Outcome(run_args(env, "--steps", "-5"), ("--steps", "-5"))


@kind("run --batch-size 0")
def _(env):
    return Outcome(run_args(env, "--batch-size", "0"), ("--batch-size", "0"))


@kind("run --seed -1")
def _(env):
    return Outcome(run_args(env, "--seed", "-1"), ("--seed", "-1"))


@kind("run --epochs nan")
def _(env):
    return Outcome(run_args(env, "--epochs", "nan"), ("--epochs", "nan"))


@kind("TOML log_every = 0")
def _(env):
    config = env.toml(TINY.replace("log_every = 2", "log_every = 0"))
    return Outcome(
        ["run", "--config", config, *TINY_MODEL, "--out", env.path("runs")], ("bad.toml", "train.log_every", "0")
    )


@kind("TOML image_size = 20")
def _(env):
    config = env.toml(TINY.replace("image_size = 32", "image_size = 20"))
    return Outcome(
        ["run", "--config", config, *TINY_MODEL, "--out", env.path("runs")], ("bad.toml", "data.image_size", "20")
    )


@kind("TOML slice_range = [100, 60]")
def _(env):
    config = env.toml(TINY.replace("[data]", "[data]\nslice_range = [100, 60]"))
    return Outcome(
        ["run", "--config", config, *TINY_MODEL, "--out", env.path("runs")],
        ("bad.toml", "data.slice_range", "[100, 60]"),
    )


@kind("TOML syntax error")
def _(env):
    config = env.path("broken.toml")
    config.write_text("[data\nsynthetic_size = 32\n")
    return Outcome(["run", "--config", config, "--out", env.path("runs")], ("broken.toml", "TOML"))


@kind("TOML unknown key")
def _(env):
    config = env.toml(TINY.replace("[data]", "[data]\nslices = [60, 100]"))
    return Outcome(["run", "--config", config, "--out", env.path("runs")], ("bad.toml", "slices"))


@kind("TOML unknown metric in [eval] metrics")
def _(env):
    config = env.toml(TINY.replace("[eval]", '[eval]\nmetrics = ["dice", "nope"]'))
    return Outcome(["run", "--config", config, *TINY_MODEL, "--out", env.path("runs")], ("eval.metrics", "nope"))


@kind("run --model-option width=-1")
def _(env):
    return Outcome(
        ["run", "--config", env.tiny(), "--model-option", "width=-1", "--out", env.path("runs")], ("width", "-1")
    )


@kind("run --model-option z=0")
def _(env):
    return Outcome(run_args(env, "--model-option", "z=0"), ("option z", "0"))


@kind("run --model-option lr=nan")
def _(env):
    return Outcome(run_args(env, "--model-option", "lr=nan"), ("option lr", "nan"))


@kind("run --loss gan=-1")
def _(env):
    return Outcome(run_args(env, "--loss", "gan=-1"), ("loss.gan", "-1"))


@kind("run --loss gan=nan")
def _(env):
    return Outcome(run_args(env, "--loss", "gan=nan"), ("loss.gan", "nan"))


@kind("run --loss gan=inf")
def _(env):
    return Outcome(run_args(env, "--loss", "gan=inf"), ("loss.gan", "inf"))


@kind("run --name ../../x")
def _(env):
    return Outcome(run_args(env, "--name", "../../x"), ("name", "../../x"))


@kind("run --out naming an existing file")
def _(env):
    target = env.path("taken.txt")
    target.write_text("a file\n")
    return Outcome(["run", "--config", env.tiny(), *TINY_MODEL, "--out", target], ("taken.txt", "--out"))


@kind("run --resume of a folder that is not a run")
def _(env):
    folder = env.path("not-a-run")
    folder.mkdir()
    (folder / "notes.txt").write_text("hello\n")
    return Outcome(["run", "--resume", folder], ("not-a-run", "not a run directory"))


@kind("run --slices 100-60")
def _(env):
    return Outcome(run_args(env, "--slices", "100-60"), ("--slices", "100-60"))


# -- the corpus: data folders -------------------------------------------------------
def prepare(root: Path, *extra) -> list:
    return ["data", "prepare", root, *extra]


@kind("truncated .nii.gz")
def _(env):
    root = brats2021(env.path("data"))
    target = file_of(root, 2, "t2f")
    target.write_bytes(target.read_bytes()[:200])
    return Outcome(prepare(root), (target.name, "not a readable NIfTI"))


@kind("text file named .nii.gz")
def _(env):
    root = brats2021(env.path("data"))
    target = file_of(root, 1, "t1c")
    target.write_text("patient notes, not an image\n")
    return Outcome(prepare(root), (target.name, "not a readable NIfTI"))


@kind("gzipped text named .nii.gz")
def _(env):
    root = brats2021(env.path("data"))
    target = file_of(root, 1, "t2w")
    with gzip.open(target, "wb") as fh:
        fh.write(b"hello, not an image")
    return Outcome(prepare(root), (target.name, "not a readable NIfTI"))


@kind("complex-valued image")
def _(env):
    root = brats2021(env.path("data"))
    target = write(file_of(root, 2, "t1n"), volume(0).astype(np.complex64) * (1 + 1j))
    return Outcome(prepare(root), (target.name, "complex"))


@kind("4D image")
def _(env):
    root = brats2021(env.path("data"))
    target = write(file_of(root, 1, "t1n"), np.zeros(SHAPE + (2,), np.float32))
    return Outcome(prepare(root), (target.name, "3D"))


@kind("NaN voxels")
def _(env):
    root = brats2021(env.path("data"))
    bad = volume(3)
    bad[10, 10, 4] = np.nan
    target = write(file_of(root, 2, "t2f"), bad)
    return Outcome(prepare(root), (target.name, "NaN"))


@kind("float64 values beyond float32")
def _(env):
    root = brats2021(env.path("data"))
    bad = volume(3).astype(np.float64)
    bad[10, 10, 4] = 1e300
    target = write(file_of(root, 2, "t2f"), bad)
    return Outcome(prepare(root), (target.name, "infinite"))


def finite_cache(env: Env) -> Callable[[], list[str]]:
    """Problems of the cached slices: non-finite or out-of-range values, a flattened modality."""

    def check() -> list[str]:
        entries = sorted((env.cache / "slices").glob("*/images.npy"))
        if len(entries) != 1:
            return [f"{len(entries)} cache entries, expected 1"]
        images = np.load(entries[0])
        problems = []
        if not np.isfinite(images).all():
            problems.append(f"{int((~np.isfinite(images)).sum())} non-finite cached values")
        elif images.min() < -1 or images.max() > 1:
            problems.append(f"cached values outside [-1, 1]: {images.min()}..{images.max()}")
        else:
            brain = images[:, :, 6:26, 6:26]
            if (brain.std(axis=(0, 2, 3)) < 0.1).any():
                problems.append(f"a flattened modality (brain std per channel {brain.std(axis=(0, 2, 3)).round(3)})")
        return problems

    return check


@kind("values near 3e38 (normalised to finite values)", code=0)
def _(env):
    root = brats2021(env.path("data"))
    big = volume(3)
    for case in (1, 2):
        write(file_of(root, case, "t2f"), (big / big.max() * np.float32(3.0e38)).astype(np.float32))
    return Outcome(prepare(root), check=finite_cache(env))


@kind("one voxel at 1e30 (normalised, modality kept)", code=0)
def _(env):
    root = brats2021(env.path("data"))
    hot = volume(3)
    hot[12, 12, 6] = 1e30
    for case in (1, 2):
        write(file_of(root, case, "t2f"), hot)
    return Outcome(prepare(root), check=finite_cache(env))


@kind("missing modality")
def _(env):
    root = brats2021(env.path("data"))
    file_of(root, 2, "t1c").unlink()
    return Outcome(prepare(root), ("BraTS-GLI-00002-000", "t1c missing"))


@kind("missing requested modality")
def _(env):
    root = brats2021(env.path("data"))
    file_of(root, 1, "t1c").unlink()
    return Outcome(prepare(root, "--modalities", "flair,t1c"), ("BraTS-GLI-00001-000", "t1c missing"))


@kind("missing segmentation")
def _(env):
    root = brats2021(env.path("data"), 3)
    file_of(root, 2, "seg").unlink()
    return Outcome(prepare(root), ("BraTS-GLI-00002-000", "no segmentation"))


@kind("mismatched shapes between modalities")
def _(env):
    root = brats2021(env.path("data"))
    target = write(file_of(root, 1, "t1c"), volume(1, (16, 16, 12)))
    return Outcome(prepare(root), (target.name, "differs"))


@kind("segmentation shape differs from the images")
def _(env):
    root = brats2021(env.path("data"))
    target = write(file_of(root, 2, "seg"), label((16, 16, 12)))
    return Outcome(prepare(root), (target.name, "differs"))


@kind("label values outside the scheme")
def _(env):
    root = brats2021(env.path("data"))
    seg = label()
    seg[0, 0, 0] = 7
    target = write(file_of(root, 2, "seg"), seg)
    return Outcome(prepare(root), (target.name, "outside the scheme"))


@kind("brainmask shape mismatch (2013 layout)")
def _(env):
    root = env.path("data")
    brats2013_case(root, "brats_2013_pat0001_1")
    brats2013_case(root, "brats_2013_pat0002_1", mask_shape=(16, 16, 12))
    describe(root)
    return Outcome(prepare(root), ("brats_2013_pat0002_1", "brainmask.nii.gz", "differs"))


@kind("reversed slice range (data prepare --slices 100-60)")
def _(env):
    return Outcome(prepare(brats2021(env.path("data")), "--slices", "100-60"), ("--slices", "100-60"))


@kind("reversed slice range (data show --slices 100-60)")
def _(env):
    return Outcome(
        ["data", "show", brats2021(env.path("data")), "--slices", "100-60", "--out", env.path("grid.png")],
        ("--slices", "100-60"),
    )


@kind("slice range not FIRST-LAST")
def _(env):
    return Outcome(prepare(brats2021(env.path("data")), "--slices", "60"), ("--slices", "FIRST-LAST"))


@kind("slice range outside the volume")
def _(env):
    return Outcome(prepare(brats2021(env.path("data")), "--slices", "200-220"), ("200-220", "outside"))


@kind("dataset.json with a reversed slice range")
def _(env):
    root = brats2021(env.path("data"))
    (root / "dataset.json").write_text('{"slice_range": [100, 60]}')
    return Outcome(prepare(root), ("dataset.json", "slice_range"))


@kind("dataset.json that is not JSON")
def _(env):
    root = brats2021(env.path("data"))
    (root / "dataset.json").write_text("slice_range: 60-100\n")
    return Outcome(prepare(root), ("dataset.json", "slice_range"))


# -- the corpus: MSD, nnU-Net, BIDS and IXI folders, and healthy cohorts --------------------------------------------
@kind("MSD: 4D image with the wrong number of channels")
def _(env):
    root = layouts.msd(env.path("Task01_BrainTumour"), n=3, n_test=0)
    target = root / "imagesTr" / "BRATS_002.nii.gz"
    layouts.save(target, np.stack([layouts.contrasts()["t1"]] * 3, axis=-1))
    return Outcome(prepare(root), (target.name, "3 channel(s) along the 4th axis", "names 4"))


@kind("MSD: image listed in dataset.json missing")
def _(env):
    root = layouts.msd(env.path("Task01_BrainTumour"), n=3, n_test=0)
    (root / "imagesTr" / "BRATS_003.nii.gz").unlink()
    return Outcome(prepare(root), ("BRATS_003.nii.gz", "file not found", "dataset.json"))


@kind("MSD: label value that dataset.json's labels lack")
def _(env):
    root = layouts.msd(env.path("Task01_BrainTumour"), n=3, n_test=0)
    seg = layouts.lesion(layouts.CENTRES[0])
    seg[seg == 3] = 4  # the BraTS enhancing label; the Decathlon's is 3
    target = layouts.save(root / "labelsTr" / "BRATS_001.nii.gz", seg)
    return Outcome(prepare(root), (target.name, "outside the scheme"))


@kind("MSD: dataset.json channel that is no MRI modality")
def _(env):
    root = layouts.msd(env.path("Task01_BrainTumour"), n=2, n_test=0)
    desc = json.loads((root / "dataset.json").read_text())
    desc["modality"]["0"] = "PET"
    (root / "dataset.json").write_text(json.dumps(desc))
    return Outcome(prepare(root), ("dataset.json", '"PET"'))


@kind("nnU-Net: missing channel file")
def _(env):
    root = layouts.nnunet(env.path("Dataset001_BrainTumour"), n=3)
    (root / "imagesTr" / "BRATS_002_0001.nii.gz").unlink()
    return Outcome(prepare(root), ("BRATS_002_0001.nii.gz", "file not found"))


@kind("nnU-Net: dataset.json names channels the files do not have")
def _(env):
    root = layouts.nnunet(env.path("Dataset001_BrainTumour"), n=3, channels=("FLAIR", "T1w"))
    desc = json.loads((root / "dataset.json").read_text())
    desc["channel_names"]["2"] = "T2w"
    (root / "dataset.json").write_text(json.dumps(desc))
    return Outcome(prepare(root), ("BRATS_001_0002.nii.gz", "file not found", "dataset.json"))


@kind("nnU-Net: a channel file that dataset.json does not name")
def _(env):
    root = layouts.nnunet(env.path("Dataset001_BrainTumour"), n=3)
    desc = json.loads((root / "dataset.json").read_text())
    del desc["channel_names"]["3"]
    (root / "dataset.json").write_text(json.dumps(desc))
    return Outcome(prepare(root), ("BRATS_001_0003.nii.gz", "channel 3 is not in"))


@kind("nnU-Net: dataset.json channel that is no MRI modality")
def _(env):
    root = layouts.nnunet(env.path("Dataset001_BrainTumour"), n=2)
    desc = json.loads((root / "dataset.json").read_text())
    desc["channel_names"]["1"] = "CT"
    (root / "dataset.json").write_text(json.dumps(desc))
    return Outcome(prepare(root), ("dataset.json", '"CT"'))


@kind("BIDS: two FLAIR images in one session")
def _(env):
    root = layouts.bids(env.path("bids"), n=2)
    target = layouts.save(root / "sub-02" / "anat" / "sub-02_run-2_FLAIR.nii.gz", layouts.contrasts()["flair"])
    return Outcome(prepare(root), (target.name, "a second FLAIR"))


@kind("BIDS: missing channel file")
def _(env):
    root = layouts.bids(env.path("bids"), n=2)
    (root / "sub-02" / "anat" / "sub-02_T2w.nii.gz").unlink()
    return Outcome(prepare(root), ("sub-02", "t2 missing"))


@kind("IXI: a T2 that is not on its T1's voxel grid")
def _(env):
    root = layouts.ixi(env.path("IXI"), n=2)
    target = layouts.save(root / "IXI-T2" / "IXI002-Guys-0802-T2.nii.gz", np.ones((20, 20, 20), np.float32))
    return Outcome(prepare(root), (target.name,))


def cohort_run(env: Env, labelled: Path, cohort: Path, *extra) -> list:
    return run_args(env, "--data", labelled, "--healthy-data", cohort, "--steps", "2", *extra)


@kind("run --healthy-data without the labelled modalities")
def _(env):
    labelled = layouts.msd(env.path("msd"), n=4, n_test=0)
    cohort = layouts.ixi(env.path("ixi"))
    return Outcome(cohort_run(env, labelled, cohort), (str(cohort), "has no flair, t1c"))


@kind("run --healthy-data in another orientation")
def _(env):
    labelled = layouts.msd(env.path("msd"), n=4, n_test=0)
    affine = layouts.anatomy()[1].copy()
    affine[:, 0] *= -1
    cohort = layouts.ixi(env.path("ixi"), affine=affine)
    return Outcome(cohort_run(env, labelled, cohort, "--modalities", "t1,t2"), (str(cohort), "orientation"))


@kind("run --healthy-data of another voxel size")
def _(env):
    labelled = layouts.msd(env.path("msd"), n=4, n_test=0)
    affine = layouts.anatomy()[1].copy()
    affine[:3, :3] *= 2
    cohort = layouts.ixi(env.path("ixi"), affine=affine)
    return Outcome(cohort_run(env, labelled, cohort, "--modalities", "t1,t2"), (str(cohort), "voxel size"))


@kind("run --healthy-data without --data")
def _(env):
    cohort = layouts.ixi(env.path("ixi"))
    return Outcome(run_args(env, "--healthy-data", cohort), ("data.healthy_path", "--data"))


@kind("data prepare --split-fractions not numbers")
def _(env):
    return Outcome(prepare(brats2021(env.path("data")), "--split-fractions", "a,b,c"), ("--split-fractions", "a,b,c"))


@kind("data prepare --split-fractions that do not sum to 1")
def _(env):
    return Outcome(
        prepare(brats2021(env.path("data")), "--split-fractions", "0.5,0.5,0.5"), ("--split-fractions", "sum to 1")
    )


@kind("empty folder")
def _(env):
    root = env.path("empty")
    root.mkdir()
    return Outcome(prepare(root), (str(root), "no BraTS-style"))


@kind("unreadable folder (chmod 000)", needs_permissions=True)
def _(env):
    root = brats2021(env.path("data"))
    root.chmod(0)
    env.locked.append(root)
    return Outcome(prepare(root), (str(root), "permission denied"))


@kind("unreadable folder (simulated PermissionError)")
def _(env):
    root = brats2021(env.path("data"))
    env.deny(root)
    return Outcome(prepare(root), (str(root), "permission denied"))


@kind("unreadable case folder inside a dataset (simulated PermissionError)")
def _(env):
    root = brats2021(env.path("data"), 3)
    env.deny(root / "BraTS-GLI-00002-000")
    return Outcome(prepare(root), ("BraTS-GLI-00002-000", "permission denied"))


@kind("run --data with a case missing a modality")
def _(env):
    root = brats2021(env.path("data"), 3)
    file_of(root, 3, "t2w").unlink()
    return Outcome(
        ["run", "--config", env.tiny(), *TINY_MODEL, "--data", root, "--out", env.path("runs")],
        ("BraTS-GLI-00003-000", "t2 missing"),
    )


@kind("run --data with a case missing its segmentation")
def _(env):
    root = brats2021(env.path("data"), 3)
    file_of(root, 1, "seg").unlink()
    return Outcome(
        ["run", "--config", env.tiny(), *TINY_MODEL, "--data", root, "--out", env.path("runs")],
        ("BraTS-GLI-00001-000", "no segmentation"),
    )


# -- the corpus: segment, metrics, evaluate, compare on a trained run --------------------
def segment(env: Env, run: Path, *inputs: Path) -> list:
    return ["segment", run, *inputs, "--out", env.path("seg"), "--device", "cpu"]


@kind("segment: input lacks a modality the model was trained on")
def _(env):
    case = brats2021_case(env.path("in"), "BraTS-GLI-00009-000", mods=("t1n", "t2f"), seg=False)
    return Outcome(segment(env, env.trained(), case), ("BraTS-GLI-00009-000", "missing"))


@kind("segment: complex-valued input")
def _(env):
    case = brats2021_case(env.path("in"), "BraTS-GLI-00009-000", seg=False)
    target = write(case / "BraTS-GLI-00009-000-t2w.nii.gz", volume(2).astype(np.complex64))
    return Outcome(segment(env, env.trained(), case), (target.name, "complex"))


@kind("segment: input with NaN voxels")
def _(env):
    case = brats2021_case(env.path("in"), "BraTS-GLI-00009-000", seg=False)
    bad = volume(2)
    bad[:, :, 3] = np.nan
    target = write(case / "BraTS-GLI-00009-000-t2w.nii.gz", bad)
    return Outcome(segment(env, env.trained(), case), (target.name, "NaN"))


@kind("segment: brainmask shape mismatch (2013 layout)")
def _(env):
    case = brats2013_case(env.path("in"), "brats_2013_pat0009_1", mask_shape=(16, 16, 12))
    return Outcome(segment(env, env.trained(), case), ("brainmask.nii.gz", "differs"))


@kind("segment: values near 3e38 give finite probabilities", code=0)
def _(env):
    case = brats2021_case(env.path("in"), "BraTS-GLI-00009-000", seg=False)
    big = volume(3)
    write(case / "BraTS-GLI-00009-000-t2f.nii.gz", (big / big.max() * np.float32(3.0e38)).astype(np.float32))

    def check() -> list[str]:
        found = list(env.path("seg").rglob("BraTS-GLI-00009-000-prob.nii.gz"))
        if not found:
            return ["no probability map written"]
        data = np.asarray(nib.load(str(found[0])).dataobj)
        return [] if np.isfinite(data).all() else [f"{int((~np.isfinite(data)).sum())} non-finite probabilities"]

    return Outcome(segment(env, env.trained(), case), check=check)


@kind("segment: an unlabelled case next to labelled ones (2013 layout) is segmented", code=0)
def _(env):
    root = env.path("in")
    brats2013_case(root, "brats_2013_pat0001_1")
    case = brats2013_case(root, "brats_2013_pat0009_1")
    (case / "OTMultiClass.nii.gz").unlink()

    def check() -> list[str]:
        return [] if list(env.path("seg").rglob("brats_2013_pat0009_1-label.nii.gz")) else ["nothing segmented"]

    return Outcome(segment(env, env.trained(), case), check=check)


@kind("segment: --out names a file")
def _(env):
    case = brats2021_case(env.path("in"), "BraTS-GLI-00009-000", seg=False)
    target = env.path("seg")
    target.write_text("a file\n")
    return Outcome(["segment", env.trained(), case, "--out", target, "--device", "cpu"], (str(target), "--out"))


@kind("segment: RUN_DIR is not a run")
def _(env):
    case = brats2021_case(env.path("in"), "BraTS-GLI-00009-000", seg=False)
    return Outcome(segment(env, env.path("in"), case), ("not a run directory",))


@kind("checkpoint tensor file altered at the same size (every checkpoint)")
def _(env):
    run = env.run_copy()
    for tensors in sorted((run / "checkpoints").glob("*.safetensors")):
        flip_bytes(tensors)
    case = brats2021_case(env.path("in"), "BraTS-GLI-00009-000", seg=False)
    return Outcome(segment(env, run, case), ("step-00000006.safetensors", "SHA-256"))


@kind("checkpoint tensor file altered at the same size (newest only: warned fallback)", code=0)
def _(env):
    run = env.run_copy()
    flip_bytes(run / "checkpoints" / "step-00000006.safetensors")
    case = brats2021_case(env.path("in"), "BraTS-GLI-00009-000", seg=False)

    def check() -> list[str]:
        return [] if list(env.path("seg").rglob("BraTS-GLI-00009-000-label.nii.gz")) else ["nothing segmented"]

    return Outcome(segment(env, run, case), ("step-00000006.safetensors", "falling back"), check)


@kind("corrupt safetensors header (every checkpoint)")
def _(env):
    run = env.run_copy()
    for tensors in sorted((run / "checkpoints").glob("*.safetensors")):
        corrupt_safetensors_header(tensors)
    case = brats2021_case(env.path("in"), "BraTS-GLI-00009-000", seg=False)
    return Outcome(segment(env, run, case), ("step-00000006.safetensors", "safetensors"))


@kind("checkpoint does not match config.toml (width changed after training)")
def _(env):
    run = env.run_copy()
    config = run / "config.toml"
    text = config.read_text()
    assert "width = 0.0625" in text
    config.write_text(text.replace("width = 0.0625", "width = 0.125"))
    case = brats2021_case(env.path("in"), "BraTS-GLI-00009-000", seg=False)
    return Outcome(segment(env, run, case), ("step-00000006", "does not match"))


@kind("run directory without checkpoints")
def _(env):
    run = env.run_copy()
    shutil.rmtree(run / "checkpoints")
    case = brats2021_case(env.path("in"), "BraTS-GLI-00009-000", seg=False)
    return Outcome(segment(env, run, case), ("checkpoints", "no complete checkpoint"))


@kind("metrics: shapes differ")
def _(env):
    pred = write(env.path("pred.nii.gz"), label((16, 16, 12)))
    gt = write(env.path("gt.nii.gz"), label())
    return Outcome(["metrics", pred, gt, "--out", env.path("scores.csv")], ("pred.nii.gz", "differs"))


@kind("metrics: prediction is a text file")
def _(env):
    pred = env.path("pred.nii.gz")
    pred.write_text("not an image\n")
    gt = write(env.path("gt.nii.gz"), label())
    return Outcome(["metrics", pred, gt, "--out", env.path("scores.csv")], ("pred.nii.gz",))


@kind("metrics: --spacing not numbers")
def _(env):
    pred = write(env.path("pred.nii.gz"), label())
    gt = write(env.path("gt.nii.gz"), label())
    return Outcome(["metrics", pred, gt, "--spacing", "1,x,1", "--out", env.path("scores.csv")], ("--spacing",))


@kind("evaluate: folder that is not a run")
def _(env):
    folder = env.path("not-a-run")
    folder.mkdir()
    return Outcome(["evaluate", folder, "--out", env.path("rescored")], ("not-a-run", "not a run directory"))


@kind("evaluate: truncated predictions.npz")
def _(env):
    run = env.run_copy()
    target = run / "predictions.npz"
    target.write_bytes(target.read_bytes()[:300])
    return Outcome(["evaluate", run, "--out", env.path("rescored")], ("predictions.npz",))


@kind("evaluate: unknown metric")
def _(env):
    run = env.run_copy()
    return Outcome(["evaluate", run, "--metrics", "dice,nope", "--out", env.path("rescored")], ("nope",))


@kind("compare: a folder that is not a run")
def _(env):
    folder = env.path("not-a-run")
    folder.mkdir()
    return Outcome(
        ["compare", env.trained(), folder, "--out", env.path("comparison")], ("not-a-run", "not a run directory")
    )


@kind("compare: run.json that is not JSON")
def _(env):
    run = env.run_copy()
    (run / "run.json").write_text("{status: done")
    return Outcome(["compare", env.trained(), run, "--out", env.path("comparison")], ("run.json", "JSON"))


@kind("compare: a run that failed before training")
def _(env):
    run = env.run_copy()
    for name in (*FINISHED_OUTPUTS, "checkpoints", "losses.csv"):
        target = run / name
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    info = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**info, "status": "failed", "error": "out of memory"}))
    return Outcome(["compare", env.trained(), run, "--out", env.path("comparison")], (str(run),))


# -- the corpus: geometry of a case's files ---------------------------------------------
def shifted(offset=(0.0, 0.0, 0.0), scale=(1.0, 1.0, 1.0)) -> np.ndarray:
    """An affine with voxel size ``scale`` and origin ``offset`` (mm), axes as the identity's."""
    affine = np.diag([*scale, 1.0])
    affine[:3, 3] = offset
    return affine


def flipped_x(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The same anatomy stored with its first axis reversed, and the affine that says so."""
    affine = np.diag([-1.0, 1.0, 1.0, 1.0])
    affine[0, 3] = data.shape[0] - 1
    return data[::-1].copy(), affine


def same_cache_as_unflipped(env: Env, unflipped: Path) -> Callable[[], list[str]]:
    """The cached slices equal those of the same dataset stored without the flip."""

    def check() -> list[str]:
        other = env.root / "cache-unflipped"
        result = cli("data", "prepare", unflipped, "--cache", other)
        if result.code != 0:
            return [f"preparing the unflipped copy failed: {result.err.strip()[:200]}"]
        mine = sorted((env.cache / "slices").glob("*/images.npy")) or sorted(env.cache.rglob("images.npy"))
        theirs = sorted(other.rglob("images.npy"))
        if len(mine) != 1 or len(theirs) != 1:
            return [f"{len(mine)} and {len(theirs)} cache entries, expected 1 each"]
        a, b = np.load(mine[0]), np.load(theirs[0])
        if a.shape != b.shape or not np.allclose(a, b, atol=1e-6):
            return ["the channels of the flipped modality do not describe the same voxels as the others"]
        return []

    return check


@kind("modality stored flipped with a matching affine (brought to one orientation)", code=0)
def _(env):
    root = brats2021(env.path("data"))
    unflipped = brats2021(env.path("unflipped"))
    for case in (1, 2):
        data, affine = flipped_x(volume(1))
        write(file_of(root, case, "t1c"), data, affine)
    return Outcome(prepare(root), check=same_cache_as_unflipped(env, unflipped))


@kind("modality with its origin shifted by 3 mm (mis-registered)")
def _(env):
    root = brats2021(env.path("data"))
    target = write(file_of(root, 2, "t2w"), volume(2), shifted((3.0, 0.0, 0.0)))
    return Outcome(prepare(root), (target.name, "t2f", "origin", "3 mm"))


@kind("modality with another voxel size at the same shape")
def _(env):
    root = brats2021(env.path("data"))
    target = write(file_of(root, 1, "t2f"), volume(3), shifted(scale=(1.0, 1.0, 1.5)))
    return Outcome(prepare(root), (target.name, "spacing", "1.5"))


@kind("modality rotated by 5 degrees")
def _(env):
    root = brats2021(env.path("data"))
    angle = np.deg2rad(5.0)
    affine = np.eye(4)
    affine[:2, :2] = [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
    target = write(file_of(root, 1, "t1c"), volume(1), affine)
    return Outcome(prepare(root), (target.name, "direction", "5"))


@kind("segmentation whose affine differs from the images")
def _(env):
    root = brats2021(env.path("data"))
    target = file_of(root, 2, "seg")
    write(target, label(), shifted((0.0, 4.0, 0.0)))
    return Outcome(prepare(root), (target.name, "origin", "4 mm"))


@kind("brainmask whose affine differs from the images (2013 layout)")
def _(env):
    root = env.path("data")
    brats2013_case(root, "brats_2013_pat0001_1")
    case = brats2013_case(root, "brats_2013_pat0002_1")
    write(case / "brainmask.nii.gz", np.ones(SHAPE, np.uint8), shifted(scale=(2.0, 2.0, 2.0)))
    describe(root)
    return Outcome(prepare(root), ("brainmask.nii.gz", "spacing"))


@kind("modality with a non-finite affine")
def _(env):
    root = brats2021(env.path("data"))
    target = file_of(root, 1, "t1n")
    header = nib.Nifti1Header()
    header["sform_code"] = 1
    header["srow_x"] = [np.nan, 0.0, 0.0, 0.0]
    header["srow_y"] = [0.0, 1.0, 0.0, 0.0]
    header["srow_z"] = [0.0, 0.0, 1.0, 0.0]
    raw_nifti(target, volume(0), header)
    return Outcome(prepare(root), (target.name, "affine"))


@kind("segment: input modality with its origin shifted")
def _(env):
    case = brats2021_case(env.path("in"), "BraTS-GLI-00009-000", seg=False)
    target = write(case / "BraTS-GLI-00009-000-t2w.nii.gz", volume(2), shifted((0.0, 0.0, 2.5)))
    return Outcome(segment(env, env.trained(), case), (target.name, "origin", "2.5 mm"))


@kind("metrics: prediction whose origin differs from the ground truth")
def _(env):
    pred = write(env.path("pred.nii.gz"), label(), shifted((1.0, 1.0, 0.0)))
    gt = write(env.path("gt.nii.gz"), label())
    return Outcome(["metrics", pred, gt, "--out", env.path("scores.csv")], ("pred.nii.gz", "gt.nii.gz", "origin"))


@kind("metrics: prediction stored flipped with a matching affine (scored voxel by voxel)", code=0)
def _(env):
    data, affine = flipped_x(label())
    pred = write(env.path("pred.nii.gz"), data, affine)
    gt = write(env.path("gt.nii.gz"), label())

    def check() -> list[str]:
        import pandas as pd

        scores = pd.read_csv(env.path("scores.csv"))
        dice = float(scores["dice"].iloc[0])
        return [] if dice == pytest.approx(1.0) else [f"Dice {dice} of a prediction equal to the ground truth"]

    return Outcome(["metrics", pred, gt, "--out", env.path("scores.csv")], check=check)


# -- the corpus: degenerate images ---------------------------------------------------------
@kind("modality constant inside the brain")
def _(env):
    root = brats2021(env.path("data"))
    flat = np.where(volume(2) != 0, np.float32(250.0), np.float32(0.0))
    target = write(file_of(root, 2, "t2w"), flat)
    return Outcome(prepare(root), (target.name, "constant", "250"))


@kind("modality that is all zeros")
def _(env):
    root = brats2021(env.path("data"))
    target = write(file_of(root, 1, "t1c"), np.zeros(SHAPE, np.float32))
    return Outcome(prepare(root), (target.name, "constant", "0"))


@kind("segment: input modality constant inside the brain")
def _(env):
    case = brats2021_case(env.path("in"), "BraTS-GLI-00009-000", seg=False)
    target = write(case / "BraTS-GLI-00009-000-t1n.nii.gz", np.where(volume(0) != 0, 7.0, 0.0).astype(np.float32))
    return Outcome(segment(env, env.trained(), case), (target.name, "constant"))


@kind("every segmentation of a dataset empty (said)", code=0)
def _(env):
    root = brats2021(env.path("data"))
    for case in (1, 2):
        write(file_of(root, case, "seg"), np.zeros(SHAPE, np.uint8))
    return Outcome(prepare(root), (str(root), "empty"))


# -- the corpus: the machine and finished runs ------------------------------------------------
@contextlib.contextmanager
def full_disk_for(name: str) -> Iterator[None]:
    """Writing a file whose name contains ``name`` fails as on a full disk (ENOSPC)."""
    import errno

    real = Path.write_bytes

    def write_bytes(self, data):
        if name in self.name:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(self, data)

    Path.write_bytes = write_bytes  # type: ignore[method-assign]
    try:
        yield
    finally:
        Path.write_bytes = real  # type: ignore[method-assign]


@kind("disk full while writing a checkpoint", code=1)
def _(env):
    return Outcome(
        run_args(env, "--steps", "6", "--name", "full"),
        ("step-00000006.safetensors", "disk is full", "step-00000004.json", "--resume"),
        check=lambda: (
            []
            if _status(env.path("runs") / "full" / "run.json") != "done"
            else ["a run that could not save its checkpoint is marked done"]
        ),
        during=lambda: full_disk_for(".step-00000006.safetensors"),
    )


@kind("run --resume of a finished run changes nothing", code=0)
def _(env):
    run = env.run_copy()
    before = snapshot(run)

    def check() -> list[str]:
        after = snapshot(run)
        changed = sorted(str(p.relative_to(run)) for p in set(before) | set(after) if before.get(p) != after.get(p))
        return [f"changed in the finished run: {changed[:6]}"] if changed else []

    return Outcome(["run", "--resume", run], (str(run), "already finished"), check)


# -- option ranges, ambiguous folders, runs tied to their data, outputs that never collide ---------------
@kind("run --seed 4294967296 (beyond a 32-bit seed)")
def _(env):
    return Outcome(run_args(env, "--seed", "4294967296"), ("--seed", "4294967296"))


@kind("TOML seed = 2**40")
def _(env):
    config = env.toml("seed = 1099511627776\n" + TINY)
    return Outcome(["run", "--config", config, *TINY_MODEL, "--out", env.path("runs")], ("bad.toml", "seed"))


@kind("TOML eval batch_size = 1000000")
def _(env):
    config = env.toml(TINY.replace("[eval]", "[eval]\nbatch_size = 1000000"))
    return Outcome(
        ["run", "--config", config, *TINY_MODEL, "--out", env.path("runs")], ("bad.toml", "eval.batch_size", "1000000")
    )


@kind("run --model-option width=100 (beyond one machine)")
def _(env):
    return Outcome(
        ["run", "--config", env.tiny(), "--model-option", "width=100", "--out", env.path("runs")], ("width",)
    )


@kind("data synth --size 100000")
def _(env):
    return Outcome(["data", "synth", "--out", env.path("syn"), "--size", "100000"], ("--size", "100000"))


@kind("sample --n 100000")
def _(env):
    return Outcome(["sample", env.trained(), "--n", "100000", "--out", env.path("s")], ("--n", "100000"))


@kind("two segmentations of one case (a copy in a subfolder)")
def _(env):
    root = brats2021(env.path("data"))
    seg = next(root.rglob("*-seg.nii.gz"))
    copy = seg.parent / "old" / seg.name
    copy.parent.mkdir()
    shutil.copyfile(seg, copy)
    return Outcome(prepare(root), (str(copy), str(seg), "a second segmentation"))


@kind("a modality file that is a broken symbolic link")
def _(env):
    root = brats2021(env.path("data"))
    target = file_of(root, 1, "t2f")
    target.unlink()
    os.symlink(env.path("gone.nii.gz"), target)
    return Outcome(prepare(root), (target.name, "broken symbolic link"))


@kind("a dataset folder holding a symbolic link to itself", code=0)
def _(env):
    root = brats2021(env.path("data"))
    os.symlink(root, root / "loop")
    return Outcome(prepare(root), ())


@kind("native BraTS .mha files without SimpleITK")
def _(env):
    root = layouts.brats2012(env.path("BRATS2015"), n=1)

    @contextlib.contextmanager
    def without_simpleitk() -> Iterator[None]:
        saved = sys.modules.get("SimpleITK")
        sys.modules["SimpleITK"] = None  # type: ignore[assignment]
        try:
            yield
        finally:
            if saved is not None:
                sys.modules["SimpleITK"] = saved
            else:
                sys.modules.pop("SimpleITK", None)

    return Outcome(prepare(root, "--dataset", "brats2012"), (".mha", "pathogan-bench[mha]"), during=without_simpleitk)


@kind("run --resume after a data file changed")
def _(env):
    root = brats2021(env.path("data"), n=4)
    code = cli(
        *run_args(env, "--data", root, "--steps", "4", "--stop-at", "2", "--name", "r", "--dataset", "brats2021")
    )
    assert code.code == 0, code.err
    target = file_of(root, 1, "t2f")
    write(target, volume(7) * 3)
    return Outcome(["run", "--resume", env.path("runs") / "r"], (str(target), "content changed"))


@kind("run --resume while another live process holds the run")
def _(env):
    import socket

    run = env.run_copy()
    lock = {"pid": os.getppid(), "host": socket.gethostname(), "started": "2026-01-01T00:00:00"}
    (run / "run.lock").write_text(json.dumps(lock))
    (run / "run.json").write_text(json.dumps({**json.loads((run / "run.json").read_text()), "status": "stopped"}))
    return Outcome(["run", "--resume", run], (str(run), f"in use by process {os.getppid()}"))


@kind("segment: two inputs with one case id")
def _(env):
    one = brats2021_case(env.path("a"), "BraTS-GLI-00009-000", seg=False)
    two = brats2021_case(env.path("b"), "BraTS-GLI-00009-000", seg=False)
    return Outcome(segment(env, env.trained(), one, two), (str(two), "BraTS-GLI-00009-000 again"))


@kind("segment --out inside another run's directory")
def _(env):
    other = env.run_copy("other")
    case = brats2021_case(env.path("in"), "BraTS-GLI-00009-000", seg=False)
    args = ["segment", env.trained(), case, "--out", other / "seg", "--device", "cpu"]
    return Outcome(args, ("--out", str(other)))


@kind("evaluate --out inside another run's directory")
def _(env):
    other = env.run_copy("other")
    return Outcome(["evaluate", env.trained(), "--out", other / "scores"], ("--out", str(other)))


@kind("compare: one run named twice")
def _(env):
    run = env.run_copy()
    return Outcome(["compare", run, env.root / "." / "run", "--out", env.path("cmp")], ("given twice",))


# -- the tests ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Callable[[], Path]:
    """One tiny trained run shared by every kind that needs one (trained on first use)."""
    made: list[Path] = []

    def get() -> Path:
        if not made:
            made.append(train_tiny(tmp_path_factory.mktemp("bad-input-run")))
        return made[0]

    return get


@pytest.mark.slow
@pytest.mark.parametrize("name", list(KINDS))
def test_bad_input(name, tmp_path, trained_run):
    k = KINDS[name]
    if k.needs_permissions and not permissions_enforced(tmp_path):
        pytest.skip("folder permissions are not enforced for this user (root)")
    result = run_kind(k, tmp_path / "kind", trained_run)
    assert not result.problems, (
        f"{result.problems}\nexit {result.code}\nstderr: {result.err}\nstdout: {result.out[-2000:]}"
    )
