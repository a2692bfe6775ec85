#!/usr/bin/env bash
# A throw-away one-node Slurm (22.05) cluster for tests, run without systemd.
#
#   slurm/cluster.sh start    wipe the state dir, start munged, slurmctld, slurmd, wait
#                             until the node is idle and a job step runs; prints the
#                             `export ...` lines clients need (also in $DIR/env)
#   slurm/cluster.sh stop     cancel its jobs, stop the daemons it started (pid files)
#   slurm/cluster.sh status   show which daemons run and the node state
#
# Everything lives in ${VESPER_SLURM_DIR:-/tmp/vesper-slurm}: slurm.conf, munge key
# and socket, state, spool, logs, pid files. Nothing under /etc is touched, and a
# system munged/Slurm (default sockets) is left alone. The node is declared with
# ${VESPER_SLURM_CPUS:-8} CPUs whatever the machine has, and MpiDefault=pmix (Debian's
# Open MPI works under `srun --mpi=pmix`, not pmi2). Ports: ${VESPER_SLURM_PORT:-6817}
# for slurmctld and the next one for slurmd. Needs root (re-runs itself with sudo).
# Install the packages with `scripts/setup.sh --slurm --no-build`.
#
# Clients: `. "$VESPER_SLURM_DIR/env"` (or `eval "$(slurm/cluster.sh start)"`), then
# sinfo / srun / sbatch as usual.
set -euo pipefail

DIR=${VESPER_SLURM_DIR:-/tmp/vesper-slurm}
CPUS=${VESPER_SLURM_CPUS:-8}
PORT=${VESPER_SLURM_PORT:-6817}
NODE=$(hostname -s 2>/dev/null || uname -n)
NODE=${NODE%%.*}
MARK=.vesper-slurm

say() { echo "cluster: $*" >&2; }
die() { echo "cluster: error: $*" >&2; exit 1; }

