"""Resources shared for a whole command: `with shared_connections():` (the CLI opens it
around every command) pools what `pooled()` makes until the block ends, then closes it.

The registry client takes its host connections from here, so a multi-platform build and its
index push share TLS sessions, keep-alive sockets, the scheme learnt by the first ping and
the bearer tokens of each scope, instead of paying for them once per platform and again for
the index. Outside a pool (the library's default) every caller owns what it makes. A module
of its own, without imports, so the CLI opens the pool without importing the HTTP stack.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import Protocol, TypeVar


class Closeable(Protocol):
    def close(self) -> None: ...


C = TypeVar("C", bound=Closeable)

_lock = threading.Lock()
_pool: dict[Hashable, Closeable] | None = None


@contextmanager
def shared_connections() -> Iterator[None]:
    """Pool until the outermost block ends, then close everything pooled."""
    global _pool
    with _lock:
        outermost = _pool is None
        if outermost:
            _pool = {}
    try:
        yield
    finally:
        if outermost:
            with _lock:
                pooled_items, _pool = list((_pool or {}).values()), None
            for item in pooled_items:
                item.close()


def pooled(key: Hashable, make: Callable[[], C]) -> tuple[C, bool]:
    """The pool's item for `key` (made on first use), or outside a pool a new one; and
    whether the caller owns it (must close it)."""
    with _lock:
        if _pool is None:
            return make(), True
        item = _pool.get(key)
        if item is None:
            item = _pool[key] = make()
        return item, False  # type: ignore[return-value]  # the key fixes the type
