"""dfs: put/get of a local file, remote block reads, name-node commits.

    mpirun -n 2 vesper benches/dfs.py LOCAL_FILE GET_TARGET REMOTE_MIB SMALL_FILES
"""
import os
import time

import _vesper
import vesper
from _util import arg, emit

local, target = arg(1, ""), arg(2, "")
remote_mib, small = arg(3, 256), arg(4, 10_000)
clock = time.perf_counter
vesper.wait_for_workers(timeout=60)
result = {"block_size": _vesper.block_size()}

# put then get of a local file (the script is on rank 0: blocks go to rank 0's store).
start = clock()
vesper.dfs.put(local, "big/file")
result["put_s"] = clock() - start
start = clock()
vesper.dfs.get("big/file", target)
result["get_s"] = clock() - start
result["put_bytes"] = os.path.getsize(local)
assert os.path.getsize(target) == result["put_bytes"]
os.unlink(target)
vesper.dfs.rm("big/file")


# Remote reads: a job on the only worker (rank 1) writes the file, so its blocks
# live on rank 1; the script on rank 0 reads them over MPI.
@vesper.as_job
def writer(mib, outputs):
    piece = bytes(range(256)) * (1 << 12)  # 1 MiB
    with vesper.open(outputs[0], "wb") as out:
        for _ in range(mib):
            out.write(piece)
    return vesper.rank()


result["writer_rank"] = writer(remote_mib, outputs=["remote/file"]).wait()
stat = vesper.dfs.stat("remote/file")
result["remote_blocks"] = stat.blocks
reads = []
for _ in range(3):
    with vesper.open("remote/file", "rb") as handle:
        start = clock()
        got = 0
        while True:
            chunk = handle.read(1 << 24)
            if not chunk:
                break
            got += len(chunk)
        reads.append(clock() - start)
    assert got == remote_mib << 20, got
result["remote_read_s"] = reads
result["remote_bytes"] = remote_mib << 20

# Name node: create and commit small files from the script.
start = clock()
for i in range(small):
    vesper.dfs.write_bytes(f"small/{i:06d}", b"x\n")
result["small_s"] = clock() - start
result["small_files"] = small
assert len(vesper.dfs.ls("small")) == small
emit(**result)
