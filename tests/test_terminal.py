"""Results on stdout fitted to the width they are given; progress and warnings on stderr."""

from __future__ import annotations

import io
import json

import pytest
from conftest import TINY_RUN, invoke_cli
from rich.console import Console

from pathogan_bench.record.summary import Summary
from pathogan_bench.reporting.run_report import table_rows, whole_scan_rows
from pathogan_bench.utils.terminal import FittedTable, print_fitted

HEADER = ["model (split)", "3D Dice (%)", "3D HD95 (mm)", "best-threshold Dice (%)", "healthy slices with detection"]
ROW = ["pathogan (Te)", "72.4 ± 11.3 (75.0)", "12.31 ± 4.10 (11.00)", "80.1 (at 0.43)", "20 of 23"]


def printed(table: FittedTable, width: int) -> tuple[str, str]:
    console = Console(file=io.StringIO(), width=width, record=True, force_terminal=False)
    layout = print_fitted(console, table)
    return console.export_text(), layout


@pytest.mark.parametrize(("width", "layout"), [(200, "full"), (100, "abbreviated"), (80, "vertical"), (40, "vertical")])
def test_a_table_fits_its_width_and_never_breaks_a_cell(width, layout):
    text, used = printed(FittedTable("scores", HEADER, [ROW, ["unet (Te)", *ROW[1:]]]), width)
    assert used == layout
    assert max(len(line.rstrip()) for line in text.splitlines()) <= width
    for cell in ROW[1:]:
        assert cell in text, f"{cell!r} broken or lost at {width} columns"
    if layout == "abbreviated":
        assert "best Dice = best-threshold Dice (%)" in text and text.count("key:") == 1


def test_columns_the_same_in_every_row_are_said_once_below_the_table():
    header = ["model (split)", "data", "Dice (%)"]
    rows = [
        ["a (Te)", "/very/long/path/to/the/data/folder", "70.1"],
        ["b (Te)", "/very/long/path/to/the/data/folder", "71.0"],
    ]
    text, _ = printed(FittedTable("runs", header, rows, label_columns=2), 80)
    assert text.count("/very/long/path/to/the/data/folder") == 1
    assert "every row: data /very/long/path/to/the/data/folder" in text


@pytest.mark.slow
@pytest.mark.parametrize("columns", [80, 120])
def test_run_prints_its_results_on_stdout_within_columns(columns, monkeypatch, tmp_path):
    monkeypatch.setenv("COLUMNS", str(columns))
    config = tmp_path / "tiny.toml"
    config.write_text(TINY_RUN)
    result = invoke_cli("run", "--config", config, "--model", "threshold", "--out", tmp_path, "--name", "t")
    assert result.code == 0, result.err
    assert "Dice" in result.out and "run directory:" in result.out
    assert max(len(line) for line in result.out.splitlines()) <= columns
    summary = Summary.from_dict(json.loads((tmp_path / "t" / "summary.json").read_text()))
    for _, rows in (table_rows(summary), whole_scan_rows(summary)):
        for row in rows:
            for cell in row[1:]:
                assert cell in result.out, f"{cell!r} broken at {columns} columns"
    quiet = invoke_cli("run", "--config", config, "--model", "threshold", "--out", tmp_path, "--quiet", "--json")
    assert quiet.code == 0 and quiet.err == ""
    assert json.loads(quiet.out)["status"] == "done"
