"""userview: set and get latency/throughput from the script and from inside a job.

    mpirun -n 2 vesper benches/userview.py [OPS]
"""
import time

import vesper
from _util import arg, emit, latency_stats


@vesper.as_job
def inside_job(ops):
    import time
    view = vesper.UserView("bench-job")
    clock = time.perf_counter
    out = {}
    for op in ("set", "get"):
        samples = []
        begin = clock()
        for i in range(ops):
            key = f"k{i % 1000}"
            start = clock()
            if op == "set":
                view[key] = i
            else:
                view[key]
            samples.append(clock() - start)
        out[op] = (clock() - begin, samples)
    return out


def from_script(ops):
    view = vesper.UserView("bench-script")
    clock = time.perf_counter
    out = {}
    for op in ("set", "get"):
        samples = []
        begin = clock()
        for i in range(ops):
            key = f"k{i % 1000}"
            start = clock()
            if op == "set":
                view[key] = i
            else:
                view[key]
            samples.append(clock() - start)
        out[op] = (clock() - begin, samples)
    return out


def summarise(measured, ops):
    return {op: dict(latency_stats(samples), ops_per_s=ops / total) for op, (total, samples) in measured.items()}


ops = arg(1, 20_000)
vesper.wait_for_workers(timeout=60)
from_script(1000)  # warm-up
script = summarise(from_script(ops), ops)
inside_job(1000).wait()
job = summarise(inside_job(ops).wait(), ops)
emit(ops=ops, script=script, job=job)
