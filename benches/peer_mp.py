"""Peers on one node: sequential Python and multiprocessing.Pool.

    python3 benches/peer_mp.py jobs N PROCS REPS
    python3 benches/peer_mp.py mapreduce N PROCS REPS
    python3 benches/peer_mp.py wordcount TEXT_FILE PROCS REPS
    python3 benches/peer_mp.py scale N PROCS
"""
import collections
import gc
import multiprocessing
import sys
import time

from _util import emit, pieces_of, vm_rss_bytes


def noop():
    pass


def square(x):
    return x * x


def count_words(piece):
    return collections.Counter(piece.split())


def jobs(count, procs, reps):
    with multiprocessing.Pool(procs) as pool:
        pool.map(noop_arg, range(procs * 4))  # warm-up
        runs = []
        for _ in range(reps):
            start = time.perf_counter()
            pending = [pool.apply_async(noop) for _ in range(count)]
            for result in pending:
                result.get()
            runs.append(time.perf_counter() - start)
    emit(count=count, times_s=runs)


def noop_arg(_):
    pass


def mapreduce(n, procs, reps):
    sequential = []
    for _ in range(reps):
        start = time.perf_counter()
        total = sum(x * x for x in range(n))
        sequential.append(time.perf_counter() - start)
    pooled = []
    with multiprocessing.Pool(procs) as pool:
        pool.map(square, range(100))
        for _ in range(reps):
            start = time.perf_counter()
            pooled_total = sum(pool.map(square, range(n), chunksize=max(1, n // (procs * 4))))
            pooled.append(time.perf_counter() - start)
    assert total == pooled_total
    emit(sequential_s=sequential, pool_s=pooled)


def wordcount(path, procs, reps):
    with open(path, encoding="utf-8") as handle:
        pieces = pieces_of(handle.read())
    times = []
    with multiprocessing.Pool(procs) as pool:
        pool.map(count_words, pieces[:procs])
        for _ in range(reps):
            start = time.perf_counter()
            counts = collections.Counter()
            for partial in pool.imap_unordered(count_words, pieces, chunksize=max(1, len(pieces) // (procs * 4))):
                counts.update(partial)
            times.append(time.perf_counter() - start)
    emit(times_s=times, distinct=len(counts), words=sum(counts.values()))


def scale(n, procs):
    with multiprocessing.Pool(procs) as pool:
        pool.apply(noop)
        gc.collect()
        before = vm_rss_bytes()
        start = time.perf_counter()
        pending = [pool.apply_async(noop) for _ in range(n)]
        submitted = time.perf_counter()
        gc.collect()
        after = vm_rss_bytes()
        for result in pending:
            result.get()
        end = time.perf_counter()
    emit(jobs=n, submit_s=submitted - start, total_s=end - start, rss_before=before, rss_after=after)


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    if command == "jobs":
        jobs(int(args[0]), int(args[1]), int(args[2]))
    elif command == "mapreduce":
        mapreduce(int(args[0]), int(args[1]), int(args[2]))
    elif command == "wordcount":
        wordcount(args[0], int(args[1]), int(args[2]))
    elif command == "scale":
        scale(int(args[0]), int(args[1]))
    else:
        sys.exit(f"unknown command {command}")
