#!/usr/bin/env bash
# Runs the whole test suite: installs what is missing and builds (scripts/setup.sh),
# starts a one-node Slurm (slurm/cluster.sh), runs `cargo test --release` one test
# at a time, and always stops Slurm again. Fails if a vesper process outlives it.
#
#   scripts/test.sh                 everything
#   scripts/test.sh slurm           only tests/slurm.rs (an argument naming a file
#                                   tests/NAME.rs selects that test target)
#   scripts/test.sh spawn           only tests whose name contains "spawn"
#   scripts/test.sh slurm resume    tests/slurm.rs, tests whose name has "resume"
#
# Arguments starting with '-' go to the test binaries (e.g. --nocapture).
# Tests find the cluster through SLURM_CONF (and VESPER_SLURM_DIR, VESPER_SLURM_NODE,
# VESPER_SLURM_CPUS); see slurm/cluster.sh.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

scripts/setup.sh --slurm --browser --no-run
if ! command -v cargo >/dev/null && [ -f "$HOME/.cargo/env" ]; then
    # shellcheck source=/dev/null
    . "$HOME/.cargo/env"
fi

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
export VESPER_SLURM_DIR=${VESPER_SLURM_DIR:-/tmp/vesper-slurm}

# Pids of vesper processes still alive (zombies waiting to be reaped do not count).
live_vespers() {
    local pid
    for pid in $(pgrep -x vesper || true); do
        [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ] || echo "$pid"
    done
}

finish() {
    local rc=$? pids
    trap - EXIT INT TERM
    slurm/cluster.sh stop || true
    # Give the last ranks a moment to exit before calling them leftovers.
    for _ in $(seq 20); do
        [ -n "$(live_vespers)" ] || break
        sleep 0.5
    done
    pids=$(live_vespers)
    if [ -n "$pids" ]; then
        echo "test.sh: error: vesper processes left running after the tests:" >&2
        ps -o pid,ppid,etime,args -p "$(paste -sd, <<<"$pids")" >&2 || true
        [ "$rc" -ne 0 ] || rc=1
    fi
    exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

slurm/cluster.sh start >/dev/null
# shellcheck source=/dev/null
. "$VESPER_SLURM_DIR/env"

targets=() filters=()
for arg in "$@"; do
    if [[ "$arg" != -* && -f "tests/$arg.rs" ]]; then
        targets+=(--test "$arg")
    else
        filters+=("$arg")
    fi
done

# One test at a time: the machine may have 2 cores and every test runs several ranks.
cargo test --release "${targets[@]}" -- --test-threads=1 "${filters[@]}"
