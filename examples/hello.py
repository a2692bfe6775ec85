"""Hello from every worker: what each rank reports about itself."""

import sys

import vesper

print(f"vesper {vesper.__version__}: rank {vesper.rank()} of {vesper.size()}, script args {sys.argv[1:]}")
count = vesper.wait_for_workers(timeout=60)
print(f"{count} workers registered")
for worker in vesper.workers():
    print(f"  worker {worker.rank} on {worker.host}: {worker.cores} cores, "
          f"{worker.memory / 2**30:.1f} GiB, {worker.gpus} GPUs, cpuset {worker.cpuset}")
