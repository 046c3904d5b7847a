"""Device and CPU-thread choice: one place, respecting the environment."""

from __future__ import annotations

import os

import pytest
import torch

from pathogan_bench.errors import UserError
from pathogan_bench.utils import device


def test_threads_follow_omp_num_threads_then_the_cores_this_process_may_use(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert device.default_threads() == 3
    monkeypatch.delenv("OMP_NUM_THREADS")
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    monkeypatch.setattr(device, "physical_cores", lambda cpus: len(cpus) // 2)  # two hyper-threads per core
    assert device.default_threads() == 2


def test_physical_cores_counts_sibling_hyper_threads_once(monkeypatch, tmp_path):
    siblings = {0: "0,2", 1: "1,3", 2: "0,2", 3: "1,3"}
    real_path = device.Path

    def fake_path(text):
        if text.startswith("/sys/devices/system/cpu/cpu"):
            cpu = int(text.split("/cpu/cpu")[1].split("/")[0])
            target = tmp_path / f"cpu{cpu}"
            target.write_text(siblings[cpu] + "\n")
            return target
        return real_path(text)

    monkeypatch.setattr(device, "Path", fake_path)
    assert device.physical_cores({0, 1, 2, 3}) == 2
    assert device.physical_cores({0, 2}) == 1


def test_configure_threads_sets_torch_and_returns_the_number():
    before = torch.get_num_threads()
    try:
        assert device.configure_threads(1) == 1 and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_a_device_that_is_not_there_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(UserError, match="CUDA is not available"):
        device.resolve_device("cuda")
    with pytest.raises(UserError, match="expected auto, cpu or cuda"):
        device.resolve_device("tpu")
    assert device.resolve_device("auto") == "cpu"
