"""The ``pathogan-bench`` command line.

Each command lives in its own module under :mod:`pathogan_bench.commands`;
this module only assembles them and turns exceptions into exit codes:
0 success, 2 bad input or usage (one line on stderr), 1 internal failure
(one line, or the traceback with ``--debug``).
"""

from __future__ import annotations

import importlib
import sys
import traceback

import click

from .errors import UserError

#: command name -> "module:attribute" under pathogan_bench.commands
COMMANDS = {
    "list": "listing:list_command",
    "run": "run:run_command",
    "data": "data:data_group",
    "metrics": "metrics:metrics_command",
    "evaluate": "metrics:evaluate_command",
    "compare": "compare:compare_command",
    "segment": "segment:segment_command",
    "sample": "segment:sample_command",
}


class LazyGroup(click.Group):
    """Imports a command's module only when the command is used (fast ``--help``)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in COMMANDS if self._load(name) is not None]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return self._load(name)

    @staticmethod
    def _load(name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(f"pathogan_bench.commands.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"pathogan_bench.commands.{module_name}":
                return None
            raise
        return getattr(module, attr, None)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.version_option(package_name="pathogan-bench")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Weakly supervised pathology segmentation in brain MRI.

    \b
    Train PathoGAN on the built-in synthetic data and get a Dice/HD95/AVD report:
        pathogan-bench run --model pathogan --loss-set full
    See every registered model, loss term, dataset and metric:
        pathogan-bench list
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def main(argv: list[str] | None = None) -> None:
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        cli.main(args=argv, prog_name="pathogan-bench", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except UserError as exc:
        if debug:
            traceback.print_exc()
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # internal failure
        if debug:
            traceback.print_exc()
        else:
            click.echo(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)", err=True)
        sys.exit(1)
    sys.exit(0)
