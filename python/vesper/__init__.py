"""Vesper: jobs with file dependencies, map-reduce, a shared dict and a DFS, run in
parallel over MPI ranks. See the README for the guide; ``help(vesper.as_job)`` etc.
for each function.
"""

import os as _os
import sys as _sys

import _vesper

_sys.modules["vesper._vesper"] = _vesper
__version__ = _vesper.__version__

from vesper._errors import (  # noqa: E402
    JobError,
    JobsFailed,
    MissingInputError,
    MissingOutputError,
    Stopped,
)
from vesper._jobs import Job, as_job, wait_all  # noqa: E402
from vesper._userview import UserView  # noqa: E402
from vesper._mapreduce import map, mapreduce  # noqa: E402
from vesper import _dfs as dfs  # noqa: E402
from vesper._dfs import open  # noqa: E402

__all__ = [
    "rank", "size", "is_scheduler", "workers", "wait_for_workers", "add_workers",
    "Worker", "as_job", "Job", "wait_all", "map", "mapreduce", "UserView", "open",
    "dfs", "JobError", "JobsFailed", "MissingInputError", "MissingOutputError", "Stopped",
]


def rank():
    """This process's rank: 0 is the scheduler, workers are 1..size()-1."""
    return _vesper.rank()


def size():
    """Every rank of the run, the scheduler included."""
    return _vesper.size()


def is_scheduler():
    """True on rank 0 (where the script runs)."""
    return _vesper.rank() == 0


class Worker:
    """A registered worker: ``rank``, ``host``, ``cores``, ``memory`` (bytes), ``gpus``, ``busy``."""

    __slots__ = ("rank", "host", "cores", "memory", "gpus", "busy", "pid", "cpuset")

    def __init__(self, info):
        for key in ("rank", "host", "cores", "memory", "gpus", "pid", "cpuset", "busy"):
            setattr(self, key, info[key])

    def __repr__(self):
        return (f"Worker(rank={self.rank}, host={self.host!r}, cores={self.cores}, "
                f"memory={self.memory}, gpus={self.gpus})")


def workers():
    """The registered workers, as a list of :class:`Worker`."""
    return [Worker(info) for info in _vesper.workers()]


def wait_for_workers(n=None, timeout=None):
    """Block until at least ``n`` workers (default: every launched one) registered.

    Returns the number registered; raises ``TimeoutError`` after ``timeout`` seconds.
    """
    if n is None:
        n = _vesper.size() - 1
    if n < 0:
        raise ValueError("n must be >= 0")
    return _vesper.wait_for_workers(int(n), timeout)


def add_workers(n):
    """Start ``n`` more workers (MPI_Comm_spawn); returns how many were started.

    Works when started alone or under mpirun; raises ``RuntimeError`` where the MPI
    launch cannot spawn (under srun: ask Slurm for the workers up front). The new
    workers register shortly after: ``wait_for_workers()`` waits for them.
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    if not is_scheduler():
        raise RuntimeError("add_workers can only be called from the script (rank 0)")
    return _vesper.add_workers(int(n))


def _run_main(path):
    """Runs the user's script as ``__main__`` (called by the binary)."""
    import __main__
    path = _os.fspath(path)
    directory = _os.path.dirname(_os.path.abspath(path))
    if _sys.path[:1] != [directory]:
        _sys.path.insert(0, directory)
    with _os.fdopen(_os.open(path, _os.O_RDONLY), "rb") as handle:
        source = handle.read()
    code = compile(source, path, "exec")
    __main__.__file__ = path
    __main__.__dict__.setdefault("__builtins__", __builtins__)
    exec(code, __main__.__dict__)


def _install_signal_handlers():
    import signal

    def stop(signum, frame):
        raise Stopped(f"stopped by signal {signal.Signals(signum).name}")

    if _vesper.rank() == 0:
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGUSR1, stop)
    else:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1):
            signal.signal(sig, signal.SIG_IGN)


_install_signal_handlers()
