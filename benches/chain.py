"""chain-latency: a chain of jobs, each reading its predecessor's one-line DFS file
and writing the next one.

    mpirun -n 5 vesper benches/chain.py [LINKS]
"""
import time

import vesper
from _util import arg, emit


@vesper.as_job
def link(inputs, outputs):
    with vesper.open(inputs[0]) as source:
        value = int(source.read())
    with vesper.open(outputs[0], "w") as target:
        target.write(f"{value + 1}\n")


links = arg(1, 1000)
vesper.wait_for_workers(timeout=60)
results = []
for rep, prefix in enumerate(("warm", "chain")):
    n = 20 if prefix == "warm" else links
    for i in range(n):
        link(inputs=[f"{prefix}/{i}"], outputs=[f"{prefix}/{i + 1}"])
    start = time.perf_counter()
    vesper.dfs.write_bytes(f"{prefix}/0", b"0\n")
    vesper.wait_all()
    elapsed = time.perf_counter() - start
    final = int(vesper.dfs.read_bytes(f"{prefix}/{n}"))
    assert final == n, (final, n)
emit(links=links, total_s=elapsed)
