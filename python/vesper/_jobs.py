"""Jobs: ``@as_job`` functions whose dependencies are DFS files."""

import functools
import hashlib
import threading

import cloudpickle

import _vesper
from vesper._errors import JobError, JobsFailed, MissingInputError, MissingOutputError

_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "kib": 2**10, "m": 10**6, "mb": 10**6,
          "mib": 2**20, "g": 10**9, "gb": 10**9, "gib": 2**30, "t": 10**12, "tb": 10**12,
          "tib": 2**40}

# Functions this process has already sent to the scheduler (by content hash).
_sent_functions = set()
_lock = threading.Lock()
# Set on a worker while a job runs (see vesper._worker).
_current = threading.local()


def in_job():
    return getattr(_current, "job", None) is not None


def _parse_memory(memory):
    if memory is None:
        return 0
    if isinstance(memory, (int, float)):
        if memory < 0:
            raise ValueError("memory must be >= 0")
        return int(memory)
    text = str(memory).strip().lower()
    number = text.rstrip("abcdefghijklmnopqrstuvwxyz ")
    unit = text[len(number):].strip()
    if unit not in _UNITS or not number:
        raise ValueError(f"invalid memory {memory!r}: use bytes or a size such as '4GiB'")
    return int(float(number) * _UNITS[unit])


def function_id(blob):
    return int.from_bytes(hashlib.blake2b(blob, digest_size=8).digest(), "little")


def function_blob(fn):
    """(id, cloudpickle bytes) of a function, computed once per function object."""
    cached = getattr(fn, "__vesper_pickle__", None)
    if cached is not None:
        return cached
    try:
        blob = cloudpickle.dumps(fn)
    except Exception as error:
        raise TypeError(f"the job function {getattr(fn, '__name__', fn)!r} cannot be pickled: {error}") from None
    cached = (function_id(blob), blob)
    try:
        fn.__vesper_pickle__ = cached
    except (AttributeError, TypeError):
        pass  # builtins and other immutable callables are pickled per call
    return cached


def pickled_function(fn, cached=None):
    """(id, bytes to send): bytes are empty when this process already sent them."""
    ident, blob = cached or function_blob(fn)
    with _lock:
        if ident in _sent_functions:
            return ident, b""
        _sent_functions.add(ident)
    return ident, blob


def _pickle_arguments(fn, args, kwargs):
    try:
        return cloudpickle.dumps((args, kwargs))
    except Exception:
        pass
    for index, value in enumerate(args):
        try:
            cloudpickle.dumps(value)
        except Exception as error:
            raise TypeError(f"argument {index} of job {fn.__name__} cannot be pickled: {error}") from None
    for key, value in kwargs.items():
        try:
            cloudpickle.dumps(value)
        except Exception as error:
            raise TypeError(f"argument {key!r} of job {fn.__name__} cannot be pickled: {error}") from None
    raise TypeError(f"the arguments of job {fn.__name__} cannot be pickled")


def _paths(value, what):
    if value is None:
        return []
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{what}= must be a list of DFS paths, not a single string")
    paths = list(value)
    for path in paths:
        if not isinstance(path, str):
            raise TypeError(f"{what}= must hold str paths, got {type(path).__name__}")
    return paths  # the scheduler checks and normalises them


class Job:
    """A submitted job. Its function runs on a worker once its inputs exist."""

    __slots__ = ("id", "name", "_final")

    def __init__(self, ident, name, state=None):
        self.id = ident
        self.name = name
        self._final = None
        if state == "skipped":
            self._final = {"id": ident, "name": name, "state": "skipped", "attempts": 0,
                           "worker": None, "error_type": "", "error": "", "value": b""}

    def _status(self):
        if self._final is not None:
            return self._final
        status = _vesper.job_status(self.id)
        if status["state"] in ("done", "failed", "cancelled", "skipped"):
            self._final = status
        return status

    @property
    def state(self):
        """'waiting', 'ready', 'running', 'done', 'failed', 'cancelled' or 'skipped'."""
        return self._status()["state"]

    @property
    def attempts(self):
        return self._status()["attempts"]

    @property
    def worker(self):
        """Rank of the worker the job last ran on (None before it ran)."""
        return self._status()["worker"]

    def done(self):
        """True once the job reached a final state."""
        return self._status()["state"] in ("done", "failed", "cancelled", "skipped")

    def wait(self, timeout=None):
        """Wait for the job; return its function's return value.

        Raises :class:`vesper.JobError` (with the remote traceback, worker rank and
        attempts) if it failed or was cancelled, ``TimeoutError`` on timeout, and
        ``RuntimeError`` inside a job (jobs depend on files, not on other jobs).
        """
        if in_job():
            raise RuntimeError("Job.wait() cannot be called inside a job: declare the job's output files "
                               "as inputs= of the job that needs them instead")
        status = self._final or _vesper.wait_job(self.id, timeout)
        self._final = status
        return _result(self, status)

    def __repr__(self):
        return f"<Job {self.id} {self.name} {self.state}>"


