"""Who runs the runs of a study: one after another in this process (the default), or as Ray tasks.

With Ray (``pip install -e ".[ray]"``; ``compare --workers N`` starts Ray in
this process with N concurrent runs, ``--ray-address`` joins a running
cluster), every run is one task declaring its resources: its CPU threads
(``--threads``, 1 when not given, so that runs never oversubscribe the
cores) and one GPU when the device is CUDA. Every task writes into the same
``--out`` folder, so a cluster needs a file system all its nodes share. A
live table shows the runs queued, running (with their step), done and
failed; a failed run is reported with its error and the others go on; the
comparison is written once every run is done; Ctrl-C cancels the tasks and
leaves every run resumable by the same command.
"""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from ..errors import RunFailedError, UserError
from ..record.facts import RunFacts
from .reuse import run_or_reuse

if TYPE_CHECKING:
    from ..config import RunConfig

Planned = Sequence[tuple["RunConfig", Path]]


@dataclasses.dataclass
class Sequential:
    """Every run in this process, one after another."""

    def execute(self, planned: Planned, reuse: bool, tags: dict[str, str], console: Console) -> list[str]:
        """Each run reused, resumed or trained (:func:`~.reuse.run_or_reuse`); returns their statuses."""
        return [run_or_reuse(config, run_dir, reuse, console, tags) for config, run_dir in planned]


@dataclasses.dataclass
class RayExecutor:
    """Every run a Ray task: ``workers`` at once on a local Ray started here, or on the cluster at ``address``."""

    workers: int = 2
    address: str | None = None
    #: seconds between two looks at the runs' progress
    poll: float = 1.0

    def execute(self, planned: Planned, reuse: bool, tags: dict[str, str], console: Console) -> list[str]:
        """As :meth:`Sequential.execute`, each run a Ray task; raises :class:`RunFailedError` naming the runs that
        failed once every other run is done."""
        ray = _import_ray()
        threads = max(1, max(config.train.threads for config, _ in planned))
        started_here = not ray.is_initialized()
        if started_here:
            if self.address:
                ray.init(address=self.address, log_to_driver=False)
            else:
                ray.init(num_cpus=self.workers * threads, include_dashboard=False, log_to_driver=False)
        task = ray.remote(_run_task)
        refs = {}
        for config, run_dir in planned:
            config = dataclasses.replace(config, train=dataclasses.replace(config.train, threads=threads))
            gpus = 1 if config.device.startswith("cuda") else 0
            refs[task.options(num_cpus=threads, num_gpus=gpus).remote(config, run_dir, reuse, tags)] = run_dir
        try:
            statuses, failures = self._wait(ray, refs, console)
        except KeyboardInterrupt:
            for ref in refs:
                ray.cancel(ref)
            console.print("cancelled the study's tasks; every run resumes with the same command", highlight=False)
            raise
        finally:
            if started_here:
                ray.shutdown()
        if failures:
            listed = "; ".join(f"{run_dir.name}: {error}" for run_dir, error in failures.items())
            raise RunFailedError(
                f"{len(failures)} of {len(planned)} runs failed ({listed}); the others are kept: run the same "
                "command again to retry the failed ones"
            )
        return [statuses[run_dir] for _, run_dir in planned]

    def _wait(self, ray: Any, refs: dict[Any, Path], console: Console) -> tuple[dict[Path, str], dict[Path, str]]:
        statuses: dict[Path, str] = {}
        failures: dict[Path, str] = {}
        pending = list(refs)
        with Live(progress_table(list(refs.values()), statuses, failures), console=console, transient=False) as live:
            while pending:
                ready, pending = ray.wait(pending, num_returns=len(pending), timeout=self.poll)
                for ref in ready:
                    try:
                        statuses[refs[ref]] = ray.get(ref)
                    except Exception as exc:  # the run's own error, reported with the others'
                        failures[refs[ref]] = _task_error(exc)
                live.update(progress_table(list(refs.values()), statuses, failures))
        return statuses, failures


def _run_task(config: RunConfig, run_dir: Path, reuse: bool, tags: dict[str, str]) -> str:
    """One run in a Ray worker; its console stays quiet (the driver shows the live table, log.txt has the rest)."""
    return run_or_reuse(config, run_dir, reuse, Console(stderr=True, quiet=True), tags)


def _task_error(exc: BaseException) -> str:
    cause = getattr(exc, "cause", None) or exc
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[0] if text else ''}"


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UserError('--workers and --ray-address need Ray: pip install -e ".[ray]"') from None
    return ray


def run_state(run_dir: Path) -> tuple[str, str]:
    """A run's state as its folder tells it: ("queued" | "running" | "done" | "failed" | ..., its step)."""
    try:
        facts = RunFacts.load(run_dir)
    except UserError:
        return "queued", ""
    status = facts.status
    step = ""
    try:
        with open(run_dir / "losses.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
        if rows:
            step = f"{rows[-1].get('step', '')}/{facts.steps if facts.steps is not None else '?'}"
    except OSError:
        pass
    return ("running" if status == "training" else status or "queued"), step


def progress_table(run_dirs: list[Path], statuses: dict[Path, str], failures: dict[Path, str]) -> Table:
    """Runs queued, running (with their step), done and failed, and the counts of each."""
    table = Table(title="study", title_justify="left", show_edge=False)
    table.add_column("run", no_wrap=True)
    table.add_column("state", no_wrap=True)
    table.add_column("step", justify="right", no_wrap=True)
    counts: dict[str, int] = {}
    for run_dir in run_dirs:
        if run_dir in failures:
            state, step = "failed", ""
        elif run_dir in statuses:
            state, step = statuses[run_dir], ""
        else:
            state, step = run_state(run_dir)
            state = "running" if state in ("running", "done") else state  # done: the task is finishing up
        counts[state] = counts.get(state, 0) + 1
        table.add_row(run_dir.name, state, step)
    table.caption = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
    return table


def executor_for(workers: int | None, address: str | None) -> Sequential | RayExecutor:
    """The executor the command line asks for: Ray with ``--workers`` or ``--ray-address``, else sequential."""
    if workers is None and not address:
        return Sequential()
    _import_ray()
    return RayExecutor(workers=workers or 1, address=address)
