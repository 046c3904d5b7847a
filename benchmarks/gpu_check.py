"""The device check's stages, run by ``benchmarks/gpu_check.sh`` once it has installed the checkout.

In order, each in its own process with its own time cap, all within ``--budget`` seconds counted from ``--started``:

1. ``tests``: the CUDA correctness tests (``pytest -m cuda tests/test_cuda.py``);
2. ``speed``: training steps and volume inference at the paper's size (``gpu_speed.py``);
3. ``run``: PathoGAN at width 1 and 240 px on real scans (``--data``), with as many steps as the time left allows.

Writes ``gpu-check.json`` (everything), ``gpu-check.md`` (one table for benchmarks/RESULTS.md) and
``gpu-check.log`` (every stage's output) to ``--out``. ``--dry-run`` runs the same stages at tiny sizes on the CPU,
and the run on generated data.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gpu_check_report import REPO, counts, environment, junit_results, markdown, write_outputs

#: the most each stage may take, in seconds; the run gets whatever is left (at least RUN_MINIMUM)
STAGE_CAPS = {"tests": 190.0, "speed": 150.0}
DRY_STAGE_CAPS = {"tests": 240.0, "speed": 60.0}
RUN_MINIMUM = 45.0
#: kept for writing the report after the last stage
REPORT_RESERVE = 10.0
#: the run's time outside training: start, data preparation, model, segmentation, scores and report (seconds)
RUN_OVERHEAD = 90.0
#: steps/s on real data against the speed stage's random batches (batch assembly and augmentation cost a little)
REAL_DATA_RATE = 0.85
#: the real scans of the run: the shared BraTS 2018 patients beside the checkout
DEFAULT_DATA = REPO.parent / "shared" / "data" / "brats2018-sample"
CHECK_DEVICE_ENV = "PATHOGAN_BENCH_CHECK_DEVICE"
#: the generated data of the dry run's PathoGAN run (tests/conftest.py's TINY_RUN)
DRY_RUN_CONFIG = """\
[data]
synthetic_patients = 6
synthetic_size = 32
image_size = 32
n_healthy = 40
n_pathological = 40
[train]
log_every = 2
checkpoint_every = 1000
sample_every = 0
[eval]
figure_slices = 0
"""


@dataclass
class Budget:
    """The check's time: ``total`` seconds from ``started`` (a time.time() value)."""

    started: float
    total: float

    def left(self) -> float:
        return self.total - (time.time() - self.started)

    def cap(self, stage_cap: float, keep: float) -> float:
        """A stage's time: its cap, or what is left once ``keep`` seconds are kept for the stages after it."""
        return max(0.0, min(stage_cap, self.left() - keep))


def run_steps(rate: float | None, seconds: float, dry_run: bool) -> int:
    """How many training steps the real-data run takes in ``seconds``, from the speed stage's steps/s."""
    if dry_run:
        return 4
    if not rate or not math.isfinite(rate):
        return 100  # no measured rate: a few steps that fit any GPU's time
    return max(10, int(rate * REAL_DATA_RATE * max(0.0, seconds - RUN_OVERHEAD)))