def _error_for(job, status):
    kinds = {"MissingInputError": MissingInputError, "MissingOutputError": MissingOutputError}
    cls = kinds.get(status["error_type"], JobError)
    text = status["error"]
    if status["state"] == "cancelled":
        message = f"job {status['name']} (id {status['id']}) was cancelled: {text}"
    else:
        message = (f"job {status['name']} (id {status['id']}) failed after {status['attempts']} "
                   f"attempt(s) on rank {status['worker']}:\n{text}")
    return cls(message, job=job, traceback=text, worker=status["worker"], attempts=status["attempts"])


def _result(job, status):
    if status["state"] in ("failed", "cancelled"):
        raise _error_for(job, status)
    value = status["value"]
    return cloudpickle.loads(value) if value else None


def wait_all(timeout=None):
    """Wait for every job submitted so far.

    Raises :class:`vesper.JobsFailed` listing each failed or cancelled job.
    """
    if in_job():
        raise RuntimeError("wait_all() cannot be called inside a job")
    failed = _vesper.wait_all(timeout)
    if failed:
        failures = [(Job(s["id"], s["name"]), _error_for(None, s)) for s in failed]
        lines = "\n".join(f"  {job.name} (id {job.id}): {str(error).splitlines()[0]}" for job, error in failures)
        raise JobsFailed(f"{len(failures)} job(s) failed or were cancelled:\n{lines}", failures)


class _JobFunction:
    def __init__(self, fn, name=None, cores=1, memory=None, gpus=0, retries=0, timeout=None):
        functools.update_wrapper(self, fn)
        if cores < 1 or gpus < 0 or retries < 0:
            raise ValueError("cores must be >= 1, gpus and retries >= 0")
        if timeout is not None and timeout <= 0:
            raise ValueError("timeout must be > 0 seconds")
        self.fn = fn
        self.job_name = name or fn.__name__
        self.cores = int(cores)
        self.memory = _parse_memory(memory)
        self.gpus = int(gpus)
        self.retries = int(retries)
        self.timeout = None if timeout is None else float(timeout)
        try:
            import inspect
            parameters = inspect.signature(fn).parameters
        except (TypeError, ValueError):
            parameters = {}
        self.takes_inputs = "inputs" in parameters
        self.takes_outputs = "outputs" in parameters
        self.blob = None

    def __call__(self, *args, inputs=None, outputs=None, **kwargs):
        inputs = _paths(inputs, "inputs")
        outputs = _paths(outputs, "outputs")
        if self.takes_inputs:
            kwargs["inputs"] = inputs
        if self.takes_outputs:
            kwargs["outputs"] = outputs
        arguments = _pickle_arguments(self.fn, args, kwargs)
        if self.blob is None:
            self.blob = function_blob(self.fn)
        ident, blob = pickled_function(self.fn, self.blob)
        try:
            job_id, state = _vesper.submit(self.job_name, ident, blob, arguments, inputs, outputs,
                                           self.cores, self.memory, self.gpus, self.retries, self.timeout)
        except BaseException:
            with _lock:
                _sent_functions.discard(ident)
            raise
        return Job(job_id, self.job_name, state)

    def __repr__(self):
        return f"<vesper job function {self.job_name}>"


def as_job(fn=None, *, name=None, cores=1, memory=None, gpus=0, retries=0, timeout=None):
    """Make a function a job: calling it submits a job and returns a :class:`Job` at once.

    ``@as_job`` or ``@as_job(name=, cores=, memory="4GiB", gpus=, retries=, timeout=)``.
    Calls take keyword-only ``inputs=[paths]`` and ``outputs=[paths]``: the job runs
    once every input exists in the DFS, and may write only its outputs.
    """
    def wrap(function):
        return _JobFunction(function, name=name, cores=cores, memory=memory, gpus=gpus,
                            retries=retries, timeout=timeout)
    if fn is not None:
        return wrap(fn)
    return wrap
