"""Peer: dask.distributed on a local cluster of worker processes.

    python3 benches/peer_dask.py chain LINKS WORKERS
    python3 benches/peer_dask.py jobs N WORKERS
"""
import sys
import time

from _util import emit


def noop():
    pass


def increment(x):
    return x + 1


def main(command, count, workers):
    import logging
    from dask.distributed import Client, LocalCluster, wait
    logging.getLogger("distributed").setLevel(logging.ERROR)
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        client.wait_for_workers(workers)
        client.submit(increment, 0, pure=False).result()  # warm-up
        start = time.perf_counter()
        if command == "chain":
            # A dependency graph: each task takes its predecessor's future.
            future = client.submit(increment, 0, pure=False)
            for _ in range(count - 1):
                future = client.submit(increment, future, pure=False)
            value = future.result()
            assert value == count, value
        else:
            futures = [client.submit(noop, pure=False) for _ in range(count)]
            wait(futures)
        elapsed = time.perf_counter() - start
    emit(count=count, total_s=elapsed)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
