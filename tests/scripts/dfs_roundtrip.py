"""DFS round trips: written on one rank, read on another, sha256 equal."""
import hashlib, os, sys
import vesper

vesper.wait_for_workers(timeout=60)
block = vesper._vesper.block_size()
sizes = {"zero": 0, "one": 1, "block-1": block - 1, "block": block, "block+1": block + 1,
         "big": int(os.environ.get("VESPER_TEST_BIG", 100 * 2**20))}

def payload(n, seed):
    chunk = hashlib.sha256(seed.encode()).digest() * 2048
    return (chunk * (n // len(chunk) + 1))[:n]

@vesper.as_job
def write(name, n, outputs):
    with vesper.open(outputs[0], "wb") as f:
        f.write(payload(n, name))
    return vesper.rank()

@vesper.as_job
def read(name, inputs):
    with vesper.open(inputs[0], "rb") as f:
        return vesper.rank(), hashlib.sha256(f.read()).hexdigest()

for name, n in sizes.items():
    writer = write(name, n, outputs=[f"rt/{name}"]).wait(timeout=120)
    expected = hashlib.sha256(payload(n, name)).hexdigest()
    # Read in the script (rank 0, remote) and in a job.
    assert hashlib.sha256(vesper.dfs.read_bytes(f"rt/{name}")).hexdigest() == expected, name
    reader, digest = read(name, inputs=[f"rt/{name}"]).wait(timeout=120)
    assert digest == expected, name
    st = vesper.dfs.stat(f"rt/{name}")
    assert st.size == n, (st, n)
    print("OK", name, "written on", writer, "read on", reader, "blocks", st.blocks)

# Text mode, readline, iteration, seek.
vesper.dfs.write_bytes("text.txt", b"alpha\nbeta\ngamma\n")
with vesper.open("text.txt") as f:
    assert f.readline() == "alpha\n"
    assert [line for line in f] == ["beta\n", "gamma\n"]
with vesper.open("text.txt", "rb") as f:
    f.seek(6)
    assert f.read(4) == b"beta"
print("OK text")

# Write-once, missing files, listing, rm, wait.
try:
    vesper.dfs.write_bytes("text.txt", b"again")
    raise SystemExit("overwrite allowed")
except FileExistsError:
    pass
try:
    vesper.open("nope.txt")
    raise SystemExit("missing file opened")
except FileNotFoundError:
    pass
assert "/text.txt" in vesper.dfs.ls("/") and vesper.dfs.ls("rt") == sorted(f"/rt/{n}" for n in sizes)
assert vesper.dfs.rm("rt", recursive=True) == len(sizes) and not vesper.dfs.exists("rt/one")
try:
    vesper.dfs.wait("later", timeout=0.3)
    raise SystemExit("wait did not time out")
except TimeoutError:
    pass
print("OK namespace")

# Traversal attempts.
for bad in ["", "/", "../etc/passwd", "a/../../b", "a//b", "./x", "a\0b", "x" * 5000]:
    try:
        vesper.open(bad, "w")
        raise SystemExit(f"{bad!r} accepted")
    except ValueError:
        pass
print("OK traversal")

# Concurrent readers of one file.
vesper.dfs.write_bytes("shared.bin", payload(3 * block + 5, "shared"))
expected = hashlib.sha256(payload(3 * block + 5, "shared")).hexdigest()
readers = [read("shared", inputs=["shared.bin"]) for _ in range(8)]
assert all(r.wait(timeout=120)[1] == expected for r in readers)
print("OK concurrent readers")

# put/get through local files.
local = os.path.join(os.environ["VESPER_TEST_DIR"], "local.bin")
open(local, "wb").write(payload(block * 2 + 3, "local"))
vesper.dfs.put(local, "put.bin")
vesper.dfs.get("put.bin", local + ".back")
assert open(local, "rb").read() == open(local + ".back", "rb").read()
print("OK put get")
