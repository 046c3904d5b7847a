"""``pathogan-bench list``: every registered component, grouped by kind."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..contracts.kinds import KINDS as PLUGIN_KINDS
from ..registry import KINDS, Registry, get_registry


@click.command("list")
@click.argument("kind", required=False, type=click.Choice(list(KINDS)))
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def list_command(kind: str | None, as_json: bool) -> None:
    """List registered models, generators, discriminators, loss terms, loss sets,
    datasets and metrics, with the plugin each came from.

    \b
    Examples:
        pathogan-bench list
        pathogan-bench list loss-term
        pathogan-bench list --json
    """
    registry = get_registry()
    kinds = [kind] if kind else list(KINDS)
    if as_json:
        payload = {
            "components": {
                k: [
                    {
                        "name": e.name,
                        "description": e.spec.summary,
                        "plugin": e.plugin,
                        "source": e.source,
                        **registry.facts(e),
                    }
                    for e in registry.entries(k)
                ]
                for k in kinds
            },
            "commands": [{"name": c.name, "plugin": p, "source": src} for c, p, src in registry.commands()],
            "kinds": {
                name: {"hook": k.hook, "factory": k.factory_signature, "returns": k.returns}
                for name, k in PLUGIN_KINDS.items()
                if name in kinds
            },
            "broken": [{"plugin": b.plugin, "source": b.source, "error": b.error} for b in registry.broken],
        }
        click.echo(json.dumps(payload, indent=2))
        return
    print_components(registry, kinds, show_commands=kind is None)


def print_components(registry: Registry, kinds: list[str], show_commands: bool) -> None:
    """One table per kind, then commands added by plugins, then broken plugins with their errors."""
    console = Console()
    for k in kinds:
        rows = [
            (
                e.name,
                f"{e.spec.summary} {' '.join(f'[{v}]' for v in registry.facts(e).values())}".strip(),
                f"{e.plugin} ({e.source})",
            )
            for e in registry.entries(k)
        ]
        _table(console, k, ("name", "description", "plugin"), rows or [("-", "nothing registered", "")])
    if show_commands and registry.commands():
        _table(
            console,
            "commands added by plugins",
            ("name", "description", "plugin"),
            [(c.name or "?", c.get_short_help_str(80), f"{p} ({src})") for c, p, src in registry.commands()],
        )
    if registry.broken:
        _table(
            console,
            "broken plugins",
            ("plugin", "source", "error"),
            [(b.plugin, b.source, b.error) for b in registry.broken],
            style="bold red",
        )


def _table(
    console: Console, title: str, columns: tuple[str, str, str], rows: list[tuple[str, str, str]], style: str = ""
) -> None:
    table = Table(title=title, title_justify="left", title_style=style or None, show_edge=False, pad_edge=False)
    table.add_column(columns[0], style=style or "bold cyan", no_wrap=True)
    table.add_column(columns[1])
    table.add_column(columns[2], style="dim")
    for row in rows:
        table.add_row(*(escape(cell) for cell in row))  # "[weak]" is text, not rich markup
    console.print(table)
    console.print()