case "$DIR" in /*) ;; *) DIR=$(pwd)/$DIR ;; esac
DIR=${DIR%/}
if [ -z "$DIR" ] || [ "$DIR" = / ]; then die "refusing VESPER_SLURM_DIR='$DIR'"; fi

if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "needs root (slurmd runs jobs as any user)"
    exec sudo -E "$0" "$@"
fi

CONF=$DIR/slurm.conf
MUNGE_DIR=$DIR/munge
MUNGE_SOCKET=$MUNGE_DIR/munge.socket
PIDS=("munged:$MUNGE_DIR/munged.pid" "slurmctld:$DIR/slurmctld.pid" "slurmd:$DIR/slurmd.pid")

# The pid in $2 if that process is alive and is the daemon $1.
live_pid() {
    local name=$1 file=$2 pid
    [ -f "$file" ] || return 1
    pid=$(cat "$file" 2>/dev/null) || return 1
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ] || return 1
    echo "$pid"
}

# Waits up to $1 seconds for the pids to exit; then SIGKILLs the rest.
wait_gone() {
    local secs=$1 pid left
    shift
    for _ in $(seq $((secs * 10))); do
        left=0
        for pid in "$@"; do [ -d "/proc/$pid" ] && left=1; done
        [ "$left" = 0 ] && return 0
        sleep 0.1
    done
    for pid in "$@"; do kill -KILL "$pid" 2>/dev/null || true; done
}

# slurmstepd processes of this cluster: they inherit SLURM_CONF=$CONF from our slurmd.
our_stepds() {
    local pid
    for pid in $(pgrep -x slurmstepd 2>/dev/null || true); do
        if tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qxF "SLURM_CONF=$CONF"; then
            echo "$pid"
        fi
    done
}

stop() {
    local entry pid pids=()
    if [ -f "$CONF" ] && live_pid slurmctld "$DIR/slurmctld.pid" >/dev/null; then
        local jobs
        jobs=$(SLURM_CONF=$CONF timeout 10 squeue -h -o %A 2>/dev/null || true)
        if [ -n "$jobs" ]; then
            # shellcheck disable=SC2086
            SLURM_CONF=$CONF timeout 10 scancel $jobs 2>/dev/null || true
            for _ in $(seq 30); do
                [ -z "$(SLURM_CONF=$CONF timeout 5 squeue -h -o %A 2>/dev/null)" ] && break
                sleep 0.5
            done
        fi
    fi
    # All at once: each takes 1-2 s to shut down, and the state is wiped on start anyway.
    for entry in "${PIDS[@]}"; do
        if pid=$(live_pid "${entry%%:*}" "${entry#*:}"); then
            kill -TERM "$pid" 2>/dev/null || true
            pids+=("$pid")
        fi
    done
    if [ "${#pids[@]}" -gt 0 ]; then wait_gone 15 "${pids[@]}"; fi
    local steps
    mapfile -t steps < <(our_stepds)
    if [ "${#steps[@]}" -gt 0 ]; then
        kill -KILL "${steps[@]}" 2>/dev/null || true
        wait_gone 5 "${steps[@]}"
    fi
    if [ "${#pids[@]}" -gt 0 ]; then say "stopped (${#pids[@]} daemons)"; fi
    return 0
}

write_conf() {
    cat >"$CONF" <<EOF
# One-node test cluster written by slurm/cluster.sh; rewritten on every start.
ClusterName=vesper
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
TmpFS=$DIR/tmp
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=pmix
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MailProg=/bin/true
# The node declares more CPUs than the machine has: without this it drains ("Low CPUs").
SlurmdParameters=config_overrides
ReturnToService=2
KillWait=5
InactiveLimit=0
MinJobAge=60
MessageTimeout=10
SlurmctldTimeout=30
SlurmdTimeout=60
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
    cat >"$DIR/env" <<EOF
export SLURM_CONF=$CONF
export VESPER_SLURM_DIR=$DIR
export VESPER_SLURM_NODE=$NODE
export VESPER_SLURM_CPUS=$CPUS
EOF
}

start_munged() {
    local as_munge=()
    mkdir -p "$MUNGE_DIR"
    chmod 0755 "$MUNGE_DIR"
    if id munge >/dev/null 2>&1; then
        chown munge:munge "$MUNGE_DIR"
        as_munge=(runuser -u munge --)
    fi
    if command -v mungekey >/dev/null; then
        "${as_munge[@]}" mungekey -c -k "$MUNGE_DIR/munge.key"
    else
        dd if=/dev/urandom of="$MUNGE_DIR/munge.key" bs=1024 count=1 status=none
        [ "${#as_munge[@]}" -eq 0 ] || chown munge:munge "$MUNGE_DIR/munge.key"
    fi
    chmod 0400 "$MUNGE_DIR/munge.key"
    local args=(--socket="$MUNGE_SOCKET" --key-file="$MUNGE_DIR/munge.key"
                --pid-file="$MUNGE_DIR/munged.pid" --log-file="$MUNGE_DIR/munged.log"
                --seed-file="$MUNGE_DIR/munged.seed")
    # As root (no munge user) munged only runs when forced.
    [ "${#as_munge[@]}" -gt 0 ] || args+=(--force)
    "${as_munge[@]}" munged "${args[@]}"
    for _ in $(seq 50); do
        if munge -n -S "$MUNGE_SOCKET" 2>/dev/null | unmunge -S "$MUNGE_SOCKET" >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

fail() {
    local f
    say "error: $*"
    for f in "$MUNGE_DIR/munged.log" "$DIR/slurmctld.log" "$DIR/slurmd.log"; do
        [ -s "$f" ] && { echo "--- tail $f" >&2; tail -n 15 "$f" >&2; }
    done
    stop
    exit 1
}

start() {
    local bin
    for bin in munged munge unmunge slurmctld slurmd sinfo srun scontrol squeue scancel; do
        command -v "$bin" >/dev/null || die "'$bin' not found: run scripts/setup.sh --slurm --no-build"
    done
    stop
    # Wipe the old state, so drain reasons and old jobs do not survive a restart;
    # only a directory this script made (or an empty one) is wiped.
    if [ -d "$DIR" ] && [ -n "$(ls -A "$DIR")" ] && [ ! -e "$DIR/$MARK" ]; then
        die "$DIR exists and was not made by cluster.sh; set VESPER_SLURM_DIR elsewhere"
    fi
    rm -rf "$DIR"
    mkdir -p "$DIR/state" "$DIR/spool" "$DIR/tmp"
    chmod 0755 "$DIR"
    touch "$DIR/$MARK"
    write_conf
    export SLURM_CONF=$CONF

    local t0=$SECONDS
    start_munged || fail "munged did not come up"
    slurmctld -c -f "$CONF" || fail "slurmctld did not start"
    slurmd -f "$CONF" -N "$NODE" || fail "slurmd did not start"

    # Wait (bounded) for the node to register idle; resume it if it comes up drained.
    local state="" ok=0
    for _ in $(seq 60); do
        state=$(timeout 5 sinfo -h -N -n "$NODE" -o %T 2>/dev/null || true)
        case "$state" in
            idle | mixed | allocated | completing) ok=1; break ;;
            drain* | down) timeout 5 scontrol update nodename="$NODE" state=resume 2>/dev/null || true ;;
        esac
        sleep 0.5
    done
    [ "$ok" = 1 ] || fail "node $NODE not idle after 30 s (state '${state:-none}')"
    # A real job step through the MPI plugin (MpiDefault=pmix).
    timeout 60 srun -n 2 --mpi=pmix true >/dev/null 2>&1 ||
        fail "a trivial 'srun -n 2 --mpi=pmix true' failed"
    say "up in $((SECONDS - t0)) s: node $NODE, $CPUS CPUs, partition debug, state in $DIR"
    cat "$DIR/env"
}

status() {
    local entry pid rc=0
    for entry in "${PIDS[@]}"; do
        if pid=$(live_pid "${entry%%:*}" "${entry#*:}"); then
            echo "${entry%%:*}: running (pid $pid)"
        else
            echo "${entry%%:*}: stopped"
            rc=3
        fi
    done
    if [ "$rc" = 0 ]; then
        SLURM_CONF=$CONF timeout 10 sinfo -N -o '%N %P %T %c' || rc=3
        echo "clients: . $DIR/env"
    fi
    return "$rc"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
