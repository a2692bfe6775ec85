"""Helpers shared by the benchmark scripts (imported on rank 0 / by peer drivers only:
job functions never reference this module, so workers need not import it)."""

import json
import os
import statistics
import sys

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def emit(**data):
    """Reports results to the driver (benches/run.py) as one tagged JSON line."""
    print("@@bench " + json.dumps(data), flush=True)


def percentile(values, fraction):
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(fraction * (len(ordered) - 1)))))
    return ordered[index]


def latency_stats(samples_s):
    """p50/p99/mean in microseconds from a list of seconds."""
    us = [s * 1e6 for s in samples_s]
    return {"p50_us": percentile(us, 0.50), "p99_us": percentile(us, 0.99),
            "mean_us": statistics.fmean(us), "count": len(us),
            "over_1ms": sum(1 for u in us if u > 1000) / len(us)}


def cpu_seconds(pid):
    """utime + stime of every thread of a process, in seconds."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    # After "pid (comm)": field 3 is state; utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def vm_rss_bytes(pid="self"):
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/status")


def sibling_pids():
    """Processes with this process's parent (the ranks mpirun started on this node)."""
    parent = os.getppid()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            found.append(int(entry))
    return sorted(found)


def pieces_of(text, size=1 << 20):
    """Splits a text into pieces of about `size` characters at line ends (same for every peer)."""
    pieces, start = [], 0
    while start < len(text):
        end = text.find("\n", start + size)
        end = len(text) if end < 0 else end + 1
        pieces.append(text[start:end])
        start = end
    return pieces


def arg(index, default):
    return type(default)(sys.argv[index]) if len(sys.argv) > index else default
