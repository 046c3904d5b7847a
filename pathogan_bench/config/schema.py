"""The run configuration: typed dataclasses, their defaults and the presets."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import tomli_w

from ..data.synthetic_knobs import DEFAULT_DIFFICULTY, DEFAULT_LEVELS

#: the modes torch.compile accepts
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune")


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
    split_fractions: list[float] = field(default_factory=lambda: [0.6, 0.2, 0.2])
    #: seed of the patient split (and of the folds); -1 = the run's seed (fix it to compare seeds on one split)
    split_seed: int = -1
    #: a JSON file of patient lists per split ({"train": [...], "val": [...], "test": [...]}, e.g. a run's
    #: splits.json); replaces the fractions, and patients it does not list are left out
    split_file: str = ""
    #: a second folder of cases that is the test split; the data folder is then split into train and val only
    test_path: str = ""
    #: a folder of healthy scans (every slice healthy by declaration, no labels needed) added to the training
    #: data: the healthy training slices come from it alone; the test split stays the labelled data's
    healthy_path: str = ""
    #: patient-level cross-validation: ``folds`` test folds (0 = none); this run is fold ``fold`` (1-based)
    folds: int = 0
    fold: int = 0
    #: fraction of training patients whose pixel labels a fully supervised model may use
    label_fraction: float = 1.0
    skip_bad_cases: bool = False
    #: skip (and list) cases lacking a modality instead of stopping with an error naming them
    allow_missing_modalities: bool = False
    #: keep cases without a segmentation, when others have one, as unlabelled (never trained on or scored)
    allow_unlabelled: bool = False
    #: where preprocessed slices and generated synthetic data are cached; empty = default
    cache_dir: str = ""
    #: the synthetic dataset used when no path is given
    synthetic_patients: int = 12
    synthetic_size: int = 240
    #: seed of the generated synthetic data; -1 = the run's seed
    synthetic_seed: int = -1
    #: "easy" (every lesion FLAIR-bright, nothing healthy is), "standard" or "hard" (more lesions that are not
    #: FLAIR-bright, more FLAIR-bright healthy structures); docs/DATA.md
    synthetic_difficulty: str = DEFAULT_DIFFICULTY
    #: where the synthetic healthy slices lie in axial level: "natural", "shortcut" (only at the extremes, as in
    #: small BraTS sets) or "even" (at every level); docs/DATA.md
    synthetic_levels: str = DEFAULT_LEVELS
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
    #: torch.compile mode, one of COMPILE_MODES; "reduce-overhead": CUDA graphs, fewer kernel launches
    compile_mode: str = "reduce-overhead"
    deterministic: bool = False
    #: CPU threads for torch; 0 = the physical cores available to this process (see pathogan_bench.device)
    threads: int = 0
    #: the run fails when more than this fraction of optimizer updates was skipped (non-finite loss or gradients)
    max_skipped_fraction: float = 0.1
    #: draw healthy and pathological training slices with one distribution over axial levels (weakly supervised
    #: models; levels where only one domain lies are left out): removes the anatomical-level shortcut
    level_matched: bool = False
    #: experiment loggers by registry name (pathogan_bench.tracking): "tensorboard" writes RUN_DIR/tensorboard
    #: when the package is installed, "mlflow" needs the mlflow extra
    loggers: list[str] = field(default_factory=lambda: ["tensorboard"])
    #: where the loggers write ("" = each logger's default; mlflow: RUN_DIR/../mlruns), e.g. http://HOST:5000
    tracking_uri: str = ""


@dataclass
class EvalConfig:
    #: metrics of masks (Table 1) and of probability maps (whole scans), by registry name
    metrics: list[str] = field(
        default_factory=lambda: ["dice", "hd95", "avd", "dice_pp", "auroc", "auprc", "best_dice"]
    )
    #: threshold policies scored side by side (registry names, NAME or NAME:ARGUMENT); the first row of Table 1
    #: is always the model's own rule
    policies: list[str] = field(default_factory=lambda: ["model", "fpr:1", "fpr:5", "val-dice", "otsu", "oracle"])
    #: post-processing steps applied per patient volume, in order (e.g. ["median:5", "min-component:0.1ml"]);
    #: every policy is scored before and after them
    postprocess: list[str] = field(default_factory=list)
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
    #: "auto", "cpu" or "cuda[:N]"; a resolved config holds the device actually used
    device: str = "auto"
    seed: int = 0
    #: parent folder of run directories
    out: str = "runs"
    #: name of the run directory; empty = <date>-<time>-<model>-<loss-set>
    name: str = ""
    #: options passed to the model's factory (e.g. width = 0.125); ``--model-option KEY=VALUE``
    model_options: dict[str, Any] = field(default_factory=dict)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)


PRESETS: dict[str, dict[str, Any]] = {
    "quick": {
        "model_options": {"width": 0.125},
        "data": {
            "synthetic_patients": 10,
            "synthetic_size": 64,
            "image_size": 64,
            "n_healthy": 600,
            "n_pathological": 600,
        },
        "train": {"epochs": 0, "steps": 400, "log_every": 20, "checkpoint_every": 200, "sample_every": 200},
        "eval": {"figure_slices": 4},
    },
    "paper": {
        "model_options": {"width": 1.0},
        "data": {"synthetic_size": 240, "n_healthy": 1500, "n_pathological": 6000},
        "train": {"epochs": 119, "steps": 0, "log_every": 100, "checkpoint_every": 5000, "sample_every": 5000},
    },
}


def to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def to_toml(config: RunConfig) -> str:
    header = (
        "# pathogan-bench resolved run configuration\n# repeat this run: pathogan-bench run --config config.toml\n\n"
    )
    return header + tomli_w.dumps(_drop_none(to_dict(config)))


def _drop_none(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _drop_none(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [_drop_none(v) for v in obj]
    return obj
