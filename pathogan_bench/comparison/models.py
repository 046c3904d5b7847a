"""Weak versus full supervision on identical patients, slices and metrics.

:func:`compare_models` trains (or reuses) one run per model, seed and label
fraction under one parent folder, all with the same patient split, and
writes one report over them: the Table 1 layout with a supervision column,
per-slice Dice box plots, a figure of the same test slices segmented by every
model, and, with label fractions, Dice against the fraction of annotated
training patients with the weakly supervised models as horizontal lines.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from rich.console import Console

from ..config import RunConfig, to_toml
from ..engine import plan_run, run
from ..errors import UserError
from ..io import write_csv, write_text
from .figures import label_efficiency_figure, same_slices_figure
from .summary import ComparedRun, seed_summary
from .tables import compare_runs


def _finished(run_dir: Path) -> bool:
    info = run_dir / "run.json"
    return info.is_file() and json.loads(info.read_text()).get("status") == "done"


def compare_models(base: RunConfig, models: list[str], out_dir: Path, seeds: int = 1,
                   label_fractions: list[float] | None = None, reuse: bool = True,
                   console: Console | None = None) -> list[ComparedRun]:
    """Train every model (x seeds, x label fractions for fully supervised ones) and compare."""
    console = console or Console(stderr=True)
    plans = {name: plan_run(dataclasses.replace(base, model=name)) for name in models}  # fail before anything trains
    fractions = sorted(set(label_fractions or [1.0]))
    if any(not 0 < f <= 1 for f in fractions):
        raise UserError(f"--label-fractions must lie in (0, 1], got {fractions}")
    out_dir.mkdir(parents=True, exist_ok=True)
    runs: list[ComparedRun] = []
    for name in models:
        supervision = plans[name].supervision
        model_fractions = fractions if supervision == "full" else [1.0]
        for offset in range(seeds):
            seed = base.seed + offset
            for fraction in model_fractions:
                tag = f"{name}-seed{seed}" + (f"-labels{fraction:g}" if fraction < 1 else "")
                run_dir = out_dir / "runs" / tag
                if not (reuse and _finished(run_dir)):
                    config = dataclasses.replace(
                        base, model=name, seed=seed, out=str(out_dir / "runs"), name=tag,
                        data=dataclasses.replace(base.data, split_seed=base.seed, label_fraction=fraction),
                    )
                    if run_dir.exists():
                        import shutil

                        shutil.rmtree(run_dir)
                    console.rule(f"{tag}")
                    run(config, console=console)
                else:
                    console.print(f"reusing finished run {run_dir}")
                runs.append(ComparedRun(name, seed, fraction, run_dir, supervision))
    write_text(out_dir / "base-config.toml", to_toml(base))
    report_comparison(runs, out_dir, console)
    return runs


def report_comparison(runs: list[ComparedRun], out_dir: Path, console: Console | None = None) -> None:
    full_label_runs = [r.run_dir for r in runs if r.label_fraction >= 1.0]
    compare_runs(full_label_runs, out_dir, console=console, same_slices=False)
    seed_table = seed_summary(runs)
    write_csv(out_dir / "seeds.csv", seed_table)
    if len({r.label_fraction for r in runs}) > 1:
        label_efficiency_figure(runs, out_dir / "label-efficiency.png")
    same_slices_figure([r for r in runs if r.label_fraction >= 1.0 and r.seed == runs[0].seed], out_dir / "same-slices.png")
    if console is not None:
        console.print(f"comparison written to [bold]{out_dir}[/bold]")
