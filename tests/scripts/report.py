import vesper
@vesper.as_job(retries=1)
def flaky(outputs):
    if vesper.UserView("r").incr("n") == 1:
        raise RuntimeError("first try fails")
    with vesper.open(outputs[0], "w") as f: f.write("ok")
@vesper.as_job
def bad(inputs):
    raise ValueError("this one always fails")
@vesper.as_job
def fine(i, outputs):
    with vesper.open(outputs[0], "w") as f: f.write(str(i))
flaky(outputs=["a"])
bad(inputs=["a"])
for i in range(6): fine(i, outputs=[f"f{i}"])
print(vesper.mapreduce(lambda x: x, range(100), "sum"))
