"""The DFS: write-once files split into blocks stored on the ranks.

``vesper.open(path, mode)`` gives a file object; ``vesper.dfs`` has the rest:
``exists, stat, ls, rm, put, get, read_bytes, write_bytes, wait``.
"""

import builtins
import io
import os

import _vesper
from vesper import _jobs

__all__ = ["open", "exists", "stat", "ls", "rm", "put", "get", "read_bytes", "write_bytes", "wait", "Stat"]


class Stat:
    """``size`` (bytes), ``blocks``, ``replicas`` (fewest replicas of any block), ``mtime``."""

    __slots__ = ("path", "size", "blocks", "replicas", "mtime")

    def __init__(self, meta):
        self.path = meta["path"]
        self.size = meta["size"]
        self.blocks = len(meta["blocks"])
        # A small file kept inline lives with the name node (and its journal).
        self.replicas = min((len(b[3]) for b in meta["blocks"]), default=1 if meta["inline"] or not meta["size"] else 0)
        self.mtime = meta["mtime"]

    def __repr__(self):
        return f"Stat(path={self.path!r}, size={self.size}, blocks={self.blocks}, replicas={self.replicas})"


# Files up to this size written in one piece are kept by the name node itself.
_INLINE_BYTES_MAX = _vesper.inline_bytes_max()

# Remote block reads kept in flight when a whole file is read.
_READ_AHEAD_BLOCKS = 8


class _Reader(io.RawIOBase):
    def __init__(self, meta):
        super().__init__()
        self._meta = meta
        self._path = meta["path"]
        self._blocks = meta["blocks"]
        self._cached = {}
        inline = meta.get("inline")
        if inline:
            # A small file's content came with its metadata: one block, already here.
            self._blocks = [(None, len(inline), 0, [])]
            self._cached = {0: inline}
        self._inline = inline
        self._starts = []
        offset = 0
        for block in self._blocks:
            self._starts.append(offset)
            offset += block[1]
        self._size = offset
        self._position = 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self._position

    def seek(self, offset, whence=os.SEEK_SET):
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._position, os.SEEK_END: self._size}[whence]
        position = base + offset
        if position < 0:
            raise ValueError("negative seek position")
        self._position = position
        return position

    def _block(self, index):
        # Read ahead: fetch this block and the next few together, keep only those.
        if index not in self._cached and not self._inline:
            batch = self._blocks[index:index + _READ_AHEAD_BLOCKS]
            read = _vesper.dfs_read_blocks(self._path, batch, _READ_AHEAD_BLOCKS)
            self._cached = dict(zip(range(index, index + len(read)), read))
        return self._cached[index]

    def readinto(self, buffer):
        if self._position >= self._size:
            return 0
        view = memoryview(buffer).cast("B")
        # The block holding the position: the last whose start is <= position.
        low, high = 0, len(self._starts) - 1
        while low < high:
            middle = (low + high + 1) // 2
            if self._starts[middle] <= self._position:
                low = middle
            else:
                high = middle - 1
        data = self._block(low)
        start = self._position - self._starts[low]
        count = min(len(view), len(data) - start)
        view[:count] = memoryview(data)[start:start + count]
        self._position += count
        return count

    def blocks_from(self, position):
        """Every block from the one holding `position`, read ahead a few at a time."""
        first = next((i for i, start in enumerate(self._starts)
                      if start + self._blocks[i][1] > position), len(self._blocks))
        if self._inline:
            return first, [self._inline][first:]
        return first, _vesper.dfs_read_blocks(self._path, self._blocks[first:], _READ_AHEAD_BLOCKS)

    def readall(self):
        # Whole blocks are joined once, with no intermediate copies.
        first, blocks = self.blocks_from(self._position)
        offset = self._position - self._starts[first] if blocks else 0
        if offset:
            blocks[0] = memoryview(blocks[0])[offset:]
        self._position = self._size
        return b"".join(blocks)


