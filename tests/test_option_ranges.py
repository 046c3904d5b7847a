"""Every number a command takes has a range its help states, and a value outside it is refused in one line naming
the option before any data is read; inside it, the command gets as far as reading its data."""

from __future__ import annotations

import math
from pathlib import Path

import click
import pytest
from conftest import invoke_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_fuzz import outcome_problems

from pathogan_bench.cli import cli

#: where each command stops to read its data; reaching one of them means every option was accepted
DATA_ENTRIES = (
    ("pathogan_bench.engine.datasets", "read_dataset"),
    ("pathogan_bench.engine.prepare", "read_dataset"),
    ("pathogan_bench.engine.segment_volumes", "read_dataset"),
    ("pathogan_bench.engine.data_record", "read_dataset"),
    ("pathogan_bench.data.synthetic", "synthesize"),
    ("pathogan_bench.metrics.label_files", "load_label_pair"),
)


class ReachedData(Exception):
    """Raised where a command would start reading its data."""


def commands(group: click.Group = cli, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], click.Command]:
    found = {}
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if isinstance(command, click.Group):
            found.update(commands(command, path + (name,)))
        elif command is not None:
            found[path + (name,)] = command
    return found


def numeric_options() -> list[tuple[tuple[str, ...], click.Option]]:
    out = []
    for path, command in commands().items():
        for param in command.params:
            if isinstance(param, click.Option) and isinstance(
                param.type, (click.types.IntParamType, click.types.FloatParamType)
            ):
                out.append((path, param))
    return out


NUMERIC = numeric_options()


def test_the_walk_finds_the_options_of_every_command():
    names = {" ".join(path) for path, _ in NUMERIC}
    assert {"run", "compare", "data synth", "data show", "data prepare", "segment", "sample"} <= names
    assert len(NUMERIC) >= 30


@pytest.mark.parametrize("path,option", NUMERIC, ids=[f"{' '.join(p)} {o.opts[0]}" for p, o in NUMERIC])
def test_every_numeric_option_has_a_range_and_its_help_states_it(path, option):
    kind = option.type
    assert isinstance(kind, (click.IntRange, click.FloatRange)), f"{option.opts[0]} takes any {kind.name}"
    assert kind.min is not None and kind.max is not None, f"{option.opts[0]}: {kind} is open-ended"
    command = commands()[path]
    ctx = click.Context(command, info_name=path[-1])
    help_text = command.get_help(ctx)
    assert "<=x<=" in help_text.replace(" ", "") or "<x<=" in help_text.replace(" ", "")


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    """A data folder, a run-like folder and an output folder the commands are pointed at."""
    root = tmp_path_factory.mktemp("options")
    (root / "data").mkdir()
    (root / "run").mkdir()
    return root


def base_arguments(path: tuple[str, ...], root: Path) -> list[str]:
    data, out = str(root / "data"), str(root / "out")
    return {
        ("run",): ["--data", data, "--out", out],
        ("compare",): ["--models", "threshold", "--data", data, "--out", out],
        ("data", "prepare"): [data],
        ("data", "show"): [data, "--out", f"{out}/show.png"],
        ("data", "intensities"): [data],
        ("data", "synth"): ["--out", f"{out}/synth"],
        ("data", "compare-real"): [data, "--out", f"{out}/real.png"],
        ("metrics",): [str(root / "run"), str(root / "run")],
        ("segment",): [str(root / "run"), data, "--out", out],
        ("sample",): [str(root / "run")],
        ("evaluate",): [str(root / "run")],
    }.get(path, [])


def values_for(option: click.Option) -> st.SearchStrategy[str]:
    kind = option.type
    low, high = getattr(kind, "min", None), getattr(kind, "max", None)
    edges = [v for v in (low, high) if v is not None]
    near = [str(v) for e in edges for v in (e - 1, e, e + 1)] + [str(e) for e in edges]
    return st.one_of(
        st.sampled_from([*near, "0", "-1", "1", "nan", "inf", "-inf", "1e30", "1e309", "abc", "", "2.5", "10**3"]),
        st.integers(-(10**12), 10**12).map(str),
        st.floats(allow_nan=False, allow_infinity=False, width=32).map(repr),
    )


def in_range(option: click.Option, text: str) -> bool:
    kind = option.type
    try:
        value = int(text) if isinstance(kind, click.IntRange) else float(text)
    except ValueError:
        return False
    if isinstance(value, float) and not math.isfinite(value):
        return False
    above = value > kind.min if getattr(kind, "min_open", False) else value >= kind.min
    return above and value <= kind.max


@pytest.fixture(scope="module")
def data_never_read():
    """Every place a command starts reading data raises :class:`ReachedData`."""
    import importlib

    patch = pytest.MonkeyPatch()

    def reached(*args, **kwargs):
        raise ReachedData

    modules = [importlib.import_module(module) for module, _ in DATA_ENTRIES]  # all imported before any is patched
    for module, (_, name) in zip(modules, DATA_ENTRIES):
        patch.setattr(module, name, reached)
    yield
    patch.undo()


def reached_or_ended(path: tuple[str, ...], *args: str) -> tuple[int | str, str, str]:
    """The command's exit code, stdout and stderr; the code "reached" when it got as far as reading data."""
    try:
        code, out, err = invoke_cli(*path, *args)
    except ReachedData:
        return "reached", "", ""
    if code == 1 and "ReachedData" in err:  # the command line reports it as an internal error
        return "reached", out, err
    return code, out, err


@pytest.mark.parametrize("path,option", NUMERIC, ids=[f"{' '.join(p)} {o.opts[0]}" for p, o in NUMERIC])
@settings(max_examples=10, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.data())
def test_an_option_value_is_refused_before_any_data_is_read_or_let_through_to_it(
    path, option, value, sandbox, data_never_read
):
    text = value.draw(values_for(option))
    flag = option.opts[0]
    code, out, err = reached_or_ended(path, f"{flag}={text}", *base_arguments(path, sandbox))
    if in_range(option, text):
        if code != "reached":
            assert not outcome_problems(code, out, err, (flag, text, str(sandbox))), (flag, text, err)
    else:
        assert code == 2, f"{' '.join(path)} {flag}={text!r} was not refused: {code} {err}"
        assert not outcome_problems(code, out, err, (flag,)), (flag, text, err)


@pytest.mark.parametrize("width,ok", [("4", True), ("4.5", False), ("1e9", False), ("0", False), ("nan", False)])
def test_a_network_width_beyond_one_machine_is_refused_before_data(width, ok, tmp_path, data_never_read):
    args = ("--model", "pathogan", "--model-option", f"width={width}", "--steps", "1", "--out", str(tmp_path))
    code, _, err = reached_or_ended(("run",), *args)
    if ok:
        assert code == "reached", err
    else:
        assert code == 2 and err.count("\n") == 1 and "width" in err
