"""The device check's decisions, checked without a GPU: which device its tests run on, how far bf16 may be from
float32, the stages' time, and the report it writes (benchmarks/gpu_check.py, gpu_check_report.py, gpu_speed.py)."""

from __future__ import annotations

import importlib
import math
import time
from pathlib import Path

import pytest
from device_check import Tolerance, check_device, loss_mismatches, tiny_options

from pathogan_bench.engine.model_options import model_class
from pathogan_bench.registry import get_registry

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def check(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    return importlib.import_module("gpu_check")


@pytest.fixture
def check_report(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    return importlib.import_module("gpu_check_report")


@pytest.fixture
def speed_stage(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    return importlib.import_module("gpu_speed")


# -- the device and the tolerances -------------------------------------------------------------------------------------


def test_the_checks_run_on_cuda_when_there_is_one_on_the_cpu_when_asked_and_are_skipped_otherwise():
    assert check_device(None, cuda_available=True) == "cuda"
    assert check_device("auto", cuda_available=False) is None
    assert check_device("cpu", cuda_available=True) == "cpu"
    assert check_device("cuda:1", cuda_available=True) == "cuda:1"
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        check_device("cuda", cuda_available=False)  # a broken GPU must fail the check, not skip it
    with pytest.raises(ValueError, match="expected auto, cpu or cuda"):
        check_device("tpu", cuda_available=True)


def test_loss_mismatches_name_each_loss_outside_the_tolerance():
    tolerance = Tolerance(rtol=0.05, atol=0.01)
    reference = {"G/cycle": 1.0, "G/kl": 1e-6, "D/gan": 0.5}
    assert loss_mismatches(reference, {"G/cycle": 1.04, "G/kl": 0.009, "D/gan": 0.5}, tolerance) == []
    problems = loss_mismatches(reference, {"G/cycle": 1.2, "G/kl": math.nan, "G/new": 1.0}, tolerance)
    assert [p.split(":")[0] for p in problems] == ["D/gan", "G/new", "G/cycle", "G/kl"]
    assert "1.2 against 1" in problems[2]


def test_every_registered_model_gets_tiny_options_it_accepts():
    registry = get_registry()
    for name in registry.names("model"):
        cls = model_class(registry.get("model", name))
        cls.check_options(tiny_options(name, cls))


def test_a_model_without_tiny_options_takes_its_quick_preset_at_a_small_width():
    class Plugin:
        preset_options = {"quick": {"sampling_steps": 3}}

        @classmethod
        def option_names(cls):
            return {"sampling_steps", "width"}

    assert tiny_options("someone-elses", Plugin) == {"sampling_steps": 3, "width": 0.125}


# -- the stages' time --------------------------------------------------------------------------------------------------


def test_each_stage_gets_its_cap_or_what_the_later_stages_leave(check):
    budget = check.Budget(started=time.time() - 100, total=480)
    assert budget.cap(190, keep=60) == 190
    assert 319 <= budget.cap(1000, keep=60) <= 320  # 380 left, 60 kept
    assert check.Budget(started=time.time() - 479, total=480).cap(190, keep=60) == 0


def test_the_real_data_run_takes_the_steps_that_fit_after_its_overhead(check):
    assert check.run_steps(10.0, 190, dry_run=False) == int(10 * check.REAL_DATA_RATE * (190 - check.RUN_OVERHEAD))
    assert check.run_steps(10.0, 60, dry_run=False) == 10  # too little time: a few steps, the cap stops the rest
    assert check.run_steps(None, 300, dry_run=False) == 100
    assert check.run_steps(10.0, 300, dry_run=True) == 4


def test_the_speed_stage_measures_fp32_before_bf16_and_compiles_last(speed_stage):
    plan = speed_stage.plan()
    for model in ("pathogan", "cyclegan", "mdgru"):
        variants = [m.variant for m in plan if (m.kind, m.model) == ("train", model)]
        assert variants[:2] == ["fp32 eager", "bf16 channels-last"]
    assert plan[-1].compile and not any(m.compile for m in plan[:-1])
    assert {m.model for m in plan if m.kind == "volume"} == {"pathogan", "cyclegan", "mdgru", "unet"}
    test_mdgru = speed_stage.target_of("train", "mdgru")
    assert test_mdgru[1]({"ms_per_step": 99}) and not test_mdgru[1]({"ms_per_step": 101})
    assert speed_stage.target_of("volume", "unet")[0] == "< 0.5 s per volume"


# -- the report --------------------------------------------------------------------------------------------------------


def test_junit_results_keep_each_outcome_and_the_start_of_its_message(check_report, tmp_path):
    xml = tmp_path / "r.xml"
    xml.write_text(
        '<testsuites><testsuite><testcase name="a" time="1.5"/>'
        '<testcase name="b" time="2"><failure message="assert 1 == 2">long</failure></testcase>'
        '<testcase name="c"><skipped message="needs a GPU"/></testcase></testsuite></testsuites>'
    )
    results = check_report.junit_results(xml)
    assert [(r["name"], r["outcome"]) for r in results] == [("a", "passed"), ("b", "failed"), ("c", "skipped")]
    assert results[1]["message"] == "assert 1 == 2" and check_report.counts(results) == {
        "passed": 1,
        "failed": 1,
        "skipped": 1,
    }
    assert check_report.junit_results(tmp_path / "absent.xml") == []


def report(**stages):
    return {
        "command": "benchmarks/gpu_check.sh --out out",
        "dry_run": False,
        "date": "2026-12-07",
        "budget_s": 480,
        "elapsed_s": 470,
        "environment": {"gpu": "NVIDIA H100", "torch": "2.11.0", "cuda": "13.0", "cudnn": 91000, "commit": "abc"},
        "stages": {"install": {"seconds": 20}, **stages},
    }


def test_the_markdown_is_one_table_with_every_stage(check_report):
    tests = {"status": "done", "tests": [{"name": "test_x", "outcome": "failed"}], "counts": {"failed": 1, "passed": 9}}
    measured = {
        "kind": "train",
        "model": "pathogan",
        "variant": "bf16 channels-last",
        "batch": 4,
        "size": 240,
        "channels": 4,
        "width": 1.0,
        "status": "measured",
        "steps_per_s": 12.5,
        "ms_per_step": 80.0,
        "gflop_per_step": 7900.0,
        "tflops_per_s": 98.8,
        "mfu": 0.125,
        "peak_memory_gib": 20.0,
        "target": ">= 30 steps/s",
        "met": False,
    }
    pending = {**measured, "kind": "volume", "slices": 155, "batch": 32, "status": "not measured: no time"}
    speed = {"status": "done", "matmul": {"flops_per_s": 7.9e14, "what": "bfloat16 8192x8192x8192 matmul"}}
    run = {
        "status": "done",
        "steps": 900,
        "seconds": 150.0,
        "what": "brats2018-sample, width 1, 240 px",
        "run_status": "done",
        "run_steps_done": 900,
        "train_steps_per_s": 11.0,
        "test_scores": {"slice_dice": 0.42, "dice_3d": 0.3, "auroc": 0.9},
    }
    text = check_report.markdown(report(tests=tests, speed={**speed, "rows": [measured, pending]}, run=run))
    table = [line for line in text.splitlines() if line.startswith("|")]
    assert len(table) == 2 + 4 and "NVIDIA H100, torch 2.11.0, CUDA 13.0" in text and "790 TFLOP/s" in text
    assert "1 failed, 9 passed (test_x)" in table[2]
    assert "12.5 steps/s (80 ms); 7.9 TFLOP/step, 98.8 TFLOP/s, MFU 12 %; peak 20 GiB" in table[3]
    assert table[3].endswith(">= 30 steps/s (not met) |")
    assert "155 slices of 240 px, 32 at a time" in table[4] and "not measured: no time" in table[4]
    assert "900 of 900 steps, 11 steps/s; test Dice 42 % (3D 30 %), AUROC 90 %" in table[5]


def test_a_report_written_before_the_last_stage_says_what_was_not_reached(check_report):
    text = check_report.markdown(report(tests={"status": "stopped at its time cap", "counts": {}}))
    assert "none ran; stopped at its time cap" in text and text.count("not reached") == 2
