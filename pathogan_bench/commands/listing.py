"""``pathogan-bench list``: every registered component, grouped by kind."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from ..registry import KINDS, Entry, get_registry


def facts(entry: Entry) -> dict[str, str]:
    """What ``list`` shows beside a component: its spec's tags, and a model's supervision kind."""
    shown = dict(entry.spec.tags)
    if entry.kind == "model":
        shown["supervision"] = str(getattr(entry.spec.factory, "supervision", "?"))
    return shown


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
                    {"name": e.name, "description": e.spec.summary, "plugin": e.plugin, "source": e.source, **facts(e)}
                    for e in registry.entries(k)
                ]
                for k in kinds
            },
            "commands": [{"name": c.name, "plugin": p, "source": src} for c, p, src in registry.commands()],
            "broken": [{"plugin": b.plugin, "source": b.source, "error": b.error} for b in registry.broken],
        }
        click.echo(json.dumps(payload, indent=2))
        return
    console = Console()
    for k in kinds:
        table = Table(title=k, title_justify="left", show_edge=False, pad_edge=False)
        table.add_column("name", style="bold cyan", no_wrap=True)
        table.add_column("description")
        table.add_column("plugin", style="dim")
        for entry in registry.entries(k):
            tags = " ".join(f"[{v}]" for v in facts(entry).values())
            table.add_row(entry.name, f"{entry.spec.summary} {tags}".strip(), f"{entry.plugin} ({entry.source})")
        if not registry.entries(k):
            table.add_row("-", "nothing registered", "")
        console.print(table)
        console.print()
    if kind is None and registry.commands():
        table = Table(title="commands added by plugins", title_justify="left", show_edge=False, pad_edge=False)
        table.add_column("name", style="bold cyan", no_wrap=True)
        table.add_column("description")
        table.add_column("plugin", style="dim")
        for command, plugin, source in registry.commands():
            table.add_row(command.name or "?", command.get_short_help_str(80), f"{plugin} ({source})")
        console.print(table)
        console.print()
    if registry.broken:
        table = Table(title="broken plugins", title_justify="left", title_style="bold red", show_edge=False)
        table.add_column("plugin", style="bold red")
        table.add_column("source", style="dim")
        table.add_column("error")
        for b in registry.broken:
            table.add_row(b.plugin, b.source, b.error)
        console.print(table)


