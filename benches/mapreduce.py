"""mapreduce: vesper.mapreduce(square, range(N), "sum"), median of REPS.

    mpirun -n W+1 vesper benches/mapreduce.py [N] [REPS]
"""
import time

import vesper
from _util import arg, emit


def square(x):
    return x * x


n, reps = arg(1, 10**6), arg(2, 5)
vesper.wait_for_workers(timeout=60)
expected = sum(x * x for x in range(1000))
assert vesper.mapreduce(square, range(1000), "sum") == expected  # warm-up
times = []
for _ in range(reps):
    start = time.perf_counter()
    total = vesper.mapreduce(square, range(n), "sum")
    times.append(time.perf_counter() - start)
assert total == (n - 1) * n * (2 * n - 1) // 6, total
emit(times_s=times, workers=vesper.size() - 1)
