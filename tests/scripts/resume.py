"""Phase 1 writes parts then hangs (killed with -9); phase 2 resumes and finishes."""
import os, sys, time
import vesper

phase = sys.argv[1]
runs = vesper.UserView("runs")

@vesper.as_job
def part(i, outputs):
    vesper.UserView("runs").incr("part-runs")
    with vesper.open(outputs[0], "w") as f:
        f.write(str(i))

@vesper.as_job
def merge(inputs, outputs):
    with vesper.open(outputs[0], "w") as f:
        f.write(str(sum(int(vesper.dfs.read_bytes(p)) for p in inputs)))

parts = [f"parts/{i}" for i in range(6)]
jobs = [part(i, outputs=[p]) for i, p in enumerate(parts)]
if phase == "first":
    for job in jobs:
        job.wait(timeout=60)
    print("parts written", flush=True)
    open(os.environ["VESPER_TEST_READY_FILE"], "w").write("ready")
    time.sleep(120)
else:
    merge(inputs=parts, outputs=["total"]).wait(timeout=60)
    print("skipped", sum(1 for j in jobs if j.state == "skipped"))
    print("total", vesper.dfs.read_bytes("total").decode())
