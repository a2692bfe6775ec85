"""roundtrip: script -> rank-0 engine -> worker engine -> back, vs raw MPI ping-pong.
Stops early after MAX_SECONDS of pinging (slow round trips would take too long).

    mpirun -n 2 vesper benches/roundtrip.py [COUNT] [MAX_SECONDS]
"""
import time

import _vesper
import vesper
from _util import arg, emit, latency_stats, percentile

count, budget = arg(1, 10_000), arg(2, 20.0)
vesper.wait_for_workers(timeout=60)
ping = _vesper.ping_rank
clock = time.perf_counter
for _ in range(100):  # warm-up
    ping(1)
samples = []
deadline = clock() + budget
for i in range(count):
    start = clock()
    ping(1)
    samples.append(clock() - start)
    if i % 100 == 0 and start > deadline:
        break
raw = _vesper.raw_ping_pong(1, count)
emit(requested=count, ping=latency_stats(samples), raw={"p50_us": percentile(raw, 0.5), "p99_us": percentile(raw, 0.99)})
