"""A word-count pipeline: split a text into parts, count words per part in jobs,
merge the counts. Each job runs as soon as its input files exist in the DFS.

    mpirun -n 4 vesper examples/pipeline.py [PARTS]
    vesper --dfs-root /scratch/run1 examples/pipeline.py   # resumable
"""

import collections
import json
import sys

import vesper

PARTS = int(sys.argv[1]) if len(sys.argv) > 1 else 8
WORDS = "the quick brown fox jumps over the lazy dog while vesper counts every word".split()


@vesper.as_job(name="split")
def split(parts, outputs):
    """Writes a generated text as `parts` files."""
    lines = [" ".join(WORDS[(i * 7 + j) % len(WORDS)] for j in range(12)) for i in range(20_000)]
    per_part = len(lines) // parts + 1
    for index, path in enumerate(outputs):
        with vesper.open(path, "w") as out:
            out.write("\n".join(lines[index * per_part:(index + 1) * per_part]))


@vesper.as_job(name="count", retries=1)
def count(inputs, outputs):
    """Counts the words of one part."""
    with vesper.open(inputs[0]) as text:
        counts = collections.Counter(word for line in text for word in line.split())
    vesper.UserView("progress").incr("parts counted")
    with vesper.open(outputs[0], "w") as out:
        json.dump(counts, out)


@vesper.as_job(name="merge")
def merge(inputs, outputs):
    """Adds the per-part counts."""
    total = collections.Counter()
    for path in inputs:
        with vesper.open(path) as part:
            total.update(json.load(part))
    with vesper.open(outputs[0], "w") as out:
        json.dump(dict(total.most_common()), out)


parts = [f"pipeline/parts/{i}.txt" for i in range(PARTS)]
counts = [f"pipeline/counts/{i}.json" for i in range(PARTS)]

split(PARTS, outputs=parts)
for part, part_counts in zip(parts, counts):
    count(inputs=[part], outputs=[part_counts])
merge(inputs=counts, outputs=["pipeline/total.json"])

vesper.wait_all()
total = json.loads(vesper.dfs.read_bytes("pipeline/total.json"))
print(f"{sum(total.values())} words, {len(total)} distinct; top 3: {list(total.items())[:3]}")
print(f"parts counted: {vesper.UserView('progress')['parts counted']}")
