"""Exceptions raised by vesper."""


class JobError(Exception):
    """A job (or a map-reduce element) failed.

    Attributes: ``job`` (the Job, when there is one), ``traceback`` (the remote
    traceback text), ``worker`` (rank it last ran on), ``attempts``.
    """

    def __init__(self, message="", job=None, traceback="", worker=None, attempts=0):
        super().__init__(message)
        self.job = job
        self.traceback = traceback
        self.worker = worker
        self.attempts = attempts


class MissingInputError(JobError):
    """A job waits for a DFS path that does not exist and that no live job will write."""


class MissingOutputError(JobError):
    """A job returned without writing one of its declared outputs."""


class JobsFailed(Exception):
    """``wait_all`` (or the end of the script) found failed or cancelled jobs.

    ``failures`` lists ``(job, error_text)`` pairs.
    """

    def __init__(self, message="", failures=()):
        super().__init__(message)
        self.failures = list(failures)


class Stopped(BaseException):
    """Raised in the script when SIGTERM or SIGUSR1 asks the run to stop and drain."""


class JobTimeout(BaseException):
    """Raised inside a job whose time is up (a BaseException so the job cannot swallow it)."""
