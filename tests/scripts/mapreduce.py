"""map and mapreduce against plain Python."""
import collections, math, os
import vesper

vesper.wait_for_workers(timeout=60)
square = lambda x: x * x

data = list(range(-50, 250))
assert vesper.map(square, data) == [square(x) for x in data]
assert vesper.map(square, tuple(data)) == tuple(square(x) for x in data)
assert vesper.map(lambda k, v: f"{k}={v}", {"a": 1, "b": 2}) == {"a": "a=1", "b": "b=2"}
assert vesper.map(square, (x for x in range(10))) == [x * x for x in range(10)]
assert vesper.map(square, range(5, 50, 3)) == [x * x for x in range(5, 50, 3)]
assert vesper.map(square, []) == [] and vesper.map(square, ()) == () and vesper.map(square, {}) == {}
print("OK map")

for chunk_size in (None, 1, 7, 10**9):
    assert vesper.mapreduce(square, range(2000), "sum", chunk_size=chunk_size) == sum(x * x for x in range(2000))
assert vesper.mapreduce(square, range(10**6), "sum") == sum(x * x for x in range(10**6))
assert vesper.mapreduce(square, data, "min") == min(map(square, data))
assert vesper.mapreduce(square, data, "max") == max(map(square, data))
assert vesper.mapreduce(square, data, "count") == len(data)
assert vesper.mapreduce(str, range(20), "concat") == "".join(map(str, range(20)))
assert vesper.mapreduce(lambda x: [x], range(5), "concat") == list(range(5))
assert math.isclose(vesper.mapreduce(lambda x: x / 3, range(1000), "sum"), sum(x / 3 for x in range(1000)))
assert vesper.mapreduce(square, data, lambda a, b: a + b) == sum(map(square, data))
assert vesper.mapreduce(square, [], "sum", initial=5) == 5
assert vesper.mapreduce(square, [1, 2], "sum", initial=10) == 15
assert vesper.mapreduce(lambda k, v: v, {"a": 3, "b": 4}, "sum") == 7
try:
    vesper.mapreduce(square, [], "sum")
    raise SystemExit("no TypeError")
except TypeError:
    pass
big = vesper.mapreduce(lambda x: 2**62 + x, range(1000), "sum")
assert big == sum(2**62 + x for x in range(1000)), big
print("OK reducers")

text = open(os.environ["VESPER_TEST_TEXT"]).read().splitlines()
counts = vesper.mapreduce(lambda line: [(w, 1) for w in line.split()], text, "sum", by_key=True)
assert counts == collections.Counter(w for line in text for w in line.split()), "word count differs"
print("OK wordcount", len(counts))

def fails(x):
    if x == 137:
        raise ValueError("cannot take 137")
    return x

try:
    vesper.mapreduce(fails, range(1000), "sum")
    raise SystemExit("no JobError")
except vesper.JobError as error:
    assert "index 137" in str(error) and "cannot take 137" in str(error), error
try:
    vesper.map(lambda k, v: 1 / v, {"ok": 1, "zero": 0})
    raise SystemExit("no JobError")
except vesper.JobError as error:
    assert "'zero'" in str(error) and "ZeroDivisionError" in str(error), error
print("OK errors")
