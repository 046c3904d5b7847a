"""Option types and option groups shared by the commands."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from click.shell_completion import CompletionItem

from ..config.schema import COMPILE_MODES, PRESETS
from ..data.synthetic_knobs import DIFFICULTIES, LEVELS


class CommaList(click.ParamType):
    """``a,b,c`` -> ``["a", "b", "c"]`` (items converted by ``item``: str, int or float)."""

    name = "list"

    def __init__(self, item: Callable[[str], Any] = str, example: str = "a,b", kind: str | None = None):
        self.item, self.example, self.kind = item, example, kind

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> list[Any]:
        if isinstance(value, list):
            return value
        try:
            return [self.item(part.strip()) for part in str(value).split(",") if part.strip()]
        except ValueError:
            self.fail(f"{value!r}: expected a comma-separated list like {self.example}", param, ctx)

    def shell_complete(self, ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
        return (
            complete_names(self.kind, incomplete.split(",")[-1], prefix=incomplete.rpartition(",")[0])
            if self.kind
            else []
        )


class SliceRange(click.ParamType):
    """``FIRST-LAST`` axial slices, inclusive, e.g. ``60-100`` -> ``[60, 100]``."""

    name = "first-last"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> list[int]:
        if isinstance(value, list):
            return value
        try:
            lo, hi = (int(v) for v in str(value).split("-"))
        except ValueError:
            self.fail(f"{value!r}: expected FIRST-LAST, e.g. 60-100", param, ctx)
        if lo < 0 or lo > hi:
            self.fail(f"{value!r}: expected 0 <= FIRST <= LAST, e.g. 60-100", param, ctx)
        return [lo, hi]


def complete_names(kind: str | None, incomplete: str, prefix: str = "") -> list[CompletionItem]:
    """Shell completion of registry names (models, loss sets, metrics, ...)."""
    from ..registry import get_registry

    if kind is None:
        return []
    lead = f"{prefix}," if prefix else ""
    return [CompletionItem(lead + name) for name in get_registry().names(kind) if name.startswith(incomplete)]


def loss_weight_names(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Completion of ``--loss NAME=WEIGHT``: the loss-term names, each ready for its weight."""
    if "=" in incomplete:
        return []
    return [CompletionItem(item.value + "=") for item in complete_names("loss-term", incomplete)]


