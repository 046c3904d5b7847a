"""The device check's report: the machine it ran on, the CUDA tests' JUnit results, and ``gpu-check.{json,md,log}``.

``gpu_check.py`` runs the stages and calls these; the markdown is one table for benchmarks/RESULTS.md.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def junit_results(path: Path) -> list[dict[str, Any]]:
    """Each test of a pytest JUnit XML report: name, outcome, seconds and the first lines of any message."""
    if not path.is_file():
        return []
    results = []
    for case in ET.parse(path).getroot().iter("testcase"):
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            found = case.find(tag)
            if found is not None:
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[tag]
                message = "\n".join((found.get("message") or found.text or "").strip().splitlines()[:12])
                break
        results.append(
            {
                "name": case.get("name", "?"),
                "outcome": outcome,
                "seconds": round(float(case.get("time") or 0), 2),
                "message": message[:2000],
            }
        )
    return results


def counts(results: list[dict[str, Any]]) -> dict[str, int]:
    tally: dict[str, int] = {}
    for result in results:
        tally[result["outcome"]] = tally.get(result["outcome"], 0) + 1
    return tally


def environment() -> dict[str, Any]:
    """The machine, torch and CUDA, and the checkout's commit."""
    probe = (
        "import json, platform, torch; c = torch.cuda.is_available(); print(json.dumps({"
        "'python': platform.python_version(), 'torch': torch.__version__, 'cuda': torch.version.cuda,"
        "'cudnn': torch.backends.cudnn.version() if c else None,"
        "'gpu': torch.cuda.get_device_name(0) if c else None,"
        "'gpu_memory_gib': round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1) if c else None,"
        "'cpus': __import__('os').cpu_count(), 'processor': platform.processor() or platform.machine()}))"
    )
    found = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    env: dict[str, Any] = json.loads(found.stdout) if found.returncode == 0 else {"error": found.stderr[-500:]}
    for key, command in {
        "commit": ["git", "rev-parse", "--short", "HEAD"],
        "changed_files": ["git", "status", "--porcelain", "--untracked-files=no"],
        "driver": ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
    }.items():
        try:
            done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0:
            text = done.stdout.strip()
            env[key] = len(text.splitlines()) if key == "changed_files" else text
    return env


def _number(value: float | None, digits: int = 3) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:.{digits}g}" if abs(value) < 10**digits else f"{value:,.0f}"


def speed_result(row: dict[str, Any]) -> str:
    if row.get("status") != "measured":
        return row.get("status", "")
    parts = []
    if row["kind"] == "train":
        parts.append(f"{_number(row['steps_per_s'])} steps/s ({_number(row['ms_per_step'])} ms)")
        flops = f"{_number(row['gflop_per_step'] / 1e3)} TFLOP/step"
    else:
        parts.append(f"{_number(row['seconds_per_volume'])} s per volume")
        flops = f"{_number(row['gflop_per_volume'] / 1e3)} TFLOP/volume"
    parts.append(
        f"{flops}, {_number(row.get('tflops_per_s'))} TFLOP/s, MFU {_number(100 * row.get('mfu', math.nan), 2)} %"
    )
    if row.get("peak_memory_gib") is not None:
        parts.append(f"peak {_number(row['peak_memory_gib'])} GiB")
    if row.get("eager_fallbacks"):
        parts.append(f"eager fallbacks: {', '.join(row['eager_fallbacks'])}")
    return "; ".join(parts)


def markdown(report: dict[str, Any]) -> str:
    """The heading lines and one table, ready for benchmarks/RESULTS.md (a stage not reached yet says so)."""
    env, stages = report["environment"], report["stages"]
    not_reached = {"status": "not reached"}
    tests, speed, run = (stages.get(name, not_reached) for name in ("tests", "speed", "run"))
    matmul = speed.get("matmul", {})
    gpu = env.get("gpu") or f"no GPU: {env.get('processor', '?')} CPU, {env.get('cpus', '?')} cores (dry run)"
    lines = [
        f"## Device check: {gpu}, torch {env.get('torch', '?')}, CUDA {env.get('cuda') or '–'}, "
        f"cuDNN {env.get('cudnn') or '–'}, driver {env.get('driver', '–')} ({report['date']}, commit "
        f"{env.get('commit', '?')}{' with local changes' if env.get('changed_files') else ''})",
        "",
        f"`{report['command']}`: {report.get('elapsed_s', 0):.0f} s of a {report['budget_s']:.0f} s budget"
        f"{'; a dry run at tiny sizes on the CPU, so no number below is a GPU figure' if report['dry_run'] else ''}."
        f" MFU: achieved FLOP/s over the {_number(matmul.get('flops_per_s', math.nan) / 1e12)} TFLOP/s of a "
        f"{matmul.get('what', 'matrix product')} on the same device.",
        "",
        "| what | setting | result | target |",
        "| --- | --- | --- | --- |",
    ]
    tally = ", ".join(f"{n} {outcome}" for outcome, n in sorted(tests.get("counts", {}).items())) or "none ran"
    failed = [t["name"] for t in tests.get("tests", []) if t["outcome"] in ("failed", "error")]
    result = tally + (f" ({'; '.join(failed)})" if failed else "")
    if tests.get("status") != "done":
        result += f"; {tests.get('status')}"
    lines.append(f"| CUDA correctness tests | `pytest -m cuda tests/test_cuda.py` | {result} | all pass |")
    for row in speed.get("rows", []):
        if row["kind"] == "train":
            what, shape = "training step", f"batch {row['batch']}, {row['size']} px"
        else:
            what, shape = "volume segmentation", f"{row['slices']} slices of {row['size']} px, {row['batch']} at a time"
        width = f", {row['channels']} ch, width {row['width']:g}"
        met = {True: " (met)", False: " (not met)"}.get(row.get("met"), "")
        lines.append(
            f"| {row['model']} {what} | {row['variant']}, {shape}{width} | {speed_result(row)} | {row['target']}{met} |"
        )
    if not speed.get("rows"):
        lines.append(f"| speed benchmarks | – | {speed.get('status')} | – |")
    if "steps" in run:
        scores = run.get("test_scores") or {}

        def percent(key: str) -> str:
            return _number(100 * (scores.get(key) or math.nan))

        result = (
            f"{run.get('run_status') or run['status']}: {run.get('run_steps_done') or 0} of {run['steps']} steps, "
            f"{_number(run.get('train_steps_per_s'))} steps/s; test Dice {percent('slice_dice')} % "
            f"(3D {percent('dice_3d')} %), AUROC {percent('auroc')} %"
        )
        lines.append(f"| PathoGAN run, full objective | {run['what']}, {run['seconds']:.0f} s | {result} | – |")
    else:
        lines.append(f"| PathoGAN run on real scans | – | {run.get('status')} | – |")
    return "\n".join(lines) + "\n"


def write_outputs(out: Path, work: Path, report: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, text in (("gpu-check.json", json.dumps(report, indent=1)), ("gpu-check.md", markdown(report))):
        partial = out / (name + ".partial")
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, out / name)
    with (out / "gpu-check.log").open("w", encoding="utf-8") as log:
        for stage in ("install", "tests", "speed", "run"):
            path = work / f"{stage}.log"
            if path.is_file():
                log.write(f"===== {stage} =====\n{path.read_text(encoding='utf-8', errors='replace')[-2_000_000:]}\n")
