"""UserView contract checks."""
import collections.abc
import vesper

vesper.wait_for_workers(timeout=60)
uv = vesper.UserView("tmp")
assert isinstance(uv, collections.abc.MutableMapping)
uv["key1"] = 999

@vesper.as_job
def set_on_worker(outputs):
    vesper.UserView("tmp")["key2"] = 9999
    with vesper.open(outputs[0], "w") as f:
        f.write(str(vesper.rank()))

@vesper.as_job
def read_on_worker(inputs):
    view = vesper.UserView("tmp")
    return vesper.rank(), view["key1"], view["key2"]

set_on_worker(outputs=["set-done"])
rank, a, b = read_on_worker(inputs=["set-done"]).wait(timeout=60)
assert (a, b) == (999, 9999), (a, b)
print("OK seed example read on rank", rank)

# 8 jobs x 1,000 incr: exactly 8,000.
@vesper.as_job
def bump():
    view = vesper.UserView("counter")
    for _ in range(1000):
        view.incr("n")

for _ in range(8):
    bump()
vesper.wait_all(timeout=120)
assert vesper.UserView("counter")["n"] == 8000
print("OK incr 8000")

# compare_and_set retry loop under contention loses no update.
@vesper.as_job
def cas_add():
    view = vesper.UserView("cas")
    for _ in range(200):
        while True:
            old = view.get("total")
            if view.compare_and_set("total", old, (old or 0) + 1):
                break

for _ in range(4):
    cas_add()
vesper.wait_all(timeout=120)
assert vesper.UserView("cas")["total"] == 800, vesper.UserView("cas")["total"]
print("OK cas 800")

# wait in a job for a key the script sets later.
@vesper.as_job
def waiter():
    return vesper.UserView("signals").wait("go", timeout=60)

job = waiter()
import time
time.sleep(0.5)
assert job.state in ("running", "ready"), job.state
vesper.UserView("signals")["go"] = {"payload": [1, 2]}
assert job.wait(timeout=60) == {"payload": [1, 2]}
print("OK wait")

# The mapping interface.
d = vesper.UserView("dict")
d.update({"a": 1, "b": 2.5}, c="three")
assert len(d) == 3 and "a" in d and "z" not in d and 5 not in d
assert sorted(d) == ["a", "b", "c"] and sorted(d.keys()) == ["a", "b", "c"]
assert sorted(d.values(), key=str) == sorted([1, 2.5, "three"], key=str)
assert dict(d.items()) == {"a": 1, "b": 2.5, "c": "three"}
assert d.get("missing", 7) == 7 and d.pop("a") == 1 and d.pop("a", None) is None
assert d.setdefault("b", 0) == 2.5 and d.setdefault("new", [1]) == [1]
del d["new"]
d["big"] = 2**80
assert d["big"] == 2**80
d.clear()
assert len(d) == 0 and vesper.UserView("tmp")["key1"] == 999
print("OK mapping")

# Errors.
for action, kind in [
    (lambda: d.__setitem__(1, "x"), TypeError),
    (lambda: d["nope"], KeyError),
    (lambda: d.__delitem__("nope"), KeyError),
    (lambda: d.__setitem__("lock", __import__("threading").Lock()), TypeError),
    (lambda: d.__setitem__("huge", b"x" * (2 * 2**20)), ValueError),
    (lambda: d.incr("s", "x"), TypeError),
    (lambda: d.wait("never", timeout=0.2), TimeoutError),
]:
    try:
        action()
        raise SystemExit(f"no {kind.__name__}")
    except kind as error:
        if kind is ValueError:
            assert "--uv-value-limit" in str(error), error
print("OK errors")
d["persist"] = "kept"
