"""UserView: a dict with str keys shared by the script and every job."""

from collections.abc import MutableMapping

import _vesper

_MISSING = object()


class UserView(MutableMapping):
    """A shared dict: the same name is the same dict on the scheduler and in every job.

    Every operation is linearisable (rank 0 orders them all). Keys must be ``str``;
    values are any picklable object up to ``--uv-value-limit`` bytes. Iteration,
    ``keys()``, ``values()`` and ``items()`` are snapshots. Extras: ``incr``,
    ``compare_and_set`` and ``wait``.
    """

    __slots__ = ("name",)

    def __init__(self, name):
        if not isinstance(name, str):
            raise TypeError("a UserView name must be a str")
        self.name = name

    def __getitem__(self, key):
        found = _vesper.uv(self.name, "get", key)
        if found is None:
            raise KeyError(key)
        return found[0]

    def __setitem__(self, key, value):
        _vesper.uv(self.name, "set", key, value)

    def __delitem__(self, key):
        _vesper.uv(self.name, "delete", key)

    def __contains__(self, key):
        if not isinstance(key, str):
            return False
        return _vesper.uv(self.name, "contains", key)

    def __len__(self):
        return _vesper.uv(self.name, "len")

    def __iter__(self):
        return iter(_vesper.uv(self.name, "keys"))

    def keys(self):
        """A snapshot list of the keys."""
        return _vesper.uv(self.name, "keys")

    def items(self):
        """A snapshot list of ``(key, value)`` pairs."""
        return _vesper.uv(self.name, "items")

    def values(self):
        """A snapshot list of the values."""
        return [value for _, value in self.items()]

    def get(self, key, default=None):
        found = _vesper.uv(self.name, "get", key)
        return default if found is None else found[0]

    def pop(self, key, default=_MISSING):
        found = _vesper.uv(self.name, "pop", key)
        if found is None:
            if default is _MISSING:
                raise KeyError(key)
            return default
        return found[0]

    def setdefault(self, key, default=None):
        return _vesper.uv(self.name, "setdefault", key, default)[0]

    def update(self, other=(), **kwargs):
        items = list(other.items() if hasattr(other, "items") else other) + list(kwargs.items())
        _vesper.uv(self.name, "update", None, items)

    def clear(self):
        _vesper.uv(self.name, "clear")

    def incr(self, key, delta=1):
        """Atomically add ``delta`` to ``key`` (a missing key starts at 0); return the new value."""
        return _vesper.uv(self.name, "incr", key, delta)[0]

    def compare_and_set(self, key, expected, new):
        """Atomically set ``key`` to ``new`` if it holds ``expected`` (None: if missing)."""
        return _vesper.uv(self.name, "cas", key, expected, new)

    def wait(self, key, timeout=None):
        """Block until ``key`` exists; return its value (``TimeoutError`` on timeout)."""
        return _vesper.uv(self.name, "wait", key, timeout=timeout)[0]

    def __repr__(self):
        return f"UserView({self.name!r})"
