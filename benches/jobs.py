"""jobs-throughput: N no-op jobs, first submit to wait_all returning.

    mpirun -n 5 vesper benches/jobs.py [N] [REPS]
"""
import time

import vesper
from _util import arg, emit


@vesper.as_job
def noop():
    pass


count, reps = arg(1, 10_000), arg(2, 3)
vesper.wait_for_workers(timeout=60)
noop()  # ships the function to the scheduler
vesper.wait_all()
runs = []
for _ in range(reps):
    start = time.perf_counter()
    for _ in range(count):
        noop()
    submitted = time.perf_counter()
    vesper.wait_all()
    end = time.perf_counter()
    runs.append({"total_s": end - start, "submit_s": submitted - start})
emit(count=count, runs=runs)