def run_process(command: list[str], seconds: float, log: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``command`` for at most ``seconds`` (SIGTERM, then SIGKILL 20 s later), its output to ``log``."""
    started = time.time()
    with log.open("w", encoding="utf-8") as out:
        out.write("$ " + " ".join(command) + "\n")
        out.flush()
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO, start_new_session=True
        )
        status = "done"
        try:
            process.wait(timeout=max(1.0, seconds))
        except subprocess.TimeoutExpired:
            status = "stopped at its time cap"
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    return {"status": status, "returncode": process.returncode, "seconds": round(time.time() - started, 1)}


# -- stages ------------------------------------------------------------------------------------------------------------


def tests_stage(budget: Budget, work: Path, dry_run: bool) -> dict[str, Any]:
    caps = DRY_STAGE_CAPS if dry_run else STAGE_CAPS
    seconds = budget.cap(caps["tests"], caps["speed"] + RUN_MINIMUM + REPORT_RESERVE)
    xml = work / "cuda-tests.xml"
    command = [
        sys.executable,
        "-m",
        "pytest",
        "tests/test_cuda.py",
        "-m",
        "cuda",
        "-q",
        "-rfE",
        "-p",
        "no:cacheprovider",
        f"--junitxml={xml}",
        f"--timeout={int(max(30, seconds * 0.6))}",
    ]
    env = {**os.environ, CHECK_DEVICE_ENV: "cpu" if dry_run else "cuda", "OMP_NUM_THREADS": "1" if dry_run else ""}
    env = {k: v for k, v in env.items() if v}
    result = run_process(command, seconds, work / "tests.log", env)
    result["tests"] = junit_results(xml)
    result["counts"] = counts(result["tests"])
    return result


def speed_stage(budget: Budget, work: Path, dry_run: bool) -> dict[str, Any]:
    caps = DRY_STAGE_CAPS if dry_run else STAGE_CAPS
    seconds = budget.cap(caps["speed"], RUN_MINIMUM + REPORT_RESERVE)
    rows = work / "speed.json"
    command = [
        sys.executable,
        "benchmarks/gpu_speed.py",
        "--json",
        str(rows),
        "--seconds",
        f"{max(0, seconds - 15):.0f}",
    ]
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO / "benchmarks"), os.environ.get("PYTHONPATH")]))
    )
    if dry_run:
        command.append("--dry-run")
        env["OMP_NUM_THREADS"] = "1"
    result = run_process(command, seconds, work / "speed.log", env)
    measured = json.loads(rows.read_text()) if rows.is_file() else {"rows": []}
    for row in measured["rows"]:
        if row.get("status") == "pending":
            row["status"] = "not measured: the stage stopped at its time cap"
    return {**result, **measured}


def pathogan_rate(speed: dict[str, Any]) -> float | None:
    """The speed stage's PathoGAN steps/s in the configuration a CUDA run trains with (bf16, channels-last)."""
    for row in speed.get("rows", []):
        if (row["kind"], row["model"], row["variant"]) == ("train", "pathogan", "bf16 channels-last"):
            return row.get("steps_per_s")
    return None


def run_stage(budget: Budget, work: Path, dry_run: bool, data: Path, rate: float | None) -> dict[str, Any]:
    seconds = budget.cap(math.inf, REPORT_RESERVE)
    if seconds < RUN_MINIMUM:
        return {"status": f"skipped: {seconds:.0f} s left, under the {RUN_MINIMUM:.0f} s a run needs"}
    steps = run_steps(rate, seconds, dry_run)
    command = [sys.executable, "-m", "pathogan_bench", "run", "--model", "pathogan", "--loss-set", "full"]
    env = dict(os.environ, PATHOGAN_BENCH_CACHE=str(work / "cache"))
    if dry_run:
        config = work / "tiny.toml"
        config.write_text(DRY_RUN_CONFIG)
        command += ["--config", str(config), "--model-option", "width=0.0625", "--device", "cpu", "--threads", "1"]
        what = "generated data (32 px, width 0.0625)"
    else:
        if not data.is_dir():
            return {"status": f"skipped: no data at {data} (--data)"}
        command += ["--data", str(data), "--preset", "paper", "--model-option", "width=1", "--device", "cuda"]
        what = f"{data.name}, width 1, 240 px"
    command += ["--steps", str(steps), "--out", str(work / "runs"), "--name", "pathogan-check"]
    result = run_process(command, seconds, work / "run.log", env)
    result.update(what=what, steps=steps, command=command, rate_used=rate)
    run_dir = work / "runs" / "pathogan-check"
    result.update(run_outcome(run_dir))
    return result


def run_outcome(run_dir: Path) -> dict[str, Any]:
    """What the run's run.json and summary.json say: status, steps, training time and rate, test scores."""
    out: dict[str, Any] = {}
    facts_path, summary_path = run_dir / "run.json", run_dir / "summary.json"
    if facts_path.is_file():
        facts = json.loads(facts_path.read_text())
        for key in ("status", "device_name", "steps_done", "train_seconds", "score_seconds", "error", "threads"):
            out[f"run_{key}"] = facts.get(key)
        if facts.get("steps_done") and facts.get("train_seconds"):
            out["train_steps_per_s"] = facts["steps_done"] / facts["train_seconds"]
        out["split_sizes"] = facts.get("split_sizes")
    if summary_path.is_file():
        summary = json.loads(summary_path.read_text())

        def mean(*path: str) -> float | None:
            value: Any = summary
            for key in path:
                value = value.get(key) if isinstance(value, dict) else None
            return value

        out["test_scores"] = {
            "slice_dice": mean("splits", "test", "dice", "mean"),
            "dice_3d": mean("volumes", "test", "dice", "mean"),
            "auroc": mean("threshold_free", "test", "auroc"),
        }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True, help="a scratch folder (run directories, caches)")
    parser.add_argument("--budget", type=float, default=480.0, help="seconds for everything, install included")
    parser.add_argument("--started", type=float, default=None, help="when the check started (time.time())")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="real scans for the PathoGAN run")
    parser.add_argument("--dry-run", action="store_true", help="tiny sizes on the CPU")
    parser.add_argument(
        "--command", default="benchmarks/gpu_check.sh", help="how the check was called (for the report)"
    )
    args = parser.parse_args()
    budget = Budget(args.started or time.time(), args.budget)
    if not args.dry_run and not args.data.is_dir():
        print(f"gpu check: no data at {args.data} (--data): the PathoGAN run will be skipped", file=sys.stderr)
    args.work.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "command": args.command,
        "dry_run": args.dry_run,
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "budget_s": args.budget,
        "environment": environment(),
        "stages": {"install": {"seconds": round(time.time() - budget.started, 1)}},
    }
    stages = report["stages"]
    for name, stage in (
        ("tests", lambda: tests_stage(budget, args.work, args.dry_run)),
        ("speed", lambda: speed_stage(budget, args.work, args.dry_run)),
        ("run", lambda: run_stage(budget, args.work, args.dry_run, args.data, pathogan_rate(stages["speed"]))),
    ):
        print(f"gpu check: {name} ({budget.left():.0f} s left)", file=sys.stderr, flush=True)
        stages[name] = stage()
        report["elapsed_s"] = round(time.time() - budget.started, 1)
        write_outputs(args.out, args.work, report)
    print(markdown(report))
    failed = [t for t in stages["tests"].get("tests", []) if t["outcome"] in ("failed", "error")]
    broken = stages["tests"].get("returncode") not in (0, None) or stages["run"].get("returncode") not in (0, None)
    return 1 if failed or broken else 0


if __name__ == "__main__":
    sys.exit(main())
