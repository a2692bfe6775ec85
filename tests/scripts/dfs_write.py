"""Writes files for the integrity tests (run with a persistent root)."""
import sys
import vesper
mode = sys.argv[1]
if mode == "write":
    vesper.dfs.write_bytes("data/file.bin", bytes(range(256)) * 64)
    vesper.dfs.write_bytes("data/other.bin", b"other")
    print("replicas", vesper.dfs.stat("data/file.bin").replicas)

    # A job's output is replicated from its worker after the job succeeds.
    @vesper.as_job
    def produce(outputs):
        with vesper.open(outputs[0], "wb") as f:
            f.write(b"job data" * 1000)

    produce(outputs=["data/from-job.bin"]).wait(timeout=60)
    import time
    wanted = vesper.dfs.stat("data/file.bin").replicas  # the run's --replication
    deadline = time.time() + 30
    while vesper.dfs.stat("data/from-job.bin").replicas < wanted and time.time() < deadline:
        time.sleep(0.05)
    print("job replicas", vesper.dfs.stat("data/from-job.bin").replicas)
elif mode == "read":
    try:
        data = vesper.dfs.read_bytes("data/file.bin")
        print("read ok", data == bytes(range(256)) * 64)
    except OSError as error:
        print("read failed:", error)
elif mode == "crash":
    vesper.dfs.write_bytes("committed.bin", b"safe" * 1000)
    f = vesper.open("uncommitted.bin", "wb")
    f.write(b"x" * 100000)
    f.flush()
    import os, time
    open(os.environ["VESPER_TEST_READY_FILE"], "w").write("ready")
    time.sleep(120)
