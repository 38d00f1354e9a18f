"""Per-stream read classes and the shared id paginator of the RPC adapters (Singer SDK's ``Stream``/``pagination``)."""
from __future__ import annotations

from typing import Any, Callable, ClassVar, Iterator

from crmcore.i18n import _

from .base import FatalAdapterError, Record

Rows = list[dict[str, Any]]


class IdPaginator:
    """Keyset paging in id order: each page asks for ``page_size`` rows with an id above the last one read.

    A page whose last id is not above the previous page's (the server ignored the id condition or its
    order) would read the same rows for ever: it is a ``FatalAdapterError``. A short page is the last.
    """

    def __init__(self, page_size: int, start: Any = None) -> None:
        self.page_size = page_size
        self.last: int | None = int(start) if start is not None else None
        self.finished = False

    def domain(self) -> list[Any]:
        """The condition of the next page (none for the first page of a fresh read)."""
        return [("id", ">", self.last)] if self.last is not None else []

    def advance(self, rows: Rows) -> None:
        """Record the page just read: where the next one starts, or that there is none."""
        if rows:
            last = rows[-1]["id"]
            if self.last is not None and last <= self.last:
                raise FatalAdapterError(_("The ERP returned the same page twice (last id %(id)s): paging "
                                          "stopped to avoid a loop.", id=last))
            self.last = last
        if len(rows) < self.page_size:
            self.finished = True

    def pages(self, fetch: Callable[[list[Any]], Rows]) -> Iterator[Rows]:
        """Yield non-empty pages; ``fetch(domain)`` reads one page with the paginator's condition added."""
        while not self.finished:
            rows = fetch(self.domain())
            self.advance(rows)
            if not rows:
                return
            yield rows


class ErpStream:
    """One stream of an RPC adapter: the ERP model read, its domain and fields, and how rows become records.

    An adapter declares one subclass per stream, instantiates them with itself (``self.adapter``: its
    client, company, caches) and dispatches ``read``/``count``/``existing_ids`` through a dict of them.
    """

    name: ClassVar[str] = ""
    model: ClassVar[str] = ""
    domain: ClassVar[tuple[Any, ...]] = ()
    fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, adapter: Any) -> None:
        self.adapter = adapter

    def base_domain(self) -> list[Any]:
        """The rows that belong to the stream, whatever changed."""
        return list(self.domain)

    def select(self) -> list[str]:
        """The fields read per row."""
        return list(self.fields)

    def available(self) -> bool:
        """Whether the ERP has what the stream reads (an optional module); an unavailable stream reads nothing."""
        return True

    def records(self, rows: Rows) -> list[Record]:
        """One page of rows as canonical records."""
        raise NotImplementedError


def stream_map(adapter: Any, classes: tuple[type[ErpStream], ...]) -> dict[str, ErpStream]:
    """The adapter's streams by name, each bound to the adapter."""
    return {cls.name: cls(adapter) for cls in classes}
