"""userview: set and get latency/throughput from the script and from inside a job.
Each loop stops early after MAX_SECONDS (slow operations would take too long).

    mpirun -n 2 vesper benches/userview.py [OPS] [MAX_SECONDS]
"""
import vesper
from _util import arg, emit, latency_stats


def measure(name, ops, budget):
    """{op: (seconds, [per-op seconds])}, one client doing `ops` sets then `ops` gets.
    Self-contained: it also runs inside a job on a worker."""
    import time
    view = vesper.UserView(name)
    clock = time.perf_counter
    out = {}
    keys = 1000
    for op in ("set", "get"):
        samples = []
        begin = clock()
        deadline = begin + budget
        for i in range(ops):
            key = f"k{i % keys}"
            start = clock()
            if op == "set":
                view[key] = i
            else:
                view[key]
            samples.append(clock() - start)
            if start > deadline:
                break
        out[op] = (clock() - begin, samples)
        keys = min(keys, len(samples))  # gets read only keys that were set
    return out


@vesper.as_job
def inside_job(name, ops, budget):
    return measure(name, ops, budget)


def summarise(measured):
    return {op: dict(latency_stats(samples), ops_per_s=len(samples) / total)
            for op, (total, samples) in measured.items()}


ops, budget = arg(1, 20_000), arg(2, 10.0)
vesper.wait_for_workers(timeout=60)
measure("warm-script", 200, budget)
script = summarise(measure("bench-script", ops, budget))
inside_job("warm-job", 200, budget).wait()
job = summarise(inside_job("bench-job", ops, budget).wait())
emit(ops=ops, script=script, job=job)
