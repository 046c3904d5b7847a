"""``pathogan-bench run``: train, segment, score and report."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import click

from ..config import build_config, load_toml
from ..errors import UserError
from ..losses import parse_loss_override


def parse_option(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` with VALUE read as a Python literal when it is one (numbers, lists, booleans)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise UserError(f"--option {text}: expected KEY=VALUE, e.g. --option width=0.25")
    raw = raw.strip()
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = {"true": True, "false": False}.get(raw.lower(), raw)
    return key.strip(), value


def cli_overrides(**opts: Any) -> dict[str, Any]:
    """The config values the user gave on the command line (None = not given)."""
    values: dict[str, Any] = {}
    data: dict[str, Any] = {}
    train: dict[str, Any] = {}
    for key in ("model", "loss_set", "preset", "device", "seed", "out", "name"):
        if opts.get(key) is not None:
            values[key] = opts[key]
    if opts.get("loss"):
        values["loss"] = dict(parse_loss_override(t) for t in opts["loss"])
    if opts.get("without"):
        values["without"] = list(opts["without"])
    if opts.get("option"):
        values["model_options"] = dict(parse_option(t) for t in opts["option"])
    if opts.get("data") is not None:
        data["path"] = str(opts["data"])
    if opts.get("dataset") is not None:
        data["dataset"] = opts["dataset"]
    if opts.get("modalities"):
        data["modalities"] = [m.strip() for m in opts["modalities"].split(",") if m.strip()]
    for key in ("steps", "epochs", "batch_size", "stop_at"):  # stop_at=0 is meaningful on resume
        if opts.get(key) is not None:
            train[key] = opts[key]
    if opts.get("deterministic"):
        train["deterministic"] = True
    if opts.get("amp") is not None:
        train["amp"] = opts["amp"]
    if opts.get("compile"):
        train["compile"] = True
    if opts.get("compile_mode"):
        train["compile"] = True
        train["compile_mode"] = opts["compile_mode"]
    if data:
        values["data"] = data
    if train:
        values["train"] = train
    return values


def common_run_options(func: Any) -> Any:
    """Options shared by ``run`` and ``compare --models``."""
    options = [
        click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
                     help="TOML config file (e.g. a run directory's config.toml to repeat that run)."),
        click.option("--data", type=click.Path(path_type=Path),
                     help="Folder of BraTS-style NIfTI cases. Default: the built-in synthetic dataset."),
        click.option("--dataset", help="Dataset plugin (default: auto-detect the folder's naming scheme)."),
        click.option("--modalities", help="Comma-separated modalities, e.g. flair,t1c (default: all)."),
        click.option("--preset", type=click.Choice(["auto", "quick", "paper"]),
                     help="quick: minutes on a CPU; paper: the paper's schedule; auto: quick on CPU, paper on CUDA."),
        click.option("--device", help="auto, cpu or cuda."),
        click.option("--seed", type=int, help="Seed of the split, the sampling and the initialisation."),
        click.option("--steps", type=int, help="Training steps (overrides --epochs)."),
        click.option("--epochs", type=float, help="Epochs over the larger training domain."),
        click.option("--batch-size", type=int),
        click.option("--option", multiple=True, metavar="KEY=VALUE", help="Model option, e.g. --option width=0.25."),
        click.option("--deterministic", is_flag=True, default=None, help="Deterministic algorithms (slower)."),
        click.option("--amp/--no-amp", default=None, help="bf16 autocast on CUDA (default on)."),
        click.option("--compile", is_flag=True, default=None, help="torch.compile the networks (falls back to eager)."),
        click.option("--compile-mode", type=click.Choice(["default", "reduce-overhead", "max-autotune"]),
                     help="torch.compile mode (implies --compile; default reduce-overhead: CUDA graphs)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def resolve_config(config_file: Path | None, **opts: Any):
    from ..engine import resolve_device

    file_values = load_toml(config_file) if config_file else {}
    return build_config(file_values, cli_overrides(**opts), resolve_device=resolve_device,
                        source=str(config_file) if config_file else "command line")


@click.command("run")
@click.option("--model", help="Model to train (see `pathogan-bench list model`). Default: pathogan.")
@click.option("--loss-set", help="Named objective (see `pathogan-bench list loss-set`). Default: full.")
@click.option("--loss", multiple=True, metavar="NAME=WEIGHT", help="Set a loss term's weight, or add a term.")
@click.option("--without", multiple=True, metavar="NAME", help="Drop a term from the loss set.")
@click.option("--out", help="Parent folder of run directories (default: runs).")
@click.option("--name", help="Run directory name (default: <date>-<time>-<model>-<loss-set>).")
@click.option("--stop-at", type=int, help="Stop after this step with a checkpoint; continue with --resume.")
@click.option("--resume", type=click.Path(file_okay=False, path_type=Path), help="Continue a stopped run directory.")
@common_run_options
def run_command(resume: Path | None, config_file: Path | None, **opts: Any) -> None:
    """Train a model, segment the test patients and write a Dice/HD95/AVD report.

    \b
    With no --data, runs on the built-in synthetic dataset (generated once):
        pathogan-bench run --model pathogan --loss-set full
    The paper's experiment on BraTS, on a GPU:
        pathogan-bench run --data /data/BraTS2017 --preset paper --device cuda
    Ablations and your own loss terms:
        pathogan-bench run --loss-set full --without relevancy --loss tv=0.2
    Repeat a run, or continue one that stopped:
        pathogan-bench run --config runs/RUN/config.toml
        pathogan-bench run --resume runs/RUN
    """
    from ..engine import run
    from ..rundir import existing_run_dir

    if resume is not None:
        run_dir = existing_run_dir(resume)
        # a stop_at stored in the run's config was for the first part; resume runs to the end unless told
        config = resolve_config(run_dir / "config.toml", stop_at=opts.get("stop_at") or 0)
        run(config, resume_dir=run_dir)
        return
    config = resolve_config(config_file, **opts)
    run(config)
