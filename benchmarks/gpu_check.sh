#!/usr/bin/env bash
# The device check, one call on a machine with a CUDA GPU and no network: install this checkout into a fresh virtual
# environment beside the torch the machine already has, then within --budget seconds (default 480, install included)
# run the CUDA correctness tests, the speed benchmarks at the paper's size and a short PathoGAN run on real scans
# (benchmarks/gpu_check.py). Writes gpu-check.json, gpu-check.md (a table for benchmarks/RESULTS.md) and
# gpu-check.log to --out.
#
#   benchmarks/gpu_check.sh [--out DIR] [--budget SECONDS] [--data DIR] [--wheels DIR] [--keep] [--dry-run]
#   benchmarks/gpu_check.sh --fetch-wheels DIR     # on a machine with network: the wheels to bring along
#
# The interpreter is $PYTHON (default python3) and must import torch; its own packages stay visible (torch, numpy,
# scipy, pandas, matplotlib, safetensors are expected there). Pure-Python dependencies it lacks are installed from
# --wheels DIR, made beforehand with --fetch-wheels. --dry-run: the same stages at tiny sizes on the CPU, in a minute
# or a few (CI runs it). --keep: keep the scratch folder (run directories, logs) and say where it is.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
started="$(date +%s)"
python="${PYTHON:-python3}"
out="gpu-check"
wheels=""
keep=0
pass=()
# pure-Python dependencies of the package and of its tests, fetched with --fetch-wheels
pure=(pluggy click rich tomli-w nibabel diffusers pytest pytest-timeout pytest-benchmark)

fail() {
    echo "gpu_check.sh: $*" >&2
    exit 2
}

while [ $# -gt 0 ]; do
    case "$1" in
    --out) out="${2:?--out needs a folder}"; shift 2 ;;
    --wheels) wheels="${2:?--wheels needs a folder}"; shift 2 ;;
    --keep) keep=1; shift ;;
    --budget)
        [[ "${2:-}" =~ ^[0-9]+([.][0-9]+)?$ ]] || fail "--budget ${2:-}: expected a number of seconds"
        pass+=("$1" "$2"); shift 2 ;;
    --data)
        [ -d "${2:-}" ] || fail "--data ${2:-}: not a folder"
        pass+=("$1" "$(cd "$2" && pwd)"); shift 2 ;;
    --dry-run) pass+=("$1"); shift ;;
    --fetch-wheels)
        dest="${2:?--fetch-wheels needs a folder}"
        mkdir -p "$dest"
        specs=()
        for name in "${pure[@]}"; do
            version="$("$python" -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$name" 2>/dev/null)" ||
                fail "--fetch-wheels: $name is not installed here (install the project with its [test] extra first)"
            specs+=("$name==$version")
        done
        "$python" -m pip download --quiet --no-deps --only-binary=:all: -d "$dest" "${specs[@]}"
        echo "wheels for ${specs[*]} in $dest; bring the folder along and pass --wheels $dest" >&2
        exit 0
        ;;
    -h | --help) sed -n '2,15s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) fail "unknown option $1 (see --help)" ;;
    esac
done
[ -z "$wheels" ] || [ -d "$wheels" ] || fail "--wheels $wheels: not a folder"
"$python" -c "import torch" 2>/dev/null || fail "$python cannot import torch; set PYTHON to an interpreter that can"
mkdir -p "$out" || fail "--out $out: cannot make the folder"
out="$(cd "$out" && pwd)"

work="$(mktemp -d "${TMPDIR:-/tmp}/gpu-check.XXXXXX")"
if [ "$keep" = 1 ]; then
    trap 'echo "gpu_check.sh: scratch folder kept: $work" >&2' EXIT
else
    trap 'rm -rf "$work"' EXIT
fi
log="$work/install.log"
venv_python="$work/venv/bin/python"

install() {
    # A fresh environment without packages of its own that sees the interpreter's (torch above all) through a .pth
    # file, their own .pth files included: a venv made from another venv's interpreter would see only the base
    # installation's. pip and setuptools come from there too.
    "$python" -m venv --without-pip "$work/venv" || return 1
    local site
    site="$("$venv_python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" || return 1
    "$python" -c 'import site; [print(f"import site; site.addsitedir({d!r})") for d in site.getsitepackages()]' \
        >"$site/outer-site-packages.pth" || return 1
    if [ -n "$wheels" ]; then
        # only what the interpreter lacks: a wheel never replaces a package that is already there
        local wheel name missing=()
        for wheel in "$wheels"/*.whl; do
            name="$(basename "$wheel" | cut -d- -f1)"
            "$venv_python" -c "import importlib.metadata as m, sys; m.version(sys.argv[1])" "$name" 2>/dev/null ||
                missing+=("$wheel")
        done
        if [ ${#missing[@]} -gt 0 ]; then
            "$venv_python" -m pip install --no-index --no-deps "${missing[@]}" || return 1
        fi
    fi
    # no index, no dependencies, no build isolation: nothing is fetched, and the torch that is there stays; a
    # setuptools too old to build it here is replaced in an isolated build, which needs a package index
    if ! "$venv_python" -m pip install --no-index --no-deps --no-build-isolation -e "$repo"; then
        echo "gpu_check.sh: the interpreter's setuptools cannot install the checkout; retrying with build isolation"
        "$venv_python" -m pip install --no-deps -e "$repo" || return 1
    fi
}
install >"$log" 2>&1 || { cat "$log" >&2; fail "the install failed (above)"; }

if ! "$venv_python" - >>"$log" 2>&1 <<'EOF'; then
import importlib, importlib.metadata as metadata, re, sys
needed = [re.split(r"[\s<>=!~;\[]", r)[0] for r in metadata.requires("pathogan-bench") or [] if "extra ==" not in r]
needed += ["pytest", "pytest_timeout", "pytest_benchmark"]
modules = {"tomli-w": "tomli_w", "pytest_timeout": "pytest_timeout", "pytest_benchmark": "pytest_benchmark"}
missing = []
for name in needed:
    try:
        importlib.import_module(modules.get(name, name.replace("-", "_")))
    except Exception as exc:
        missing.append(f"{name} ({type(exc).__name__}: {exc})")
import torch
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, GPU: {torch.cuda.is_available()}")
if missing:
    sys.exit("missing: " + "; ".join(missing))
EOF
    tail -n 3 "$log" >&2
    fail "packages are missing; on a machine with network run benchmarks/gpu_check.sh --fetch-wheels DIR, then pass --wheels DIR here"
fi

cd "$repo"
status=0
called="benchmarks/gpu_check.sh ${pass[*]+${pass[*]} }--out $out"
"$venv_python" benchmarks/gpu_check.py --out "$out" --work "$work" --started "$started" --command "$called" \
    ${pass[@]+"${pass[@]}"} || status=$?
echo "gpu_check.sh: wrote $out/gpu-check.json, $out/gpu-check.md and $out/gpu-check.log" >&2
exit "$status"
