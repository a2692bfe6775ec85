"""idle: CPU each rank burns while the script sleeps.

    mpirun -n 4 vesper benches/idle.py [SECONDS]
"""
import os
import time

import vesper
from _util import arg, cpu_seconds, emit

seconds = arg(1, 5.0)
vesper.wait_for_workers(timeout=60)
pids = {0: os.getpid()}
pids.update({w.rank: w.pid for w in vesper.workers()})
time.sleep(0.5)  # let the start-up traffic settle
before = {rank: cpu_seconds(pid) for rank, pid in pids.items()}
start = time.perf_counter()
time.sleep(seconds)
elapsed = time.perf_counter() - start
after = {rank: cpu_seconds(pid) for rank, pid in pids.items()}
emit(window_s=elapsed, cpu_s={str(r): after[r] - before[r] for r in sorted(pids)})
