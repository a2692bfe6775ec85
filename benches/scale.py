"""scale: N no-op jobs queued (waiting on one input path), then released.
Reports rank 0's RSS growth per waiting job and the total time.

    mpirun -n 3 vesper benches/scale.py [N]
"""
import gc
import time

import vesper
from _util import arg, emit, vm_rss_bytes


@vesper.as_job
def noop():
    pass


n = arg(1, 1_000_000)
vesper.wait_for_workers(timeout=60)
noop(inputs=["scale/warm"])  # first call: function shipping, code paths warmed
vesper.dfs.write_bytes("scale/warm", b"")
vesper.wait_all()
gc.collect()
rss_before = vm_rss_bytes()
start = time.perf_counter()
gate = ["scale/go"]
for _ in range(n):
    noop(inputs=gate)  # the Job object is dropped at once
submitted = time.perf_counter()
gc.collect()
rss_after = vm_rss_bytes()
vesper.dfs.write_bytes("scale/go", b"")
vesper.wait_all()
end = time.perf_counter()
emit(jobs=n, submit_s=submitted - start, run_s=end - submitted, total_s=end - start,
     rss_before=rss_before, rss_after=rss_after, rss_end=vm_rss_bytes())
