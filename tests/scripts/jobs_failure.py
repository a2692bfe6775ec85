"""A final failure cancels its dependent chain; an independent branch completes."""
import vesper

@vesper.as_job
def bad(outputs):
    raise ValueError("bad input data")

@vesper.as_job
def after(inputs, outputs):
    with vesper.open(outputs[0], "w") as f:
        f.write("never")

@vesper.as_job
def good(outputs):
    with vesper.open(outputs[0], "w") as f:
        f.write("fine")

first = bad(outputs=["x/1"])
second = after(inputs=["x/1"], outputs=["x/2"])
third = after(inputs=["x/2"], outputs=["x/3"])
independent = good(outputs=["y/1"])
try:
    vesper.wait_all(timeout=60)
except vesper.JobsFailed as error:
    print("JobsFailed", len(error.failures))
print("states", first.state, second.state, third.state, independent.state)
assert vesper.dfs.read_bytes("y/1") == b"fine"
