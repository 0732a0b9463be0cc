"""Reading ahead: the next item of an iterator made in a thread of its own while the caller works on
the current one. Worth it when making an item is Python's work (reading, transcoding, checksumming
a file) and using it is DuckDB's, which runs without Python's lock."""

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

T = TypeVar("T")
_END = object()


class ReadAhead(Generic[T]):
    """Iterates over `items` one item ahead: at most two exist at a time, the caller's and the next.
    An error making an item is raised when the caller asks for that item. `close` (use `closing`)
    waits for the item being made, hands it to `release` unused, and closes `items`."""

    def __init__(self, items: Iterator[T], release: Callable[[T], None]):
        self._items = items
        self._release = release
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="jingtu-read-ahead")
        self._next: Future | None = self._pool.submit(next, items, _END)

    def __iter__(self) -> "ReadAhead[T]":
        return self

    def __next__(self) -> T:
        if self._next is None:
            raise StopIteration
        making, self._next = self._next, None
        item = making.result()
        if item is _END:
            raise StopIteration
        self._next = self._pool.submit(next, self._items, _END)
        return item

    def close(self) -> None:
        if self._next is not None:
            making, self._next = self._next, None
            # An error making it is dropped: the caller stopped for a reason of its own, the one to report.
            if making.exception() is None and (item := making.result()) is not _END:
                self._release(item)
        self._pool.shutdown()
        if hasattr(self._items, "close"):
            self._items.close()
