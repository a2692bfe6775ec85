#!/usr/bin/env python3
"""Runs vesper's benchmarks side by side with their peers and prints one result
line per benchmark (see benches/README.md). Normally started by `scripts/bench`.

    python3 benches/run.py [--list] [NAME...]
"""

import json
import math
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PY = sys.executable
VESPER = os.environ.get("VESPER_BIN") or os.path.join(ROOT, "target", "release", "vesper")
MPIRUN = os.environ.get("BENCH_MPIRUN", "mpirun")
CACHE = os.environ.get("BENCH_CACHE") or os.path.join(tempfile.gettempdir(), "vesper-bench-cache")
RESULTS = os.environ.get("BENCH_RESULTS") or os.path.join(ROOT, "bench-results")


def env_int(name, default):
    value = os.environ.get(name)
    return int(value) if value else default


def env_float(name, default):
    value = os.environ.get(name)
    return float(value) if value else default


class BenchError(Exception):
    pass


# ------------------------------------------------------------------ running things

def run(cmd, limit, what=None, env=None):
    """Runs `cmd` under a hard `timeout`; returns (stdout, wall seconds)."""
    what = what or os.path.basename(cmd[0])
    full = ["timeout", "-k", "5", str(int(limit))] + [str(c) for c in cmd]
    environment = dict(os.environ)
    environment.update(env or {})
    start = time.perf_counter()
    proc = subprocess.run(full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=environment, cwd=WORK, stdin=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    if proc.returncode in (124, 137):
        raise BenchError(f"{what} timed out after {int(limit)} s")
    if proc.returncode != 0:
        tail = " / ".join((proc.stderr.strip() or proc.stdout.strip()).splitlines()[-4:])
        raise BenchError(f"{what} exited {proc.returncode}: {tail}")
    return proc.stdout, wall


def reported(stdout, what):
    """Merges the `@@bench {json}` lines a script printed."""
    data = {}
    for line in stdout.splitlines():
        if line.startswith("@@bench "):
            data.update(json.loads(line[len("@@bench "):]))
    if not data:
        raise BenchError(f"{what} reported no result")
    return data


def vesper(ranks, script, *args, limit=120, flags=()):
    what = f"mpirun -n {ranks} vesper {script}"
    out, _ = run([MPIRUN, "-n", ranks, VESPER, "--quiet", *flags, os.path.join(HERE, script), *args], limit, what)
    return reported(out, what)


def python(script, *args, limit=120):
    what = f"python3 {script} {args[0] if args else ''}".strip()
    out, _ = run([PY, os.path.join(HERE, script), *args], limit, what)
    return reported(out, what)


def mpi4py_futures(ranks, command, *args, limit=120):
    what = f"mpirun -n {ranks} python3 -m mpi4py.futures peer_mpi4py.py {command}"
    out, _ = run([MPIRUN, "-n", ranks, PY, "-m", "mpi4py.futures", os.path.join(HERE, "peer_mpi4py.py"),
                  command, *args], limit, what)
    return reported(out, what)


def mpi4py_plain(ranks, command, *args, limit=120):
    what = f"mpirun -n {ranks} python3 peer_mpi4py.py {command}"
    out, _ = run([MPIRUN, "-n", ranks, PY, os.path.join(HERE, "peer_mpi4py.py"), command, *args], limit, what)
    return reported(out, what)


def attempt(label, fn, notes):
    """Runs a peer measurement; a failing peer is noted, not fatal."""
    try:
        return fn()
    except (BenchError, OSError, ValueError, KeyError) as error:
        notes.append(f"{label} failed: {error}")
        return None


# ------------------------------------------------------------------ formatting

def num(x):
    """Three significant digits, thousands separated: 23,456 -> 23,500; 0.01234 -> 0.0123."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if x == 0:
        return "0"
    digits = 2 - int(math.floor(math.log10(abs(x))))
    rounded = round(x, digits)
    if rounded and abs(rounded) >= 10 ** (3 - digits):  # 0.9999 rounded up to 1.000
        digits -= 1
        rounded = round(x, digits)
    if digits <= 0:
        return f"{int(rounded):,}"
    return f"{rounded:,.{digits}f}"


def ratio(mine, theirs):
    """`(xR)`: vesper's number divided by the peer's, in the line's unit."""
    if not mine or not theirs:
        return ""
    return f" (x{num(mine / theirs)})"


def verdict(ok):
    return "MET" if ok else "MISSED"


def median(values):
    return statistics.median(values)


# ------------------------------------------------------------------ test data

def text_file(megabytes):
    """A deterministic English-like text of `megabytes` MB (cached): Zipf-distributed
    words from a fixed vocabulary, 12 words a line."""
    path = os.path.join(CACHE, f"words-v1-{megabytes}MB.txt")
    if os.path.exists(path) and os.path.getsize(path) >= megabytes * 10**6:
        return path
    os.makedirs(CACHE, exist_ok=True)
    rng = random.Random(20240601)
    letters = "etaoinshrdlcumwfgypbvkjxqz"
    vocabulary = sorted({"".join(rng.choices(letters, weights=range(26, 0, -1), k=rng.randint(2, 10)))
                         for _ in range(60_000)})
    rng.shuffle(vocabulary)
    weights = [1.0 / (rank + 1) for rank in range(len(vocabulary))]
    target = megabytes * 10**6
    written = 0
    partial = path + ".partial"
    with open(partial, "w", encoding="utf-8") as out:
        while written < target:
            words = rng.choices(vocabulary, weights, k=120_000)
            block = "\n".join(" ".join(words[i:i + 12]) for i in range(0, len(words), 12)) + "\n"
            out.write(block)
            written += len(block)
    os.replace(partial, path)
    return path


def binary_file(mebibytes):
    """A file of `mebibytes` MiB of pseudo-random bytes (cached)."""
    path = os.path.join(CACHE, f"random-v1-{mebibytes}MiB.bin")
    if os.path.exists(path) and os.path.getsize(path) == mebibytes << 20:
        return path
    os.makedirs(CACHE, exist_ok=True)
    piece = random.Random(7).randbytes(1 << 20)
    partial = path + ".partial"
    with open(partial, "wb") as out:
        for i in range(mebibytes):
            out.write(piece[i % 4096:] + piece[:i % 4096])
    os.replace(partial, path)
    return path


# ------------------------------------------------------------------ benchmarks

def bench_startup():
    reps = env_int("BENCH_STARTUP_REPS", 5)
    mine, theirs = [], []
    empty = os.path.join(HERE, "empty.py")
    for i in range(reps + 1):  # the first round only warms the page cache
        _, wall = run([MPIRUN, "-n", 4, VESPER, "--quiet", empty], 60, "mpirun -n 4 vesper empty.py")
        _, wall_py = run([MPIRUN, "-n", 4, PY, "-c", "pass"], 60, "mpirun -n 4 python3 -c pass")
        if i:
            mine.append(wall)
            theirs.append(wall_py)
    notes = [f"mpirun -n 4, median of {reps}; vesper runs: {', '.join(num(x) for x in mine)} s"]
    v, p = median(mine), median(theirs)
    parts = [f"startup: vesper {num(v)} s", f"mpirun python3 -c pass {num(p)} s{ratio(v, p)}"]
    # Context: what MPI_Init alone costs a Python program under the same mpirun.
    walls = attempt("mpi4py", lambda: [run([MPIRUN, "-n", 4, PY, "-c", "from mpi4py import MPI"], 60,
                                            "mpirun -n 4 python3 -c 'from mpi4py import MPI'")[1]
                                        for _ in range(reps)], notes)
    if walls:
        parts.append(f"mpirun python3 -c 'from mpi4py import MPI' {num(median(walls))} s{ratio(v, median(walls))}")
    parts.append(f"target ratio <= 1.5 (vs python3 -c pass): {verdict(v / p <= 1.5)}")
    return " | ".join(parts), notes


def bench_srun_startup():
    """Start-up under srun -n 4 on the one-node Slurm (started here if none is up)."""
    reps = env_int("BENCH_STARTUP_REPS", 5)
    started = False
    env = dict(os.environ)
    if "SLURM_CONF" not in env:
        run([os.path.join(ROOT, "slurm", "cluster.sh"), "start"], 120, "slurm/cluster.sh start")
        started = True
        env["SLURM_CONF"] = os.path.join(os.environ.get("VESPER_SLURM_DIR", "/tmp/vesper-slurm"), "slurm.conf")
    try:
        empty = os.path.join(HERE, "empty.py")
        srun = ["srun", "--mpi=pmix", "-n", 4]
        mine, theirs = [], []
        for i in range(reps + 1):  # the first round warms the page cache
            _, wall = run([*srun, VESPER, "--quiet", empty], 60, "srun -n 4 vesper empty.py", env=env)
            _, wall_py = run([*srun, PY, "-c", "pass"], 60, "srun -n 4 python3 -c pass", env=env)
            if i:
                mine.append(wall)
                theirs.append(wall_py)
    finally:
        if started:
            run([os.path.join(ROOT, "slurm", "cluster.sh"), "stop"], 120, "slurm/cluster.sh stop")
    v, p = median(mine), median(theirs)
    line = (f"srun-startup: vesper {num(v)} s | srun python3 -c pass {num(p)} s{ratio(v, p)} "
            f"| target ratio <= 1.5: {verdict(v / p <= 1.5)}")
    return line, [f"srun --mpi=pmix -n 4 on a one-node Slurm, median of {reps}"]


def bench_idle():
    seconds = env_float("BENCH_IDLE_SECONDS", 5.0)
    notes = []
    data = vesper(4, "idle.py", seconds, limit=60 + seconds)
    per_rank = {int(r): 100 * cpu / data["window_s"] for r, cpu in data["cpu_s"].items()}
    worst = max(per_rank.values())
    peer = attempt("mpi4py.futures", lambda: mpi4py_futures(4, "idle", seconds, limit=60 + seconds), notes)
    parts = [f"idle: vesper max {num(worst)}% of a core per rank"]
    if peer:
        peer_pct = [100 * cpu / peer["window_s"] for cpu in peer["cpu_s"].values()]
        parts.append(f"mpi4py.futures (idle pool) max {num(max(peer_pct))}%{ratio(worst, max(peer_pct))}")
        notes.append("mpi4py.futures per rank: " + ", ".join(f"{num(p)}%" for p in peer_pct))
    parts.append(f"target <= 2%: {verdict(worst <= 2.0)}")
    notes.insert(0, f"4 ranks on {os.cpu_count()} cores, script sleeping {num(seconds)} s; vesper per rank: "
                 + ", ".join(f"rank {r} {num(p)}%" for r, p in sorted(per_rank.items()))
                 + f" (CPU clock resolution {num(100 / os.sysconf('SC_CLK_TCK') / seconds)}%)")
    return " | ".join(parts), notes


def bench_roundtrip():
    count = env_int("BENCH_ROUNDTRIP_COUNT", 10_000)
    budget = env_float("BENCH_ROUNDTRIP_MAX_SECONDS", 20.0)
    notes = []
    data = vesper(2, "roundtrip.py", count, budget, limit=90 + budget)
    ping, raw = data["ping"], data["raw"]
    peer = attempt("mpi4py", lambda: mpi4py_plain(2, "pingpong", count), notes)
    parts = [f"roundtrip: vesper ping_rank median {num(ping['p50_us'])} us, p99 {num(ping['p99_us'])} us",
             f"raw MPI ping-pong (same run) median {num(raw['p50_us'])} us{ratio(ping['p50_us'], raw['p50_us'])}"]
    if peer:
        parts.append(f"mpi4py comm.send/recv median {num(peer['p50_us'])} us{ratio(ping['p50_us'], peer['p50_us'])}")
    parts.append(f"target median <= 20 us: {verdict(ping['p50_us'] <= 20)}")
    if ping["count"] < count:
        notes.insert(0, f"stopped after {ping['count']:,} of {count:,} calls ({num(budget)} s budget)")
    notes.append(f"mpirun -n 2; vesper mean {num(ping['mean_us'])} us, {num(100 * ping['over_1ms'])}% of calls "
                 f"over 1 ms; raw p99 {num(raw['p99_us'])} us")
    return " | ".join(parts), notes


def bench_jobs_throughput():
    count = env_int("BENCH_JOBS", 10_000)
    reps = env_int("BENCH_JOBS_REPS", 3)
    dask_count = env_int("BENCH_DASK_JOBS", 2_000)
    notes = []
    data = vesper(5, "jobs.py", count, reps, limit=60 + count * reps / 1000)
    totals = [r["total_s"] for r in data["runs"]]
    rate = count / median(totals)
    submit = median([r["submit_s"] for r in data["runs"]])
    parts = [f"jobs-throughput: vesper {num(rate)} jobs/s"]
    mp = attempt("multiprocessing", lambda: python("peer_mp.py", "jobs", count, 4, reps), notes)
    if mp:
        mp_rate = count / median(mp["times_s"])
        parts.append(f"multiprocessing {num(mp_rate)}{ratio(rate, mp_rate)}")
    fut = attempt("mpi4py.futures", lambda: mpi4py_futures(5, "jobs", count, reps, limit=60 + count * reps / 500), notes)
    if fut:
        fut_rate = count / median(fut["times_s"])
        parts.append(f"mpi4py.futures {num(fut_rate)}{ratio(rate, fut_rate)}")
    if dask_count:
        dk = attempt("dask", lambda: python("peer_dask.py", "jobs", dask_count, 4, limit=60 + dask_count / 50), notes)
        if dk:
            dk_rate = dask_count / dk["total_s"]
            parts.append(f"dask.distributed {num(dk_rate)}{ratio(rate, dk_rate)}")
            notes.append(f"dask measured over {dask_count:,} jobs (BENCH_DASK_JOBS)")
    parts.append(f"target >= 50,000: {verdict(rate >= 50_000)}")
    notes.insert(0, f"{count:,} no-op jobs, 4 workers, median of {reps}; vesper submit loop {num(submit)} s "
                 f"of {num(median(totals))} s ({num(submit / count * 1e6)} us per submit)")
    return " | ".join(parts), notes


def bench_trace_overhead():
    """Throughput of the same no-op jobs with --trace against without, same invocation."""
    count = env_int("BENCH_JOBS", 10_000)
    reps = env_int("BENCH_JOBS_REPS", 3)
    limit = 60 + count * reps / 1000
    rates = {}
    with tempfile.TemporaryDirectory() as scratch:
        trace = os.path.join(scratch, "run.json")
        # Alternate plain and traced runs so drift in machine load hits both alike.
        for label, flags in [("plain", ()), ("traced", ("--trace", trace))] * 2:
            data = vesper(5, "jobs.py", count, reps, limit=limit, flags=flags)
            rates.setdefault(label, []).extend(count / r["total_s"] for r in data["runs"])
    plain, traced = median(rates["plain"]), median(rates["traced"])
    slower = 1 - traced / plain
    line = (f"trace-overhead: vesper --trace {num(traced)} jobs/s | without {num(plain)} jobs/s ({slower * 100:+.1f}% slower) "
            f"| target <= 10% slower: {verdict(slower <= 0.10)}")
    return line, [f"{count:,} no-op jobs, 4 workers, median of {2 * reps} runs each, alternating"]


def bench_chain_latency():
    links = env_int("BENCH_CHAIN_LINKS", 1000)
    notes = []
    data = vesper(5, "chain.py", links, limit=60 + links * 0.1)
    per = data["total_s"] / links * 1e6
    parts = [f"chain-latency: vesper {num(per)} us/link"]
    fut = attempt("mpi4py.futures", lambda: mpi4py_futures(5, "chain", links, limit=60 + links * 0.05), notes)
    if fut:
        fut_per = fut["total_s"] / links * 1e6
        parts.append(f"mpi4py.futures submit+result {num(fut_per)} us{ratio(per, fut_per)}")
    dk = attempt("dask", lambda: python("peer_dask.py", "chain", links, 4, limit=60 + links * 0.05), notes)
    if dk:
        dk_per = dk["total_s"] / links * 1e6
        parts.append(f"dask.distributed future chain {num(dk_per)} us{ratio(per, dk_per)}")
    parts.append(f"target <= 100 us: {verdict(per <= 100)}")
    notes.insert(0, f"{links:,} links, 4 workers; vesper links read/write one-line DFS files, "
                 "the peers pass the value directly")
    return " | ".join(parts), notes


def bench_mapreduce():
    n = env_int("BENCH_MAPREDUCE_N", 10**6)
    reps = env_int("BENCH_MAPREDUCE_REPS", 5)
    notes = []
    two = median(vesper(3, "mapreduce.py", n, reps)["times_s"])
    four = median(vesper(5, "mapreduce.py", n, reps)["times_s"])
    parts = [f"mapreduce: vesper 2 workers {num(two)} s, 4 workers {num(four)} s"]
    best_v = min(two, four)
    peers = {}
    mp = attempt("multiprocessing", lambda: python("peer_mp.py", "mapreduce", n, 4, reps), notes)
    sequential = None
    if mp:
        sequential = median(mp["sequential_s"])
        peers["multiprocessing.Pool(4).map"] = median(mp["pool_s"])
        parts.append(f"sequential {num(sequential)} s{ratio(two, sequential)}")
    fut = attempt("mpi4py.futures", lambda: mpi4py_futures(5, "mapreduce", n, reps), notes)
    if fut:
        peers["mpi4py.futures map (4 workers)"] = median(fut["times_s"])
    for name, seconds in peers.items():
        parts.append(f"{name} {num(seconds)} s{ratio(best_v, seconds)}")
    best_peer = min(peers.values()) if peers else None
    ok_seq = sequential is not None and two < sequential
    ok_peer = best_peer is not None and best_peer / best_v >= 3
    parts.append(f"target faster than sequential with 2 workers: {verdict(ok_seq)}, "
                 f">= 3x best peer ({num(best_peer / best_v) if best_peer else 'n/a'}x): {verdict(ok_peer)}")
    notes.insert(0, f"sum of squares over range({n:,}), medians of {reps}; peers chunked like vesper "
                 "(n / (workers*4) per chunk); ratios are times (below 1 = vesper faster)")
    return " | ".join(parts), notes


def bench_wordcount():
    megabytes = env_int("BENCH_WORDCOUNT_MB", 100)
    reps = env_int("BENCH_WORDCOUNT_REPS", 3)
    workers = env_int("BENCH_WORDCOUNT_WORKERS", 4)
    notes = []
    path = text_file(megabytes)
    data = vesper(workers + 1, "wordcount.py", path, reps, limit=120 + megabytes * reps)
    mine = median(data["times_s"])
    parts = [f"wordcount: vesper {num(mine)} s ({num(megabytes / mine)} MB/s)"]
    mp = attempt("multiprocessing", lambda: python("peer_mp.py", "wordcount", path, workers, reps,
                                                   limit=120 + megabytes * reps), notes)
    speedup = None
    if mp:
        theirs = median(mp["times_s"])
        speedup = theirs / mine
        parts.append(f"multiprocessing.Pool({workers}) + Counter {num(theirs)} s{ratio(mine, theirs)}")
        if (mp["distinct"], mp["words"]) != (data["distinct"], data["words"]):
            notes.append(f"COUNTS DIFFER: vesper {data['distinct']} distinct / {data['words']} words, "
                         f"multiprocessing {mp['distinct']} / {mp['words']}")
    parts.append(f"target >= 1.5x faster: {verdict(speedup is not None and speedup >= 1.5)}")
    notes.insert(0, f"{megabytes} MB text ({data['words']:,} words, {data['distinct']:,} distinct) in "
                 f"{data['pieces']} pieces of ~1 MiB, {workers} workers, median of {reps}; "
                 "ratio is a time (below 1 = vesper faster)")
    return " | ".join(parts), notes


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def bench_userview():
    ops = env_int("BENCH_UV_OPS", 20_000)
    budget = env_float("BENCH_UV_MAX_SECONDS", 8.0)
    notes = []
    data = vesper(2, "userview.py", ops, budget, limit=120 + 4 * budget)
    for where in ("script", "job"):
        for op in ("set", "get"):
            if data[where][op]["count"] < ops:
                notes.append(f"{op} from {where} stopped after {data[where][op]['count']:,} ops ({num(budget)} s budget)")
    redis = None
    server = shutil.which("redis-server")
    if server is None:
        notes.append("redis-server not installed: no redis peer")
    else:
        port = free_port()
        log = open(os.path.join(WORK, "redis.log"), "w")
        proc = subprocess.Popen(["timeout", "-k", "5", "300", server, "--port", str(port), "--bind", "127.0.0.1",
                                 "--save", "", "--appendonly", "no", "--dir", WORK],
                                stdout=log, stderr=subprocess.STDOUT, cwd=WORK)
        try:
            redis = attempt("redis", lambda: python("peer_redis.py", port, ops), notes)
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()
    parts = ["userview:"]
    ok = True
    for op in ("get", "set"):
        for where in ("script", "job"):
            m = data[where][op]
            text = f"{op} from {where} p50 {num(m['p50_us'])} us p99 {num(m['p99_us'])} us {num(m['ops_per_s'])} ops/s"
            ok &= m["p50_us"] <= 20
            if redis:
                r = redis[op]
                text += f" (x{num(m['ops_per_s'] / r['ops_per_s'])} redis)"
                ok &= m["ops_per_s"] >= 2 * r["ops_per_s"]
            parts.append(text)
    if redis:
        parts.insert(1, "redis " + ", ".join(f"{op} p50 {num(redis[op]['p50_us'])} us {num(redis[op]['ops_per_s'])} ops/s"
                                             for op in ("get", "set")))
    else:
        ok = False
    line = parts[0] + " " + " | ".join(parts[1:]) + f" | target p50 <= 20 us and >= 2x redis ops/s: {verdict(ok)}"
    notes.insert(0, f"up to {ops:,} sequential ops each (1,000 distinct keys, int values), one client; mpirun -n 2; "
                 "redis-server on loopback with the redis Python client")
    return line, notes


def bench_dfs():
    big_mib = env_int("BENCH_DFS_MIB", 1024)
    remote_mib = env_int("BENCH_DFS_REMOTE_MIB", 256)
    small = env_int("BENCH_DFS_SMALL_FILES", 10_000)
    notes = []
    source = binary_file(big_mib)
    copy = os.path.join(WORK, "cp-target.bin")
    cps = []
    for _ in range(3):
        _, wall = run(["cp", source, copy], 120, "cp")
        os.unlink(copy)
        cps.append(wall)
    cp = median(cps)
    data = vesper(2, "dfs.py", source, os.path.join(WORK, "dfs-get.bin"), remote_mib, small,
                  limit=120 + big_mib * 0.2 + small * 0.05)
    gib = data["put_bytes"] / 2**30
    remote = data["remote_bytes"] / 2**30 / median(data["remote_read_s"])
    bandwidth = attempt("mpi4py", lambda: mpi4py_plain(2, "bandwidth", remote_mib, data["block_size"] >> 20), notes)
    raw = bandwidth["bytes"] / 2**30 / median(bandwidth["times_s"]) if bandwidth else None
    local_rate = local_small_files(small)
    small_rate = data["small_files"] / data["small_s"]
    put_rate, get_rate, cp_rate = gib / data["put_s"], gib / data["get_s"], gib / cp
    block_ms = median(data["remote_read_s"]) / data["remote_blocks"] * 1e3
    parts = [f"dfs: put {num(put_rate)} GiB/s{ratio(put_rate, cp_rate)}, get {num(get_rate)} GiB/s"
             f"{ratio(get_rate, cp_rate)} | cp {num(cp_rate)} GiB/s",
             f"remote block read {num(remote)} GiB/s"
             + (f" | raw MPI {num(raw)} GiB/s (mpi4py, separate mpirun -n 2 right after){ratio(remote, raw)}"
                if raw else ""),
             f"name node {num(small_rate)} files/s | local fs open/write/close {num(local_rate)} files/s"
             f"{ratio(small_rate, local_rate)}",
             f"target remote read >= 50% of raw MPI: {verdict(raw is not None and remote >= 0.5 * raw)}"]
    notes.append(f"remote read: {num(block_ms)} ms per {data['block_size'] >> 20} MiB block; cp runs "
                 f"{', '.join(num(x) for x in cps)} s")
    notes.insert(0, f"{big_mib} MiB put/get from the script on rank 0 (blocks on rank 0); remote: {remote_mib} MiB "
                 f"written by a job on rank {data['writer_rank']} ({data['remote_blocks']} blocks of "
                 f"{data['block_size'] >> 20} MiB), read on rank 0, median of 3; raw MPI: {data['block_size'] >> 20} MiB "
                 f"messages; {small:,} small files created from the script")
    return " | ".join(parts), notes


def local_small_files(count):
    directory = os.path.join(WORK, "small-files")
    os.makedirs(directory)
    start = time.perf_counter()
    for i in range(count):
        with open(os.path.join(directory, f"{i:06d}"), "wb") as handle:
            handle.write(b"x\n")
    elapsed = time.perf_counter() - start
    shutil.rmtree(directory)
    return count / elapsed


def bench_scale():
    jobs = env_int("BENCH_SCALE_JOBS", 1_000_000)
    peer_jobs = env_int("BENCH_SCALE_PEER_JOBS", jobs // 5)
    notes = []
    data = vesper(3, "scale.py", jobs, limit=120 + jobs / 1000)
    per_job = (data["rss_after"] - data["rss_before"]) / jobs
    parts = [f"scale: vesper {jobs:,} queued no-op jobs in {num(data['total_s'])} s "
             f"(submit {num(data['submit_s'])} s, run {num(data['run_s'])} s), rank-0 RSS +{num(per_job)} B/waiting job"]
    if peer_jobs:
        mp = attempt("multiprocessing", lambda: python("peer_mp.py", "scale", peer_jobs, 2, limit=120 + peer_jobs / 500), notes)
        if mp:
            mp_per = (mp["rss_after"] - mp["rss_before"]) / peer_jobs
            parts.append(f"multiprocessing.Pool(2).apply_async {peer_jobs:,} jobs in {num(mp['total_s'])} s "
                         f"({num(mp['jobs'] / mp['total_s'])} jobs/s vs vesper {num(jobs / data['total_s'])}), "
                         f"RSS +{num(mp_per)} B/pending job{ratio(per_job, mp_per)}")
    parts.append(f"target <= 500 B/job (includes the Python side): {verdict(per_job <= 500)}")
    notes.insert(0, f"mpirun -n 3; all jobs wait on one DFS path, released after the RSS reading; "
                 f"rank-0 VmRSS {num(data['rss_before'] / 2**20)} -> {num(data['rss_after'] / 2**20)} MiB, "
                 f"{num(data['rss_end'] / 2**20)} MiB at the end")
    return " | ".join(parts), notes


BENCHES = {
    "startup": bench_startup,
    "srun-startup": bench_srun_startup,
    "idle": bench_idle,
    "roundtrip": bench_roundtrip,
    "jobs-throughput": bench_jobs_throughput,
    "trace-overhead": bench_trace_overhead,
    "chain-latency": bench_chain_latency,
    "mapreduce": bench_mapreduce,
    "wordcount": bench_wordcount,
    "userview": bench_userview,
    "dfs": bench_dfs,
    "scale": bench_scale,
}


def header():
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    load = os.getloadavg()
    return [f"# vesper benchmarks {time.strftime('%Y-%m-%d %H:%M:%S %z')}",
            f"# commit {commit or 'unknown'}{' (with uncommitted changes)' if dirty else ''}; "
            f"{platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"load average {load[0]:.2f} at start",
            "# (xR) = vesper's number / the peer's number, in the unit shown"]


def main(argv):
    global WORK
    if "--list" in argv:
        print("\n".join(BENCHES))
        return 0
    names = [a for a in argv if not a.startswith("-")] or list(BENCHES)
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        print(f"bench: unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHES)}", file=sys.stderr)
        return 2
    if not os.access(VESPER, os.X_OK):
        print(f"bench: no vesper binary at {VESPER} (build it, or set VESPER_BIN)", file=sys.stderr)
        return 2
    os.makedirs(RESULTS, exist_ok=True)
    WORK = tempfile.mkdtemp(prefix="vesper-bench-")
    lines = header()
    for line in lines:
        print(line, flush=True)
    failed = 0
    suite_start = time.perf_counter()
    try:
        for name in names:
            print(f"bench: running {name} ...", file=sys.stderr, flush=True)
            start = time.perf_counter()
            try:
                line, notes = BENCHES[name]()
            except (BenchError, OSError, KeyError, ValueError) as error:
                line, notes = f"{name}: ERROR {error}", []
                failed += 1
            notes.append(f"took {num(time.perf_counter() - start)} s")
            block = [line] + [f"    {note}" for note in notes]
            for text in block:
                print(text, flush=True)
            lines += block
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
        lines.append(f"# suite took {num(time.perf_counter() - suite_start)} s")
        with open(os.path.join(RESULTS, "latest.txt"), "w") as out:
            out.write("\n".join(lines) + "\n")
    print(f"# suite took {num(time.perf_counter() - suite_start)} s; written to bench-results/latest.txt")
    return 1 if failed else 0


WORK = None

if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(main(sys.argv[1:]))
