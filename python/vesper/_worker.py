"""The task loop every worker runs: jobs and map-reduce chunks, one at a time."""

import io
import signal
import sys
import time
import traceback

import cloudpickle

import _vesper
from vesper import _jobs
from vesper._errors import JobTimeout, MissingOutputError
from vesper._mapreduce import combine, combine_by_key

_functions = {}


def _function(ident, blob):
    if blob:
        _functions[ident] = cloudpickle.loads(blob)
    return _functions[ident]


class _JobContext:
    __slots__ = ("name", "outputs", "staged", "inputs")

    def __init__(self, name, outputs, input_files):
        self.name = name
        self.outputs = outputs
        self.staged = []
        # Metadata of the committed inputs, shipped with the task: no lookup needed.
        self.inputs = {meta["path"]: meta for meta in input_files}


class _Prefixed(io.TextIOBase):
    """Prefixes every line a job prints with the job's name."""

    def __init__(self, stream, prefix):
        self._stream = stream
        self._prefix = prefix
        self._at_line_start = True

    def writable(self):
        return True

    def write(self, text):
        out = []
        for piece in text.splitlines(keepends=True):
            if self._at_line_start:
                out.append(self._prefix)
            out.append(piece)
            self._at_line_start = piece.endswith("\n")
        self._stream.write("".join(out))
        return len(text)

    def flush(self):
        self._stream.flush()


def _on_alarm(signum, frame):
    raise JobTimeout("job timed out")


def _run_job(task):
    _, job_id, attempt, name, ident, blob, arguments, input_files, outputs, timeout = task
    started_us = time.time_ns() // 1000
    started = time.perf_counter()
    context = _JobContext(name, outputs, input_files)
    stdout, stderr = sys.stdout, sys.stderr
    prefix = f"[{name}#{job_id}] "
    ok, value, error_type, message, text = False, b"", "", "", ""
    try:
        fn = _function(ident, blob)
        args, kwargs = cloudpickle.loads(arguments)
        _jobs._current.job = context
        sys.stdout, sys.stderr = _Prefixed(stdout, prefix), _Prefixed(stderr, prefix)
        if timeout:
            signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            result = fn(*args, **kwargs)
        finally:
            if timeout:
                signal.setitimer(signal.ITIMER_REAL, 0)
        written = {staged[0] for staged in context.staged}
        missing = [path for path in outputs if path not in written]
        if missing:
            raise MissingOutputError(f"job {name} returned without writing its declared output(s) {missing}")
        try:
            value = cloudpickle.dumps(result) if result is not None else b""
        except Exception:
            value = cloudpickle.dumps(repr(result))
        ok = True
    except JobTimeout:
        error_type, message = "TimeoutError", f"job {name} ran past its timeout of {timeout} s and was interrupted"
        text = message
    except BaseException as error:  # noqa: BLE001 - every failure is reported
        error_type, message = type(error).__name__, str(error)
        text = traceback.format_exc()
    finally:
        _jobs._current.job = None
        sys.stdout, sys.stderr = stdout, stderr
        stdout.flush()
        stderr.flush()
    if not ok and context.staged:
        _vesper.dfs_discard([block[0] for _, blocks, _ in context.staged for block in blocks])
        files = []
    else:
        files = context.staged
    elapsed = int((time.perf_counter() - started) * 1e6)
    _vesper.task_done("job", job_id, attempt, ok, value, error_type, message, text, files, started_us, elapsed)


def _elements(kind, data):
    if kind == "range":
        return range(*data)
    return data


def _failing_index(fn, kind, elements):
    for index, item in enumerate(elements):
        try:
            fn(*item) if kind == "dict" else fn(item)
        except BaseException:
            return index
    return None


def _run_chunk(task):
    _, run, chunk, ident, blob, payload = task
    started_us = time.time_ns() // 1000
    started = time.perf_counter()
    ok, value, error_type, message, text = False, b"", "", "", ""
    index = None
    try:
        fn = _function(ident, blob)
        kind, start, data, reducer, by_key = cloudpickle.loads(payload)
        if reducer is not None and not isinstance(reducer, str):
            reducer = cloudpickle.loads(reducer)
        elements = _elements(kind, data)
        try:
            # The fast path: the loop runs in C.
            if kind == "dict":
                values = [fn(key, item) for key, item in elements]
                # map() keeps the keys; mapreduce() reduces the values fn(k, v).
                mapped = [(key, value) for (key, _), value in zip(elements, values)] if reducer is None else values
            else:
                mapped = list(map(fn, elements))
        except BaseException:
            # Find the failing element for the error message (the rare path).
            index = _failing_index(fn, kind, elements)
            raise
        index = None
        if reducer is None:
            partial = (True, mapped)
        elif by_key:
            pairs = []
            for produced in mapped:
                if isinstance(produced, tuple) and len(produced) == 2 and isinstance(produced[0], str):
                    pairs.append(produced)
                else:
                    pairs.extend(produced)
            if reducer == "count":
                pairs = [(key, 1) for key, _ in pairs]
            partial = (True, combine_by_key(reducer if reducer != "count" else "sum", pairs))
        elif not mapped:
            partial = (False, None)
        elif reducer == "count":
            partial = (True, len(mapped))
        else:
            partial = (True, combine(reducer, mapped))
        value = cloudpickle.dumps(partial)
        ok = True
    except BaseException as error:  # noqa: BLE001 - every failure is reported
        error_type, message = type(error).__name__, str(error)
        where = ""
        if index is not None:
            kind_, start_ = (locals().get("kind"), locals().get("start", 0))
            if kind_ == "dict":
                where = f"element with key {data[index][0]!r}: "
            else:
                where = f"element at index {start_ + index}: "
        text = where + traceback.format_exc()
    elapsed = int((time.perf_counter() - started) * 1e6)
    _vesper.task_done("chunk", run, chunk, ok, value, error_type, message, text, [], started_us, elapsed)


def serve():
    """Runs tasks until the scheduler says the run is over."""
    signal.signal(signal.SIGALRM, _on_alarm)
    while True:
        task = _vesper.next_task()
        if task is None:
            return
        if task[0] == "job":
            _run_job(task)
        else:
            _run_chunk(task)
