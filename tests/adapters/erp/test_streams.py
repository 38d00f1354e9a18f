"""The shared id paginator and the per-stream classes of the Tryton and Odoo adapters."""
from __future__ import annotations

import pytest

from adapters.erp.base import FatalAdapterError
from adapters.erp.odoo import OdooAdapter
from adapters.erp.streams import IdPaginator
from adapters.erp.tryton import TrytonAdapter

ROWS = [{"id": i} for i in (3, 5, 8, 9, 12)]
SETTINGS = {"url": "http://127.0.0.1:9", "database": "db", "login": "admin"}


def _keyset(domain):
    after = domain[0][2] if domain else 0
    return [r for r in ROWS if r["id"] > after][:2]


def test_pages_follow_the_last_id_and_stop_on_a_short_page():
    pages = list(IdPaginator(2).pages(_keyset))
    assert [[r["id"] for r in p] for p in pages] == [[3, 5], [8, 9], [12]]


def test_a_cursor_resumes_after_it():
    assert [[r["id"] for r in p] for p in IdPaginator(2, "5").pages(_keyset)] == [[8, 9], [12]]


def test_a_full_last_page_ends_with_one_empty_read():
    calls = []

    def fetch(domain):
        calls.append(domain)
        return _keyset(domain) if len(calls) < 3 else []

    assert len(list(IdPaginator(2).pages(fetch))) == 2
    assert len(calls) == 3


def test_a_page_repeating_the_last_id_is_an_error_not_a_loop():
    pages = IdPaginator(2).pages(lambda domain: ROWS[:2])  # a server ignoring the id condition
    assert next(pages) == ROWS[:2]
    with pytest.raises(FatalAdapterError, match="same page twice"):
        next(pages)


@pytest.mark.parametrize("cls", [TrytonAdapter, OdooAdapter])
def test_every_stream_has_its_class_and_unknown_ones_are_refused(cls):
    adapter = cls(SETTINGS, "secret")
    assert {name: adapter.stream(name).name for name in cls.streams} == {name: name for name in cls.streams}
    with pytest.raises(FatalAdapterError, match="no stream"):
        list(adapter.read("tickets", None))


def test_odoo_read_stops_when_the_server_ignores_the_paging(monkeypatch):
    adapter = OdooAdapter({**SETTINGS, "page_size": 2}, "secret")
    rows = [{"id": 1, "default_code": "A", "name": "A", "active": True, "write_date": "2026-01-01 00:00:00"},
            {"id": 2, "default_code": "B", "name": "B", "active": True, "write_date": "2026-01-01 00:00:00"}]
    monkeypatch.setattr(adapter, "search_read", lambda *args, **kwargs: rows)
    pages = adapter.read("products", None)
    assert [r.code for r in next(pages).records] == ["A", "B"]
    with pytest.raises(FatalAdapterError, match="same page twice"):
        next(pages)
