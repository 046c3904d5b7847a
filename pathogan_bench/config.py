"""One typed configuration object per run.

Resolution order, later wins: the dataclass defaults < the preset
(``quick`` or ``paper``) < a TOML config file (``--config``) < command-line
options. The fully resolved config is written into the run directory as
``config.toml``; ``pathogan-bench run --config RUN_DIR/config.toml`` repeats
the run.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_type_hints

import tomli_w

from .errors import UserError


@dataclass
class DataConfig:
    """Which data, and how it is turned into slices."""

    #: a folder of NIfTI cases; empty = the built-in synthetic dataset
    path: str = ""
    #: dataset plugin name, or "auto" to detect the folder's naming scheme
    dataset: str = "auto"
    #: modality names (e.g. ["flair", "t1c"]); empty = every modality all cases have
    modalities: list[str] = field(default_factory=list)
    #: inclusive axial slice range; empty = the dataset's default (paper: 60-100)
    slice_range: list[int] = field(default_factory=list)
    #: in-plane size the slices are resized to; 0 = keep
    image_size: int = 0
    #: a slice with more tumour pixels than this is pathological (paper: 20)
    pathological_min_pixels: int = 20
    #: training slices selected per domain (paper: 1500 healthy, 6000 pathological)
    n_healthy: int = 1500
    n_pathological: int = 6000
    #: patient fractions for the train / validation / test splits
    split: list[float] = field(default_factory=lambda: [0.6, 0.2, 0.2])
    #: seed of the patient split; -1 = the run's seed (fix it to compare seeds on one split)
    split_seed: int = -1
    #: fraction of training patients whose pixel labels a fully supervised model may use
    label_fraction: float = 1.0
    skip_bad_cases: bool = False
    #: where preprocessed slices and generated synthetic data are cached; empty = default
    cache_dir: str = ""
    #: the synthetic dataset used when no path is given
    synthetic_patients: int = 12
    synthetic_size: int = 240
    augment: bool = True


@dataclass
class TrainConfig:
    """The optimisation loop."""

    batch_size: int = 4
    #: epochs over max(#healthy, #pathological) training slices (paper: 119)
    epochs: float = 119.0
    #: total steps; 0 = derived from epochs
    steps: int = 0
    #: stop (with a checkpoint) after this step and let --resume continue; 0 = never
    stop_at: int = 0
    log_every: int = 50
    checkpoint_every: int = 2000
    keep_checkpoints: int = 2
    sample_every: int = 2000
    #: consecutive steps with a non-finite loss before the run fails
    max_nonfinite: int = 20
    #: bf16 autocast and channels-last memory format (CUDA only)
    amp: bool = True
    channels_last: bool = True
    compile: bool = False
    #: torch.compile mode: "default", "reduce-overhead" (CUDA graphs: fewer kernel launches) or "max-autotune"
    compile_mode: str = "reduce-overhead"
    deterministic: bool = False


@dataclass
class EvalConfig:
    metrics: list[str] = field(default_factory=lambda: ["dice", "hd95", "avd", "dice_pp"])
    #: empty-mask convention for distances: "default" or "brats"
    empty: str = "default"
    batch_size: int = 32
    #: test slices shown in the qualitative figure
    figure_slices: int = 4
    splits: list[str] = field(default_factory=lambda: ["train", "test"])


@dataclass
class RunConfig:
    model: str = "pathogan"
    loss_set: str = "full"
    #: weight overrides and extra terms, term -> weight
    loss: dict[str, float] = field(default_factory=dict)
    #: terms removed from the loss set
    without: list[str] = field(default_factory=list)
    #: user-defined loss sets, name -> [[term, weight], ...]
    loss_sets: dict[str, list[list[Any]]] = field(default_factory=dict)
    #: "quick" (CPU minutes), "paper" (the paper's schedule) or "auto" (quick on CPU, paper on CUDA)
    preset: str = "auto"
    device: str = "auto"
    seed: int = 0
    #: parent folder of run directories
    out: str = "runs"
    #: name of the run directory; empty = <date>-<time>-<model>-<loss-set>
    name: str = ""
    #: options passed to the model's factory (e.g. width = 0.125)
    model_options: dict[str, Any] = field(default_factory=dict)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)


PRESETS: dict[str, dict[str, Any]] = {
    "quick": {
        "model_options": {"width": 0.125},
        "data": {"synthetic_patients": 10, "synthetic_size": 64, "image_size": 64, "n_healthy": 600, "n_pathological": 600},
        "train": {"epochs": 0, "steps": 400, "log_every": 20, "checkpoint_every": 200, "sample_every": 200},
        "eval": {"figure_slices": 4},
    },
    "paper": {
        "model_options": {"width": 1.0},
        "data": {"synthetic_size": 240, "n_healthy": 1500, "n_pathological": 6000},
        "train": {"epochs": 119, "steps": 0, "log_every": 100, "checkpoint_every": 5000, "sample_every": 5000},
    },
}


def resolve_preset(name: str, device: str) -> str:
    if name == "auto":
        return "quick" if device == "cpu" else "paper"
    if name not in PRESETS:
        raise UserError(f"unknown preset '{name}'; choose one of: auto, {', '.join(PRESETS)}")
    return name


def load_toml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise UserError(f"{path}: config file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: not valid TOML: {exc}") from None


def build_config(file_values: dict[str, Any] | None = None, cli_values: dict[str, Any] | None = None,
                 resolve_device: Any = None, source: str = "config") -> RunConfig:
    """Merge defaults < preset < file < command line into a :class:`RunConfig`.

    ``resolve_device`` maps the requested device ("auto", "cpu", "cuda") to
    the one actually used; the "auto" preset depends on it.
    """
    file_values = file_values or {}
    cli_values = cli_values or {}
    user = _merge(file_values, cli_values)
    device = user.get("device", "auto")
    actual = resolve_device(device) if resolve_device else device
    preset = resolve_preset(user.get("preset", "auto"), actual)
    merged = _merge(_merge(PRESETS[preset], file_values), cli_values)
    merged["preset"] = preset
    return from_dict(RunConfig, merged, source)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key not in ("loss", "loss_sets"):
            out[key] = _merge(out[key], value)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


def from_dict(cls: type, values: dict[str, Any], source: str = "config") -> Any:
    """Build a (nested) config dataclass, rejecting unknown keys and wrong types."""
    hints = get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise UserError(f"{source}: unknown key(s) {', '.join(unknown)} in {cls.__name__}; known: {', '.join(sorted(known))}")
    kwargs = {}
    for name, value in values.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            if not isinstance(value, dict):
                raise UserError(f"{source}: [{name}] must be a table")
            kwargs[name] = from_dict(hint, value, source)
        else:
            kwargs[name] = _coerce(value, hint, f"{source}: {name}")
    return cls(**kwargs)


def _coerce(value: Any, hint: Any, where: str) -> Any:
    origin = getattr(hint, "__origin__", hint)
    if origin is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if origin in (int, float, str, bool):
        if not isinstance(value, origin) or (origin is int and isinstance(value, bool)):
            raise UserError(f"{where}: expected {origin.__name__}, got {value!r}")
        return value
    if origin is list and not isinstance(value, list):
        raise UserError(f"{where}: expected a list, got {value!r}")
    if origin is dict and not isinstance(value, dict):
        raise UserError(f"{where}: expected a table, got {value!r}")
    return value


def to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def to_toml(config: RunConfig) -> str:
    header = "# pathogan-bench resolved run configuration\n# repeat this run: pathogan-bench run --config config.toml\n\n"
    return header + tomli_w.dumps(_drop_none(to_dict(config)))


def _drop_none(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _drop_none(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [_drop_none(v) for v in obj]
    return obj
