"""Type stubs for vesper: the Python API of a vesper run."""

from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, MutableMapping
from typing import IO, Any, Literal, TypeVar, overload

__version__: str

T = TypeVar("T")
R = TypeVar("R")
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# Runtime
def rank() -> int: ...
def size() -> int: ...
def is_scheduler() -> bool: ...

class Worker:
    rank: int
    host: str
    cores: int
    memory: int
    gpus: int
    busy: bool
    pid: int
    cpuset: str

def workers() -> list[Worker]: ...
def wait_for_workers(n: int | None = None, timeout: float | None = None) -> int: ...
def add_workers(n: int) -> int: ...

# Jobs
JobState = Literal["waiting", "ready", "running", "done", "failed", "cancelled", "skipped"]

class Job:
    id: int
    name: str
    @property
    def state(self) -> JobState: ...
    @property
    def attempts(self) -> int: ...
    @property
    def worker(self) -> int | None: ...
    def done(self) -> bool: ...
    def wait(self, timeout: float | None = None) -> Any: ...

class _JobFunction:
    def __call__(self, *args: Any, inputs: list[str] | None = None, outputs: list[str] | None = None, **kwargs: Any) -> Job: ...

@overload
def as_job(fn: Callable[..., Any]) -> _JobFunction: ...
@overload
def as_job(
    fn: None = None,
    *,
    name: str | None = None,
    cores: int = 1,
    memory: int | str | None = None,
    gpus: int = 0,
    retries: int = 0,
    timeout: float | None = None,
) -> Callable[[Callable[..., Any]], _JobFunction]: ...
def wait_all(timeout: float | None = None) -> None: ...

# MapReduce
Reducer = Literal["sum", "min", "max", "count", "concat"] | Callable[[Any, Any], Any]

@overload
def map(fn: Callable[[K, V], R], collection: Mapping[K, V], *, chunk_size: int | None = None) -> dict[K, R]: ...
@overload
def map(fn: Callable[[T], R], collection: tuple[T, ...], *, chunk_size: int | None = None) -> tuple[R, ...]: ...
@overload
def map(fn: Callable[[T], R], collection: Iterable[T], *, chunk_size: int | None = None) -> list[R]: ...
def mapreduce(
    map_fn: Callable[..., Any],
    collection: Iterable[Any],
    reduce: Reducer,
    *,
    initial: Any = ...,
    by_key: bool = False,
    chunk_size: int | None = None,
) -> Any: ...

# UserView
class UserView(MutableMapping[str, Any]):
    name: str
    def __init__(self, name: str) -> None: ...
    def __getitem__(self, key: str) -> Any: ...
    def __setitem__(self, key: str, value: Any) -> None: ...
    def __delitem__(self, key: str) -> None: ...
    def __iter__(self) -> Iterator[str]: ...
    def __len__(self) -> int: ...
    def incr(self, key: str, delta: int | float = 1) -> int | float: ...
    def compare_and_set(self, key: str, expected: Any, new: Any) -> bool: ...
    def wait(self, key: str, timeout: float | None = None) -> Any: ...

# DFS
@overload
def open(path: str, mode: Literal["r", "w"] = "r", encoding: str | None = None) -> IO[str]: ...
@overload
def open(path: str, mode: Literal["rb", "wb"], encoding: None = None) -> IO[bytes]: ...

class _Stat:
    path: str
    size: int
    blocks: int
    replicas: int
    mtime: float

class dfs:
    Stat = _Stat
    @staticmethod
    def exists(path: str) -> bool: ...
    @staticmethod
    def stat(path: str) -> _Stat: ...
    @staticmethod
    def ls(prefix: str = "/") -> list[str]: ...
    @staticmethod
    def rm(path: str, recursive: bool = False) -> int: ...
    @staticmethod
    def put(local_path: str, path: str) -> None: ...
    @staticmethod
    def get(path: str, local_path: str) -> None: ...
    @staticmethod
    def read_bytes(path: str) -> bytes: ...
    @staticmethod
    def write_bytes(path: str, data: bytes) -> None: ...
    @staticmethod
    def wait(path: str, timeout: float | None = None) -> _Stat: ...

# Errors
class JobError(Exception):
    job: Job | None
    traceback: str
    worker: int | None
    attempts: int

class MissingInputError(JobError): ...
class MissingOutputError(JobError): ...

class JobsFailed(Exception):
    failures: list[tuple[Job, JobError]]

class Stopped(BaseException): ...
