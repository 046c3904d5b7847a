"""The ``pathogan-bench`` command line.

Each core command lives in its own module under :mod:`pathogan_bench.commands`;
plugins add theirs through the ``register_commands`` hook. This module only
assembles them and maps errors to exit codes, through click's own handling:
0 success, 2 bad input or usage (one line on stderr), 1 internal failure
(one line, or the traceback with ``--debug``), 130 interrupted.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from pathlib import Path
from typing import Any

import click

from .errors import RunFailedError, TrainingInterrupted, UserError, disk_full

#: core command name -> "module:attribute" under pathogan_bench.commands
COMMANDS = {
    "list": "listing:list_command",
    "run": "run:run_command",
    "data": "data:data_group",
    "metrics": "metrics:metrics_command",
    "evaluate": "metrics:evaluate_command",
    "compare": "compare:compare_command",
    "segment": "segment:segment_command",
}

#: exit code of a command stopped by SIGINT or SIGTERM (128 + SIGINT, as shells report it)
INTERRUPTED = 130


class BadInput(click.ClickException):
    """A :class:`UserError` as click reports it: ``error: MESSAGE`` on one line, exit code 2."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


class InternalFailure(click.ClickException):
    """Any other exception: one line (the traceback comes first with ``--debug``), exit code 1."""

    exit_code = 1

    def show(self, file: Any = None) -> None:
        click.echo(f"internal error: {self.format_message()} (rerun with --debug for the traceback)", err=True)


class RunFailed(click.ClickException):
    """A run stopped by its own policy (e.g. too many non-finite losses): ``run failed: MESSAGE``, exit code 1."""

    exit_code = 1

    def show(self, file: Any = None) -> None:
        click.echo(f"run failed: {self.format_message()}", err=True)


class DiskFull(click.ClickException):
    """A file that could not be written for lack of space: ``disk full: MESSAGE``, exit code 1."""

    exit_code = 1

    def show(self, file: Any = None) -> None:
        click.echo(f"disk full: {self.format_message()}", err=True)


class PathoganGroup(click.Group):
    """Core commands imported on use (a fast ``--help``), plugin commands from the registry."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS) + sorted(n for n in self._plugin_commands(ctx) if n not in COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in COMMANDS:
            module_name, attr = COMMANDS[name].split(":")
            return getattr(importlib.import_module(f"pathogan_bench.commands.{module_name}"), attr)
        return self._plugin_commands(ctx).get(name)

    @staticmethod
    def _plugin_commands(ctx: click.Context | None = None) -> dict[str, click.Command]:
        from .registry import get_registry, use_plugin_dirs

        if ctx is not None and ctx.params.get("plugins_dir"):
            use_plugin_dirs(ctx.params["plugins_dir"])  # plugin commands are looked up before the group's callback
        return {c.name: c for c, _, _ in get_registry().commands() if isinstance(c, click.Command) and c.name}

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:  # one line, like every other bad input
            where = exc.ctx.command_path if exc.ctx is not None else "pathogan-bench"
            raise BadInput(f"{exc.format_message()} (see '{where} --help')") from exc
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except UserError as exc:
            if ctx.params.get("debug"):
                traceback.print_exc()
            raise BadInput(str(exc)) from exc
        except RunFailedError as exc:
            if ctx.params.get("debug"):
                traceback.print_exc()
            raise RunFailed(str(exc)) from exc
        except TrainingInterrupted:  # the run has said where its checkpoint is and how to continue
            raise click.exceptions.Exit(INTERRUPTED) from None
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            raise click.exceptions.Exit(INTERRUPTED) from None
        except Exception as exc:
            if ctx.params.get("debug"):
                traceback.print_exc()
            full = disk_full(exc)
            if full is not None:
                raise DiskFull(str(full)) from exc
            raise InternalFailure(f"{type(exc).__name__}: {exc}") from exc


@click.group(cls=PathoganGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.option(
    "--plugins-dir",
    multiple=True,
    envvar="PATHOGAN_BENCH_PLUGINS_DIR",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also load every *.py file of this folder as a plugin (repeatable; or $PATHOGAN_BENCH_PLUGINS_DIR, "
    "folders separated by ':').",
)
@click.version_option(package_name="pathogan-bench")
def cli(debug: bool, plugins_dir: tuple[Path, ...]) -> None:
    """Weakly supervised pathology segmentation in brain MRI.

    \b
    Train PathoGAN on the built-in synthetic data and get a Dice/HD95/AVD report:
        pathogan-bench run --model pathogan --loss-set full
    See every registered model, loss term, dataset and metric:
        pathogan-bench list
    Shell completion (bash; zsh and fish likewise):
        eval "$(_PATHOGAN_BENCH_COMPLETE=bash_source pathogan-bench)"
    A loss term or a model in one file, without packaging it:
        pathogan-bench --plugins-dir my_plugins/ run --loss tv=0.2
    """
    if plugins_dir:
        from .registry import use_plugin_dirs

        use_plugin_dirs(plugins_dir)


class _ClosedPipeQuiet:
    """A text stream whose reader may go away (``| head``): the rest of the output is dropped, nothing fails.

    A closed stdout or stderr must not change what a command does (a run's
    recorded status included) nor print a traceback: on the first broken
    pipe the stream's file descriptor is pointed at the null device, and the
    command carries on as if its output had been read.
    """

    def __init__(self, stream: Any):
        self._stream = stream
        self.closed_pipe = False

    def _quiet(self) -> None:
        self.closed_pipe = True
        try:
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, self._stream.fileno())
            os.close(null)
        except (OSError, ValueError, AttributeError):
            pass

    def write(self, text: str) -> int:
        try:
            return int(self._stream.write(text))
        except BrokenPipeError:
            self._quiet()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._quiet()
            try:
                self._stream.flush()  # what was buffered goes to the null device now
            except (OSError, ValueError):
                pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def main(argv: list[str] | None = None) -> None:
    guards = []
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and hasattr(stream, "fileno"):
            guard = _ClosedPipeQuiet(stream)
            setattr(sys, name, guard)
            guards.append(guard)
    try:
        cli.main(args=argv, prog_name="pathogan-bench")
    finally:
        for guard in guards:
            guard.flush()
