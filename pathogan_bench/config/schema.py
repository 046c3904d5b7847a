"""The run configuration: typed dataclasses and their defaults (the presets: :mod:`.presets`; config.toml:
:mod:`.serialise`)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from ..data.synthetic_knobs import DEFAULT_DIFFICULTY, DEFAULT_LEVELS, DIFFICULTIES, LEVELS
from .option import Option, option
from .presets import PRESETS

#: the modes torch.compile accepts
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune")
#: torch.compile backends that need nothing beyond torch: inductor generates code (the modes apply to it alone);
#: aot_eager and eager trace the networks and run the traced operations as they are (for checking the path quickly)
COMPILE_BACKENDS = ("inductor", "aot_eager", "eager")
#: the metrics a run scores unless told otherwise: Table 1's, per-patient Dice, and three of probability maps
DEFAULT_METRICS = ["dice", "hd95", "avd", "dice_pp", "auroc", "auprc", "best_dice", "ece"]
#: the threshold policies a run scores side by side unless told otherwise
DEFAULT_POLICIES = ["model", "fpr:1", "fpr:5", "slice-labels", "val-dice", "otsu", "oracle"]


@dataclass
class DataConfig:
    """Which data, and how it is turned into slices."""

    #: a folder of NIfTI cases; empty = the built-in synthetic dataset
    path: str = option(
        "",
        flag="--data",
        kind="path",
        help="Folder of BraTS-style NIfTI cases. Default: the built-in synthetic dataset.",
    )
    #: dataset plugin name, or "auto" to detect the folder's naming scheme
    dataset: str = option(
        "auto", flag="--dataset", registry="dataset", help="Dataset plugin (default: auto-detect the folder's layout)."
    )
    #: modality names (e.g. ["flair", "t1c"]); empty = every modality all cases have
    modalities: list[str] = option(
        factory=list,
        flag="--modalities",
        kind="list",
        example="flair,t1c",
        help="Comma-separated modalities, e.g. flair,t1c (default: all).",
    )
    #: inclusive axial slice range; empty = the dataset's default (paper: 60-100)
    slice_range: list[int] = option(
        factory=list,
        flag="--slices",
        kind="slices",
        help="Axial slices FIRST-LAST (default: the dataset's; BraTS 60-100 as in the paper).",
    )
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
    split_file: str = option(
        "",
        flag="--split-file",
        kind="file",
        help='JSON patient lists per split ({"train": [...], "val": [...], "test": [...]}), e.g. a run\'s splits.json.',
    )
    #: a second folder of cases that is the test split; the data folder is then split into train and val only
    test_path: str = option(
        "",
        flag="--test-data",
        kind="path",
        help="A second folder of cases scored as the test split (another site, an official validation set); --data "
        "is then split into train and val only.",
    )
    #: a folder of healthy scans (every slice healthy by declaration, no labels needed) added to the training
    #: data: the healthy training slices come from it alone; the test split stays the labelled data's
    healthy_path: str = option(
        "",
        flag="--healthy-data",
        kind="path",
        help="A folder of healthy scans (IXI, CamCAN, ...; every slice healthy, no labels needed) that the healthy "
        "training slices come from; the test split stays --data's.",
    )
    #: a weakly supervised (or healthy-trained) run whose masks of the training slices are this run's pixel labels
    #: (see pathogan_bench.engine.refine); the validation and test labels are only scored
    pseudo_labels: str = option(
        "",
        flag="--pseudo-labels",
        kind="path",
        help="A weakly supervised run directory whose masks of the training slices replace their pixel labels "
        "(train a unet on them; validation and test labels are only scored).",
    )
    #: patient-level cross-validation: ``folds`` test folds (0 = none); this run is fold ``fold`` (1-based)
    folds: int = 0
    fold: int = 0
    #: fraction of training patients whose pixel labels a fully supervised model may use
    label_fraction: float = 1.0
    skip_bad_cases: bool = False
    #: skip (and list) cases lacking a modality instead of stopping with an error naming them
    allow_missing_modalities: bool = option(
        False,
        flag="--allow-missing-modalities",
        kind="flag",
        help="Skip (and list) cases lacking a modality instead of stopping.",
    )
    #: keep cases without a segmentation, when others have one, as unlabelled (never trained on or scored)
    allow_unlabelled: bool = option(
        False,
        flag="--allow-unlabelled",
        kind="flag",
        help="Keep cases without a segmentation (when others have one) as unlabelled instead of stopping.",
    )
    #: where preprocessed slices and generated synthetic data are cached; empty = default
    cache_dir: str = ""
    #: the synthetic dataset used when no path is given
    synthetic_patients: int = 12
    synthetic_size: int = 240
    #: seed of the generated synthetic data; -1 = the run's seed
    synthetic_seed: int = -1
    #: "easy" (every lesion FLAIR-bright, nothing healthy is), "standard" or "hard" (more lesions that are not
    #: FLAIR-bright, more FLAIR-bright healthy structures); docs/DATA.md
    synthetic_difficulty: str = option(
        DEFAULT_DIFFICULTY,
        flag="--synthetic-difficulty",
        kind="choice",
        choices=DIFFICULTIES,
        help="Built-in synthetic data: easy (every lesion FLAIR-bright), standard or hard.",
    )
    #: where the synthetic healthy slices lie in axial level: "natural", "shortcut" (only at the extremes, as in
    #: small BraTS sets) or "even" (at every level); docs/DATA.md
    synthetic_levels: str = option(
        DEFAULT_LEVELS,
        flag="--synthetic-levels",
        kind="choice",
        choices=tuple(LEVELS),
        help="Built-in synthetic data: where healthy slices lie in axial level: natural, shortcut (only at the "
        "extremes, as in small BraTS sets) or even (at every level).",
    )
    augment: bool = True


@dataclass
class TrainConfig:
    """The optimisation loop."""

    batch_size: int = option(4, flag="--batch-size", help="Training images per domain and step (paper: 4).")
    #: epochs over max(#healthy, #pathological) training slices (paper: 119)
    epochs: float = option(119.0, flag="--epochs", help="Epochs over the larger training domain.")
    #: total steps; 0 = derived from epochs
    steps: int = option(0, flag="--steps", help="Training steps (overrides --epochs).")
    #: stop (with a checkpoint) after this step and let --resume continue; 0 = never
    stop_at: int = option(
        0,
        flag="--stop-at",
        run_only=True,
        help="Stop after this step with a checkpoint; continue with --resume.",
    )
    log_every: int = 50
    checkpoint_every: int = 2000
    keep_checkpoints: int = 2
    sample_every: int = 2000
    #: consecutive steps with a non-finite loss before the run fails
    max_nonfinite: int = 20
    #: bf16 autocast and channels-last memory format (CUDA only)
    amp: bool = option(True, flag="--amp/--no-amp", kind="flag", help="bf16 autocast on CUDA (default on).")
    channels_last: bool = True
    compile: bool = option(
        False, flag="--compile", kind="flag", help="torch.compile the networks (falls back to eager)."
    )
    #: torch.compile mode, one of COMPILE_MODES; "reduce-overhead": CUDA graphs, fewer kernel launches
    compile_mode: str = option(
        "reduce-overhead",
        flag="--compile-mode",
        kind="choice",
        choices=COMPILE_MODES,
        help="torch.compile mode (implies --compile; default reduce-overhead: CUDA graphs).",
    )
    #: torch.compile backend, one of COMPILE_BACKENDS
    compile_backend: str = "inductor"
    deterministic: bool = option(False, flag="--deterministic", kind="flag", help="Deterministic algorithms (slower).")
    #: after a weakly supervised or healthy-trained run, train a unet on its masks of the training slices and
    #: segment with it as a run of its own (RUN-refined; pathogan_bench.engine.refine)
    refine: bool = option(
        False,
        flag="--refine",
        kind="flag",
        help="Then train a unet on the model's masks of its own training slices (RUN-refined), scored as a run of "
        "its own (weakly supervised and healthy-trained models).",
    )
    #: CPU threads for torch; 0 = the physical cores available to this process (see pathogan_bench.utils.device)
    threads: int = option(
        0,
        flag="--threads",
        help="CPU threads for torch (default: $OMP_NUM_THREADS, else the physical cores available).",
    )
    #: the run fails when more than this fraction of optimizer updates was skipped (non-finite loss or gradients)
    max_skipped_fraction: float = 0.1
    #: how the weights the run segments with are chosen: "" (the last ones), "val-dice" (the best Dice on the
    #: validation patients, fully supervised models only) or "val-slices" (how well the maps separate the validation
    #: patients' pathological slices from their healthy ones: slice labels only, any model), validated every
    #: ``validate_every`` steps; training stops after ``patience`` validations without a gain (0: trains every step)
    select_by: str = option(
        "",
        flag="--select-by",
        kind="choice",
        choices=("", "val-dice", "val-slices"),
        help="Segment with the weights of the best validation score instead of the last: val-dice (the validation "
        "patients' Dice; fully supervised models) or val-slices (how well the maps separate their pathological "
        "from their healthy slices; slice labels only, any model).",
    )
    validate_every: int = option(
        500, flag="--validate-every", help="Steps between validations of --select-by (default 500)."
    )
    patience: int = option(
        0,
        flag="--patience",
        help="Stop after this many validations without a gain (early stopping; default 0: train every step).",
    )
    #: draw healthy and pathological training slices with one distribution over axial levels (weakly supervised
    #: models; levels where only one domain lies are left out): removes the anatomical-level shortcut
    level_matched: bool = option(
        False,
        flag="--level-matched/--no-level-matched",
        kind="flag",
        help="Draw healthy and pathological training slices with one distribution over axial levels (weakly "
        "supervised models; removes the anatomical-level shortcut). Default off.",
    )
    #: experiment loggers by registry name (pathogan_bench.engine.loggers): "tensorboard" writes RUN_DIR/tensorboard
    #: when the package is installed, "mlflow" needs the mlflow extra
    loggers: list[str] = option(
        factory=lambda: ["tensorboard"],
        flag="--loggers",
        kind="list",
        example="tensorboard,mlflow",
        registry="logger",
        help="Experiment loggers, e.g. tensorboard,mlflow; none: no logger (default: tensorboard, written when "
        "installed).",
    )
    #: where the loggers write ("" = each logger's default; mlflow: RUN_DIR/../mlruns), e.g. http://HOST:5000
    tracking_uri: str = option(
        "",
        flag="--tracking-uri",
        help="Where the loggers write, e.g. an MLflow server's http://HOST:5000 (default: mlflow: RUN_DIR/../mlruns).",
    )


@dataclass
class EvalConfig:
    #: metrics of masks (Table 1) and of probability maps (whole scans), by registry name
    metrics: list[str] = option(
        factory=lambda: list(DEFAULT_METRICS),
        flag="--metrics",
        kind="list",
        example="dice,hd95,auroc",
        registry="metric",
        help=f"Metrics scored: of masks (Table 1) and of probability maps (default: {','.join(DEFAULT_METRICS)}).",
    )
    #: threshold policies scored side by side (registry names, NAME or NAME:ARGUMENT); the first row of Table 1
    #: is always the model's own rule
    policies: list[str] = option(
        factory=lambda: list(DEFAULT_POLICIES),
        flag="--policies",
        kind="list",
        example="model,fpr:1,otsu",
        registry="threshold-policy",
        help=f"Threshold policies scored side by side (default: {','.join(DEFAULT_POLICIES)}).",
    )
    #: post-processing steps applied per patient volume, in order (e.g. ["median:5", "min-component:0.1ml"]);
    #: every policy is scored before and after them
    postprocess: list[str] = option(
        factory=list,
        flag="--postprocess",
        kind="list",
        example="median:5,min-component:0.1ml",
        registry="postprocess",
        help="Post-processing steps per patient volume, in order; scores are reported before and after them.",
    )
    #: empty-mask convention for distances: "default" or "brats"
    empty: str = "default"
    batch_size: int = 32
    #: test slices shown in the qualitative figure
    figure_slices: int = 4
    splits: list[str] = field(default_factory=lambda: ["train", "test"])


@dataclass
class RunConfig:
    model: str = option(
        "pathogan",
        flag="--model",
        registry="model",
        run_only=True,
        help="Model to train (see `pathogan-bench list model`). Default: pathogan.",
    )
    loss_set: str = option(
        "full",
        flag="--loss-set",
        registry="loss-set",
        run_only=True,
        help="Named objective (see `pathogan-bench list loss-set`). Default: full.",
    )
    #: weight overrides and extra terms, term -> weight
    loss: dict[str, float] = field(default_factory=dict)
    #: terms removed from the loss set
    without: list[str] = field(default_factory=list)
    #: user-defined loss sets, name -> [[term, weight], ...]
    loss_sets: dict[str, list[list[Any]]] = field(default_factory=dict)
    #: "quick" (CPU minutes), "paper" (the paper's schedule) or "auto" (quick on CPU, paper on CUDA)
    preset: str = option(
        "auto",
        flag="--preset",
        kind="choice",
        choices=("auto", *PRESETS),
        help="quick: minutes on a CPU; paper: the paper's schedule; auto: quick on CPU, paper on CUDA.",
    )
    #: "auto", "cpu" or "cuda[:N]"; a resolved config holds the device actually used
    device: str = option("auto", flag="--device", help="auto, cpu or cuda[:N] (default: auto).")
    seed: int = option(0, flag="--seed", help="Seed of the split, the sampling and the initialisation.")
    #: parent folder of run directories
    out: str = option("runs", flag="--out", run_only=True, help="Parent folder of run directories (default: runs).")
    #: name of the run directory; empty = <date>-<time>-<model>-<loss-set>
    name: str = option(
        "", flag="--name", run_only=True, help="Run directory name (default: <date>-<time>-<model>-<loss-set>)."
    )
    #: options passed to the model's factory (e.g. width = 0.125); ``--model-option KEY=VALUE``
    model_options: dict[str, Any] = field(default_factory=dict)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)


def command_line_options() -> list[tuple[str, str, Option]]:
    """Every config value a command-line option sets, as the schema declares it: (table or "" for the top level,
    key, :class:`~pathogan_bench.config.option.Option`), in the schema's order."""
    tables: dict[str, type] = {"data": DataConfig, "train": TrainConfig, "eval": EvalConfig}
    found = []
    for top in fields(RunConfig):
        if top.name in tables:
            found += [
                (top.name, f.name, f.metadata["option"]) for f in fields(tables[top.name]) if "option" in f.metadata
            ]
        elif "option" in top.metadata:
            found.append(("", top.name, top.metadata["option"]))
    return found
