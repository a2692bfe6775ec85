"""wordcount: vesper.mapreduce(count, pieces, "sum", by_key=True) over a text file
split into ~1 MiB pieces at line ends (the same pieces the multiprocessing peer gets).

    mpirun -n W+1 vesper benches/wordcount.py TEXT_FILE [REPS]
"""
import time

import vesper
from _util import arg, emit, pieces_of


def count_words(piece):
    import collections
    return collections.Counter(piece.split()).items()


path, reps = arg(1, ""), arg(2, 3)
with open(path, encoding="utf-8") as handle:
    pieces = pieces_of(handle.read())
vesper.wait_for_workers(timeout=60)
vesper.mapreduce(count_words, pieces[:2], "sum", by_key=True)  # warm-up
times = []
for _ in range(reps):
    start = time.perf_counter()
    counts = vesper.mapreduce(count_words, pieces, "sum", by_key=True)
    times.append(time.perf_counter() - start)
emit(times_s=times, distinct=len(counts), words=sum(counts.values()), pieces=len(pieces),
     workers=vesper.size() - 1)
