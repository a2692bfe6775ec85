"""add_workers: new workers register, run jobs and read blocks held elsewhere."""
import time
import vesper

before = vesper.wait_for_workers(timeout=60)
assert vesper.add_workers(2) == 2
assert vesper.size() == before + 3, vesper.size()
assert vesper.wait_for_workers(timeout=60) == before + 2
print("workers", sorted(w.rank for w in vesper.workers()))

vesper.dfs.write_bytes("shared", b"from rank 0")

@vesper.as_job
def busy(inputs):
    time.sleep(0.3)
    return vesper.rank(), vesper.dfs.read_bytes(inputs[0])

results = [job.wait(timeout=60) for job in [busy(inputs=["shared"]) for _ in range(12)]]
ranks = {rank for rank, _ in results}
assert all(data == b"from rank 0" for _, data in results)
assert ranks & {before + 1, before + 2}, ranks
print("new workers ran jobs", sorted(ranks))
