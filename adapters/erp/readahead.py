"""Reading the next page in a thread while the current one is stored, with the cycle collector paused."""
from __future__ import annotations

import contextlib
import gc
import queue
import threading
from typing import Any, Iterable, Iterator

from .base import Page

_END = object()


def read_ahead(pages: Iterable[Page]) -> Iterator[Page]:
    """Yield ``pages`` while a thread already reads the next one, so the ERP's work on page n+1 overlaps
    the CRM's on page n. At most one page waits (memory stays flat); the adapter's errors are raised
    here, in order; leaving the loop early stops the reader after its current request."""
    box: queue.Queue[tuple[Any, BaseException | None]] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def put(item: tuple[Any, BaseException | None]) -> bool:
        while not stop.is_set():
            try:
                box.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for page in pages:
                if not put((page, None)):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            put((None, exc))
            return
        put((_END, None))

    reader = threading.Thread(target=produce, name="erp-read-ahead", daemon=True)
    reader.start()
    try:
        while True:
            page, error = box.get()
            if error is not None:
                raise error
            if page is _END:
                return
            yield page
    finally:
        stop.set()
        reader.join()
        close = getattr(pages, "close", None)
        if close is not None:
            close()


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's automatic cycle collector while a page is stored (the caller collects once after).

    A page makes thousands of objects that all live until its commit; the collector's automatic passes
    kept scanning them, alive, while they were being made: about a sixth of the time of a first import.
    The garbage of one page waits for the page's end, so memory stays flat."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
