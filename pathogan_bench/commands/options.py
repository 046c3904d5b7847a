"""Option types and option groups shared by the commands."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from click.shell_completion import CompletionItem

from ..config.option import Option
from ..config.ranges import WORKERS, config_range
from ..config.schema import command_line_options


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


def schema_option(table: str, key: str, option: Option) -> Callable[[Any], Any]:
    """The click option that sets the config value ``table.key``, built from the schema's declaration of it."""
    kwargs: dict[str, Any] = {"help": option.help}
    if option.kind == "path":
        kwargs["type"] = click.Path(path_type=Path)
    elif option.kind == "file":
        kwargs["type"] = click.Path(dir_okay=False, path_type=Path)
    elif option.kind == "list":
        kwargs["type"] = CommaList(example=option.example, kind=option.registry or None)
    elif option.kind == "slices":
        kwargs["type"] = SliceRange()
    elif option.kind == "choice":
        kwargs["type"] = click.Choice(list(option.choices))
    elif option.kind == "flag":
        kwargs.update({"default": None} if "/" in option.flag else {"is_flag": True, "default": None})
    else:
        bounds = config_range(f"{table}.{key}" if table else key)
        kwargs["type"] = bounds.click_type() if bounds is not None else _field_type(table, key)
    if option.registry and option.kind != "list":
        kwargs["shell_complete"] = registry_name(option.registry)
    return click.option(option.flag, **kwargs)


def _field_type(table: str, key: str) -> Any:
    from dataclasses import fields

    from ..config.schema import DataConfig, EvalConfig, RunConfig, TrainConfig

    cls = {"": RunConfig, "data": DataConfig, "train": TrainConfig, "eval": EvalConfig}[table]
    kind = {f.name: f.type for f in fields(cls)}[key]
    return {"int": int, "float": float}.get(str(kind), str)


def run_only_options(func: Any) -> Any:
    """The options of ``run`` that ``compare`` gives another meaning (or none): model, loss set, out, name, stop."""
    for table, key, option in reversed(command_line_options()):
        if option.run_only:
            func = schema_option(table, key, option)(func)
    return func


def common_run_options(func: Any) -> Any:
    """Options shared by ``run`` and ``compare --models``: each sets a value of the run config, as the config
    schema declares it (pathogan_bench.config.option.Option), plus the config file and the loss and model
    options written NAME=VALUE."""
    options = [
        click.option(
            "--config",
            "config_file",
            type=click.Path(dir_okay=False, path_type=Path),
            help="TOML config file (e.g. a run directory's config.toml to repeat that run).",
        ),
        *(schema_option(table, key, option) for table, key, option in command_line_options() if not option.run_only),
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
        type=WORKERS.click_type(),
        help="Run the study's runs as Ray tasks, this many at once, on a Ray started here "
        '(pip install -e ".[ray]"; each run uses --threads CPU threads, 1 by default).',
    )(func)