class _Writer(io.RawIOBase):
    def __init__(self, path, job):
        super().__init__()
        self._path = path
        self._job = job
        self._block_size = _vesper.block_size()
        self._buffer = bytearray()
        self._blocks = []
        self._done = False

    def writable(self):
        return True

    def write(self, data):
        if self._done:
            raise ValueError("write to a closed DFS file")
        view = memoryview(data).cast("B")
        size, block = len(view), self._block_size
        if self._buffer:
            taken = min(block - len(self._buffer), len(view))
            self._buffer += view[:taken]
            view = view[taken:]
            if len(self._buffer) == block:
                self._blocks.append(_vesper.dfs_write_block(self._buffer))
                self._buffer = bytearray()
        # Whole blocks go straight from the caller's buffer, without a copy.
        while len(view) >= block:
            self._blocks.append(_vesper.dfs_write_block(view[:block]))
            view = view[block:]
        self._buffer += view
        return size

    def close(self):
        if self._done:
            return
        self._done = True
        try:
            inline = b""
            if self._buffer and not self._blocks and len(self._buffer) <= _INLINE_BYTES_MAX:
                # A small file travels with its metadata: no block file to create.
                inline = bytes(self._buffer)
            elif self._buffer:
                self._blocks.append(_vesper.dfs_write_block(self._buffer))
            self._buffer = bytearray()
            if self._job is not None:
                self._job.staged.append((self._path, self._blocks, inline))
            else:
                try:
                    _vesper.dfs_commit(self._path, self._blocks, inline)
                except BaseException:
                    _vesper.dfs_discard([b[0] for b in self._blocks])
                    raise
        finally:
            super().close()


def _metadata(path):
    """A committed file's metadata: shipped with the running job for its inputs,
    otherwise asked of the name node."""
    path = _vesper.normalize_path(path)
    job = getattr(_jobs._current, "job", None)
    meta = job.inputs.get(path) if job is not None else None
    return meta or _vesper.dfs_lookup(path)


def open(path, mode="r", encoding=None):  # noqa: A001 - mirrors builtins.open
    """Open a DFS file: ``"r"``/``"rb"`` to read, ``"w"``/``"wb"`` to write.

    Files are write-once: writing an existing path raises ``FileExistsError``;
    reading a missing one ``FileNotFoundError``. A write from the script commits
    on close; from a job, when the job succeeds (and only its declared outputs).
    """
    if mode not in ("r", "rb", "w", "wb", "rt", "wt"):
        raise ValueError(f"invalid mode {mode!r}: use 'r', 'rb', 'w' or 'wb'")
    path = _vesper.normalize_path(path)
    text = "b" not in mode
    job = getattr(_jobs._current, "job", None)
    if "r" in mode:
        raw = _Reader(_metadata(path))
        buffered = io.BufferedReader(raw, buffer_size=1 << 20)
        return io.TextIOWrapper(buffered, encoding=encoding or "utf-8") if text else buffered
    if job is not None and path not in job.outputs:
        raise PermissionError(f"job {job.name} may write only its declared outputs {job.outputs}, not {path}")
    if job is not None and any(staged[0] == path for staged in job.staged):
        raise FileExistsError(f"{path} was already written by this job")
    if job is None:
        # From the script, say at once that the path is taken. A job's outputs had
        # no live writer when it was submitted; a clash is caught when it commits.
        _vesper.dfs_check_new(path)
    raw = _Writer(path, job)
    buffered = io.BufferedWriter(raw, buffer_size=1 << 20)
    return io.TextIOWrapper(buffered, encoding=encoding or "utf-8") if text else buffered


def exists(path):
    """True if ``path`` is a committed DFS file."""
    try:
        _vesper.dfs_lookup(path)
        return True
    except FileNotFoundError:
        return False


def stat(path):
    """A :class:`Stat` of a DFS file (``FileNotFoundError`` if missing)."""
    return Stat(_vesper.dfs_lookup(path))


def ls(prefix="/"):
    """Paths of the files at or under ``prefix``, sorted."""
    return [meta["path"] for meta in _vesper.dfs_list(prefix)]


def rm(path, recursive=False):
    """Remove a file, or with ``recursive=True`` every file under a prefix. Returns the count."""
    if _jobs.in_job():
        raise PermissionError("jobs cannot remove DFS files: remove them from the script")
    return _vesper.dfs_remove(path, recursive)


def read_bytes(path):
    """The whole content of a DFS file."""
    return _Reader(_metadata(path)).readall()


def write_bytes(path, data):
    """Write a new DFS file with ``data``."""
    with open(path, "wb") as handle:
        handle.write(data)


def put(local_path, path):
    """Copy a local file into the DFS."""
    block = _vesper.block_size()
    with builtins.open(local_path, "rb") as source, open(path, "wb") as target:
        while True:
            chunk = source.read(block)
            if not chunk:
                break
            target.write(chunk)


def get(path, local_path):
    """Copy a DFS file to a local file, block by block."""
    reader = _Reader(_metadata(path))
    with builtins.open(local_path, "wb") as target:
        for index in range(len(reader._blocks)):
            target.write(reader._block(index))


def wait(path, timeout=None):
    """Block until ``path`` exists in the DFS; return its :class:`Stat`."""
    return Stat(_vesper.dfs_wait(path, timeout))
