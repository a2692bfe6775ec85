#!/usr/bin/env bash
# Installs what vesper needs on a Debian 12 / Ubuntu machine, builds it and puts
# `vesper` on the PATH. Safe to run again: it installs only what is missing.
#
#   scripts/setup.sh [--no-build] [--no-run] [--slurm] [--browser] [--bench]
#
#   --no-build  only install packages (no cargo build, no install of the binary)
#   --no-run    skip the final runs of examples/hello.py and examples/pipeline.py
#   --slurm     also install munge + Slurm (for slurm/cluster.sh and the Slurm tests)
#   --browser   also install Chromium (the run-report test renders the report headless)
#   --bench     also install the benchmark peers (mpi4py, dask, redis, hyperfine)
#
# The Python used is the one pyo3 builds against: $PYO3_PYTHON, else the active
# virtualenv ($VIRTUAL_ENV), else `python3` on the PATH.
set -euo pipefail

BUILD=1 RUN=1 SLURM=0 BROWSER=0 BENCH=0
for arg in "$@"; do
    case "$arg" in
        --no-build) BUILD=0 ;;
        --no-run) RUN=0 ;;
        --slurm) SLURM=1 ;;
        --browser) BROWSER=1 ;;
        --bench) BENCH=1 ;;
        -h | --help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "setup.sh: unknown option '$arg' (try --help)" >&2; exit 2 ;;
    esac
done
[ "$BUILD" = 1 ] || RUN=0

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

say() { echo "setup: $*"; }
die() { echo "setup: error: $*" >&2; exit 1; }

# Root, sudo, or nothing (then only user-level steps can run).
if [ "$(id -u)" -eq 0 ]; then
    SUDO=() CAN_ROOT=1
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    SUDO=(sudo) CAN_ROOT=1
else
    SUDO=() CAN_ROOT=0
fi

# Open MPI refuses to run as root and to put more ranks than cores without these.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1

# --- system packages ----------------------------------------------------------
APT_UPDATED=0
is_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

apt_install() {
    local missing=() pkg
    for pkg in "$@"; do is_installed "$pkg" || missing+=("$pkg"); done
    [ "${#missing[@]}" -eq 0 ] && return 0
    command -v apt-get >/dev/null || die "missing packages (${missing[*]}) and no apt-get"
    [ "$CAN_ROOT" = 1 ] || die "missing packages (${missing[*]}): run as root or with sudo"
    if [ "$APT_UPDATED" = 0 ]; then
        say "apt-get update"
        "${SUDO[@]}" apt-get update -qq
        APT_UPDATED=1
    fi
    say "installing ${missing[*]}"
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

PKGS=(libopenmpi-dev openmpi-bin libhwloc-dev libudev-dev hwloc libclang-dev clang pkg-config
      build-essential ca-certificates)
if [ "$SLURM" = 1 ]; then PKGS+=(munge slurmctld slurmd slurm-client slurm-wlm-basic-plugins libpmix-dev); fi
if [ "$BROWSER" = 1 ]; then PKGS+=(chromium fonts-dejavu-core); fi
if [ "$BENCH" = 1 ]; then PKGS+=(redis-server hyperfine); fi
apt_install "${PKGS[@]}"

# --- Python -------------------------------------------------------------------
if [ -n "${PYO3_PYTHON:-}" ]; then
    PY=$PYO3_PYTHON
elif [ -n "${VIRTUAL_ENV:-}" ]; then
    PY=$VIRTUAL_ENV/bin/python
else
    PY=python3
fi
if ! command -v "$PY" >/dev/null; then
    [ "$PY" = python3 ] || die "Python '$PY' not found"
    apt_install python3 python3-pip python3-dev python3-venv
fi
PY_EXE=$("$PY" -c 'import sys; print(sys.executable)')
case "$PY_EXE" in
    # Debian's own Python: pip, and libpython for linking, come as packages.
    /usr/bin/*) apt_install python3-pip python3-dev ;;
    *) "$PY" -m pip --version >/dev/null 2>&1 || "$PY" -m ensurepip --upgrade >/dev/null ;;
esac

# pip install into $PY; --user when its site-packages is not ours, and
# --break-system-packages only if pip refuses an externally managed environment.
pip_install() {
    local extra=() out
    if [ -z "${VIRTUAL_ENV:-}" ] && [ "$(id -u)" -ne 0 ] &&
        [ ! -w "$("$PY" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" ]; then
        extra+=(--user)
    fi
    say "pip install $* (into $PY_EXE)"
    if out=$("$PY" -m pip install -q "${extra[@]}" "$@" 2>&1); then return 0; fi
    if grep -q externally-managed <<<"$out"; then
        "$PY" -m pip install -q "${extra[@]}" --break-system-packages "$@"
    else
        echo "$out" >&2
        return 1
    fi
}

# Installs each python package whose module does not import yet ("pkg:module").
pip_ensure() {
    local want=() spec
    for spec in "$@"; do
        "$PY" -c "import ${spec#*:}" 2>/dev/null || want+=("${spec%%:*}")
    done
    [ "${#want[@]}" -eq 0 ] || pip_install "${want[@]}"
}

pip_ensure cloudpickle:cloudpickle
if [ "$BENCH" = 1 ]; then pip_ensure mpi4py:mpi4py dask:dask distributed:distributed redis:redis; fi

# --- Rust ---------------------------------------------------------------------
if ! command -v cargo >/dev/null && [ -f "$HOME/.cargo/env" ]; then
    # shellcheck source=/dev/null
    . "$HOME/.cargo/env"
fi
if ! command -v cargo >/dev/null; then
    say "installing Rust (rustup, minimal profile)"
    apt_install curl
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs |
        sh -s -- -y -q --profile minimal --no-modify-path
    # shellcheck source=/dev/null
    . "$HOME/.cargo/env"
fi

[ "$BUILD" = 1 ] || { say "packages ready (--no-build)"; exit 0; }

# --- build and install the binary ---------------------------------------------
say "cargo build --release"
cargo build --release --quiet
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/vesper
[ -x "$BIN" ] || die "build produced no $BIN"
case "$BIN" in /*) ;; *) BIN=$ROOT/$BIN ;; esac

if [ "$CAN_ROOT" = 1 ]; then
    DEST=/usr/local/bin
else
    DEST=$HOME/.local/bin
    mkdir -p "$DEST"
    case ":$PATH:" in *":$DEST:"*) ;; *) say "note: add $DEST to your PATH" ;; esac
fi
# A symlink, so later `cargo build --release` runs are picked up without reinstalling.
if [ "$(readlink "$DEST/vesper" 2>/dev/null)" != "$BIN" ]; then
    if [ -w "$DEST" ]; then ln -sfn "$BIN" "$DEST/vesper"; else "${SUDO[@]}" ln -sfn "$BIN" "$DEST/vesper"; fi
fi
say "installed $DEST/vesper -> $BIN"

# --- smoke run ----------------------------------------------------------------
if [ "$RUN" = 1 ]; then
    say "mpirun -n 3 vesper examples/hello.py"
    mpirun -n 3 "$DEST/vesper" examples/hello.py
    say "mpirun -n 4 vesper examples/pipeline.py"
    mpirun -n 4 "$DEST/vesper" examples/pipeline.py
fi
