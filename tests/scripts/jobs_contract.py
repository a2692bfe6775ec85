"""Job contract checks; prints one OK line per scenario."""
import os
import vesper

vesper.wait_for_workers(timeout=60)

@vesper.as_job
def write(text, outputs):
    with vesper.open(outputs[0], "w") as f:
        f.write(text)

@vesper.as_job
def join(inputs, outputs):
    parts = [vesper.dfs.read_bytes(p).decode() for p in inputs]
    with vesper.open(outputs[0], "w") as f:
        f.write("+".join(parts))

# A diamond.
write("a", outputs=["d/a"])
join(inputs=["d/a"], outputs=["d/b"])
join(inputs=["d/a"], outputs=["d/c"])
top = join(inputs=["d/b", "d/c"], outputs=["d/d"])
top.wait(timeout=60)
assert vesper.dfs.read_bytes("d/d") == b"a+a", vesper.dfs.read_bytes("d/d")
print("OK diamond")

# Fan-out of 1,000 and a fan-in.
@vesper.as_job
def leaf(i, outputs):
    with vesper.open(outputs[0], "w") as f:
        f.write(str(i * i))

@vesper.as_job
def total(inputs, outputs):
    s = sum(int(vesper.dfs.read_bytes(p)) for p in inputs)
    with vesper.open(outputs[0], "w") as f:
        f.write(str(s))

leaves = [f"fan/{i}" for i in range(1000)]
for i, path in enumerate(leaves):
    leaf(i, outputs=[path])
total(inputs=leaves, outputs=["fan/total"]).wait(timeout=120)
assert int(vesper.dfs.read_bytes("fan/total")) == sum(i * i for i in range(1000))
print("OK fan-out fan-in")

# A chain of 200.
@vesper.as_job
def step(inputs, outputs):
    n = int(vesper.dfs.read_bytes(inputs[0])) if inputs else 0
    with vesper.open(outputs[0], "w") as f:
        f.write(str(n + 1))

step(inputs=[], outputs=["chain/0"])
for i in range(1, 200):
    last = step(inputs=[f"chain/{i-1}"], outputs=[f"chain/{i}"])
last.wait(timeout=120)
assert vesper.dfs.read_bytes("chain/199") == b"200"
print("OK chain")

# Fails once, then succeeds with retries=1 (on another worker where one is free).
@vesper.as_job(retries=1)
def flaky():
    uv = vesper.UserView("flaky")
    if uv.incr("tries") == 1:
        raise RuntimeError("first attempt fails")
    return vesper.rank()

job = flaky()
job.wait(timeout=60)
assert job.attempts == 2 and job.state == "done", (job.attempts, job.state)
print("OK retry")

# Timeout.
@vesper.as_job(timeout=0.5)
def slow():
    import time
    time.sleep(30)

job = slow()
try:
    job.wait(timeout=60)
    raise SystemExit("no timeout")
except vesper.JobError as error:
    assert "timeout" in str(error), error
print("OK timeout")

# Missing input: no hang.
@vesper.as_job
def needs(inputs):
    pass

job = needs(inputs=["never/there"])
try:
    job.wait(timeout=60)
    raise SystemExit("no error")
except vesper.MissingInputError as error:
    assert "/never/there" in str(error), error
print("OK missing input")

# Duplicate outputs.
@vesper.as_job
def hold(inputs, outputs):
    with vesper.open(outputs[0], "w") as f:
        f.write("x")

hold(inputs=["gate"], outputs=["dup/x"])
try:
    hold(inputs=["gate"], outputs=["dup/x"])
    raise SystemExit("duplicate accepted")
except ValueError as error:
    assert "/dup/x" in str(error)
vesper.dfs.write_bytes("gate", b"open")
print("OK duplicate outputs")

# Undeclared writes and missing outputs.
@vesper.as_job
def sneaky(outputs):
    with vesper.open("elsewhere", "w") as f:
        f.write("no")

try:
    sneaky(outputs=["declared"]).wait(timeout=60)
    raise SystemExit("undeclared write allowed")
except vesper.JobError as error:
    assert "PermissionError" in str(error), error
assert not vesper.dfs.exists("elsewhere") and not vesper.dfs.exists("declared")

@vesper.as_job
def lazy(outputs):
    return 1

try:
    lazy(outputs=["never-written"]).wait(timeout=60)
    raise SystemExit("missing output accepted")
except vesper.JobError as error:
    assert "MissingOutputError" in str(error), error
print("OK permission and missing output")

# Unpicklable argument.
import threading
try:
    write(threading.Lock(), outputs=["lock"])
    raise SystemExit("unpicklable accepted")
except TypeError as error:
    assert "argument 0" in str(error), error
print("OK unpicklable")

# Oversized resources.
@vesper.as_job(cores=4096)
def huge():
    pass

try:
    huge()
    raise SystemExit("oversized accepted")
except ValueError as error:
    assert "4096 cores" in str(error), error
print("OK oversized")

# Jobs submitting jobs; wait() inside a job raises.
@vesper.as_job
def child(outputs):
    with vesper.open(outputs[0], "w") as f:
        f.write("child")

@vesper.as_job
def parent():
    job = child(outputs=["nested/child"])
    try:
        job.wait()
    except RuntimeError:
        return "wait refused"

assert parent().wait(timeout=60) == "wait refused"
vesper.dfs.wait("nested/child", timeout=60)
print("OK nested")

# Printed output is attributed.
@vesper.as_job(name="talker")
def talk():
    print("hello from a job")

talk().wait(timeout=60)
print("OK all")
