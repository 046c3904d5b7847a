"""The import structure: arrows point down only, the core never imports a plugin, nothing imports the CLI."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import pathogan_bench

#: lowest first; a module may import modules of its own layer or of lower ones
LAYERS: list[set[str]] = [
    {"errors", "utils"},
    {"contracts", "data", "metrics", "figures"},
    {"registry", "record", "reporting", "config"},
    {"evaluation"},
    {"engine"},
    {"comparison", "plugin"},
    {"commands", "cli", "__main__"},
]


def layer_of(module: str) -> int:
    part = module.removeprefix("pathogan_bench.").split(".")[0]
    for level, names in enumerate(LAYERS):
        if part in names:
            return level
    raise AssertionError(f"{module}: not assigned to a layer in tests/test_architecture.py")


def core_modules() -> list[str]:
    names = [info.name for info in pkgutil.walk_packages(pathogan_bench.__path__, "pathogan_bench.")]
    return [n for n in names if n != "pathogan_bench.__main__"]


def imports_of(module_name: str) -> set[str]:
    """Every module ``module_name`` imports, at the top or inside functions (relative imports resolved)."""
    module = importlib.import_module(module_name)
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    package = module_name if hasattr(module, "__path__") else module_name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            found.add(target)
            found |= {f"{target}.{alias.name}" for alias in node.names if _is_submodule(target, alias.name)}
    return found


def _is_submodule(package: str, name: str) -> bool:
    if not package.startswith("pathogan_bench"):
        return False
    module = importlib.import_module(package)
    return hasattr(module, "__path__") and any(info.name == name for info in pkgutil.iter_modules(module.__path__))


@pytest.mark.parametrize("module", core_modules())
def test_imports_point_down(module):
    own = layer_of(module)
    for target in imports_of(module):
        assert not target.startswith("pathogan_bench_plugins"), f"{module} imports the plugin {target}"
        if target.startswith("pathogan_bench.") and target != module:
            assert layer_of(target) <= own, f"{module} (layer {own}) imports {target} (layer {layer_of(target)})"


def test_every_core_module_has_a_layer():
    for module in core_modules():
        layer_of(module)


def test_the_layering_test_sees_function_level_imports():
    assert "pathogan_bench.engine" in imports_of("pathogan_bench.commands.run")
    assert "pathogan_bench.registry" in imports_of("pathogan_bench.commands.data")  # inside a function


@pytest.mark.slow
def test_a_built_wheel_holds_every_package(tmp_path):
    """setup.py finds the packages: a wheel built from the checkout holds the core's and every plugin package."""
    import subprocess
    import sys
    import zipfile

    root = Path(__file__).resolve().parents[1]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(tmp_path),
            str(root),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("pathogan_bench-*.whl")
    in_wheel = {
        Path(name).parent.as_posix().replace("/", ".")
        for name in zipfile.ZipFile(wheel).namelist()
        if name.endswith("/__init__.py")
    }
    core = {"pathogan_bench"} | {
        info.name for info in pkgutil.walk_packages(pathogan_bench.__path__, "pathogan_bench.") if info.ispkg
    }
    plugins = {
        "pathogan_bench_plugins" + "".join(f".{part}" for part in p.parent.relative_to(root / "plugins").parts)
        for p in (root / "plugins").rglob("__init__.py")
        if "tv-example" not in p.parts
    }
    assert core | plugins <= in_wheel, f"missing from the wheel: {sorted(core | plugins - in_wheel)}"
    assert "pathogan_bench_plugins.models.pathogan" in in_wheel


def test_packaging_warns_of_nothing():
    """setuptools reads pyproject.toml without a deprecation (``project.license`` an SPDX string, ...)."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    found = subprocess.run(
        [sys.executable, "-W", "error", "setup.py", "--name"], cwd=root, capture_output=True, text=True
    )
    assert found.returncode == 0 and found.stdout.strip() == "pathogan-bench", found.stderr[-600:]