def registry_name(kind: str) -> Callable[[click.Context, click.Parameter, str], list[CompletionItem]]:
    def complete(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
        return complete_names(kind, incomplete)

    return complete


def common_run_options(func: Any) -> Any:
    """Options shared by ``run`` and ``compare --models``: they set values of the run config."""
    options = [
        click.option(
            "--config",
            "config_file",
            type=click.Path(dir_okay=False, path_type=Path),
            help="TOML config file (e.g. a run directory's config.toml to repeat that run).",
        ),
        click.option(
            "--data",
            type=click.Path(path_type=Path),
            help="Folder of BraTS-style NIfTI cases. Default: the built-in synthetic dataset.",
        ),
        click.option(
            "--dataset",
            shell_complete=registry_name("dataset"),
            help="Dataset plugin (default: auto-detect the folder's naming scheme).",
        ),
        click.option(
            "--modalities",
            type=CommaList(example="flair,t1c"),
            help="Comma-separated modalities, e.g. flair,t1c (default: all).",
        ),
        click.option(
            "--allow-missing-modalities",
            is_flag=True,
            default=None,
            help="Skip (and list) cases lacking a modality instead of stopping.",
        ),
        click.option(
            "--allow-unlabelled",
            is_flag=True,
            default=None,
            help="Keep cases without a segmentation (when others have one) as unlabelled instead of stopping.",
        ),
        click.option(
            "--test-data",
            type=click.Path(path_type=Path),
            help="A second folder of cases scored as the test split (another site, an official "
            "validation set); --data is then split into train and val only.",
        ),
        click.option(
            "--healthy-data",
            type=click.Path(path_type=Path),
            help="A folder of healthy scans (IXI, CamCAN, ...; every slice healthy, no labels needed) that the "
            "healthy training slices come from; the test split stays --data's.",
        ),
        click.option(
            "--split-file",
            type=click.Path(dir_okay=False, path_type=Path),
            help='JSON patient lists per split ({"train": [...], "val": [...], "test": [...]}), '
            "e.g. a run's splits.json.",
        ),
        click.option(
            "--synthetic-difficulty",
            type=click.Choice(DIFFICULTIES),
            help="Built-in synthetic data: easy (every lesion FLAIR-bright), standard or hard.",
        ),
        click.option(
            "--synthetic-levels",
            type=click.Choice(list(LEVELS)),
            help="Built-in synthetic data: where healthy slices lie in axial level: natural, shortcut (only at the "
            "extremes, as in small BraTS sets) or even (at every level).",
        ),
        click.option(
            "--slices",
            type=SliceRange(),
            help="Axial slices FIRST-LAST (default: the dataset's; BraTS 60-100 as in the paper).",
        ),
        click.option(
            "--preset",
            type=click.Choice(["auto", *PRESETS]),
            help="quick: minutes on a CPU; paper: the paper's schedule; auto: quick on CPU, paper on CUDA.",
        ),
        click.option("--device", help="auto, cpu or cuda[:N] (default: auto)."),
        click.option(
            "--threads",
            type=click.IntRange(min=1),
            help="CPU threads for torch (default: $OMP_NUM_THREADS, else the physical cores available).",
        ),
        click.option("--seed", type=int, help="Seed of the split, the sampling and the initialisation."),
        click.option("--steps", type=int, help="Training steps (overrides --epochs)."),
        click.option("--epochs", type=float, help="Epochs over the larger training domain."),
        click.option("--batch-size", type=int, help="Training images per domain and step (paper: 4)."),
        click.option(
            "--loss",
            multiple=True,
            metavar="NAME=WEIGHT",
            shell_complete=loss_weight_names,
            help="Set a loss term's weight, or add a term.",
        ),
        click.option(
            "--without",
            multiple=True,
            metavar="NAME",
            shell_complete=registry_name("loss-term"),
            help="Drop a term from the loss set.",
        ),
        click.option(
            "--model-option",
            "model_option",
            multiple=True,
            metavar="KEY=VALUE",
            help="A [model_options] value, e.g. --model-option width=0.25.",
        ),
        click.option("--deterministic", is_flag=True, default=None, help="Deterministic algorithms (slower)."),
        click.option(
            "--level-matched/--no-level-matched",
            default=None,
            help="Draw healthy and pathological training slices with one distribution over axial levels "
            "(weakly supervised models; removes the anatomical-level shortcut). Default off.",
        ),
        click.option(
            "--policies",
            type=CommaList(example="model,fpr:1,otsu", kind="threshold-policy"),
            help="Threshold policies scored side by side (default: model,fpr:1,fpr:5,val-dice,otsu,oracle).",
        ),
        click.option(
            "--postprocess",
            type=CommaList(example="median:5,min-component:0.1ml", kind="postprocess"),
            help="Post-processing steps per patient volume, in order; scores are reported before and after them.",
        ),
        click.option(
            "--loggers",
            type=CommaList(example="tensorboard,mlflow", kind="logger"),
            help="Experiment loggers, e.g. tensorboard,mlflow; none: no logger (default: tensorboard, written when "
            "installed).",
        ),
        click.option(
            "--tracking-uri",
            help="Where the loggers write, e.g. an MLflow server's http://HOST:5000 (default: mlflow: "
            "RUN_DIR/../mlruns).",
        ),
        click.option("--amp/--no-amp", default=None, help="bf16 autocast on CUDA (default on)."),
        click.option("--compile", is_flag=True, default=None, help="torch.compile the networks (falls back to eager)."),
        click.option(
            "--compile-mode",
            type=click.Choice(COMPILE_MODES),
            help="torch.compile mode (implies --compile; default reduce-overhead: CUDA graphs).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def executor_options(func: Any) -> Any:
    """``--workers`` and ``--ray-address``: run a study's runs as Ray tasks (the ``ray`` extra)."""
    func = click.option(
        "--ray-address",
        help="Run the study's runs on this Ray cluster (e.g. auto, or ray://HEAD:10001); needs a file system the "
        "nodes share for --out.",
    )(func)
    return click.option(
        "--workers",
        type=click.IntRange(min=1),
        help="Run the study's runs as Ray tasks, this many at once, on a Ray started here "
        '(pip install -e ".[ray]"; each run uses --threads CPU threads, 1 by default).',
    )(func)
