"""Peers built on mpi4py.

Under `mpirun -n W+1 python3 -m mpi4py.futures benches/peer_mpi4py.py CMD ...`:
    jobs N REPS | mapreduce N REPS | chain LINKS | idle SECONDS
Under plain `mpirun -n 2 python3 benches/peer_mpi4py.py CMD ...`:
    pingpong COUNT | bandwidth TOTAL_MIB MESSAGE_MIB
"""
import os
import sys
import time

from _util import cpu_seconds, emit, percentile, sibling_pids


def noop():
    pass


def square(x):
    return x * x


def increment(x):
    return x + 1


def executor():
    from mpi4py.futures import MPIPoolExecutor
    return MPIPoolExecutor()


def jobs(count, reps):
    with executor() as pool:
        workers = pool.num_workers
        list(pool.map(square, range(workers * 4)))  # warm-up
        runs = []
        for _ in range(reps):
            start = time.perf_counter()
            futures = [pool.submit(noop) for _ in range(count)]
            for future in futures:
                future.result()
            runs.append(time.perf_counter() - start)
    emit(count=count, times_s=runs, workers=workers)


def mapreduce(n, reps):
    with executor() as pool:
        workers = pool.num_workers
        list(pool.map(square, range(100)))
        times = []
        for _ in range(reps):
            start = time.perf_counter()
            total = sum(pool.map(square, range(n), chunksize=max(1, n // (workers * 4))))
            times.append(time.perf_counter() - start)
    assert total == (n - 1) * n * (2 * n - 1) // 6
    emit(times_s=times, workers=workers)


def chain(links):
    # Each link waits for its predecessor's result before the next is submitted.
    with executor() as pool:
        value = pool.submit(increment, 0).result()
        start = time.perf_counter()
        value = 0
        for _ in range(links):
            value = pool.submit(increment, value).result()
        elapsed = time.perf_counter() - start
    assert value == links
    emit(links=links, total_s=elapsed)


def idle(seconds):
    with executor() as pool:
        workers = pool.num_workers
        list(pool.map(square, range(workers * 4)))
        pids = sibling_pids()
        time.sleep(0.5)
        before = {pid: cpu_seconds(pid) for pid in pids}
        start = time.perf_counter()
        time.sleep(seconds)
        elapsed = time.perf_counter() - start
        after = {pid: cpu_seconds(pid) for pid in pids}
    emit(window_s=elapsed, cpu_s={str(pid): after[pid] - before[pid] for pid in pids}, me=os.getpid())


def pingpong(count):
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    rank = comm.Get_rank()
    samples = []
    for i in range(1000 + count):
        if rank == 0:
            start = time.perf_counter()
            comm.send(b"12345678", dest=1)
            comm.recv(source=1)
            if i >= 1000:
                samples.append((time.perf_counter() - start) * 1e6)
        else:
            comm.send(comm.recv(source=0), dest=0)
    if rank == 0:
        emit(p50_us=percentile(samples, 0.5), p99_us=percentile(samples, 0.99))


def bandwidth(total_mib, message_mib):
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    rank = comm.Get_rank()
    size = message_mib << 20
    buffer = bytearray(size)
    messages = max(1, total_mib // message_mib)
    times = []
    for _ in range(6):  # the first round warms up (page faults, registration)
        comm.Barrier()
        start = time.perf_counter()
        for _ in range(messages):
            if rank == 1:
                comm.Send([buffer, MPI.BYTE], dest=0)
            else:
                comm.Recv([buffer, MPI.BYTE], source=1)
        comm.Barrier()
        times.append(time.perf_counter() - start)
    if rank == 0:
        emit(bytes=messages * size, times_s=times[1:])


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    if command == "jobs":
        jobs(int(args[0]), int(args[1]))
    elif command == "mapreduce":
        mapreduce(int(args[0]), int(args[1]))
    elif command == "chain":
        chain(int(args[0]))
    elif command == "idle":
        idle(float(args[0]))
    elif command == "pingpong":
        pingpong(int(args[0]))
    elif command == "bandwidth":
        bandwidth(int(args[0]), int(args[1]))
    else:
        sys.exit(f"unknown command {command}")
