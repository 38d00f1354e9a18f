"""Two requests naming the same new tag at the same moment both succeed and share one tag, and
two imports of one new code create it once (issue 13), on SQLite and PostgreSQL: each thread has
its own client and session, and all have looked the row up (and not found it) before any creates it."""
from __future__ import annotations

import re
import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from sqlalchemy import event, func, select

from crmcore.models import Customer, Tag
from crmcore.services import customers

TAG = "并发新标签"


@contextmanager
def both_look_up_the_tag_first(engine: Any, threads: int, table: str = "tags", column: str = "name") -> Iterator[None]:
    """Hold each worker thread right after its first lookup of ``table`` by ``column`` until every
    worker has made its own: all of them have seen that the row does not exist yet."""
    barrier = threading.Barrier(threads)
    waited: set[int] = set()
    workers: set[int] = set()

    def after(conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool) -> None:
        me = threading.get_ident()
        if me in workers and me not in waited and statement.lstrip().upper().startswith("SELECT") \
                and f"FROM {table}" in statement and re.search(rf"\b{table}\.{column} (=|IN)", statement):
            waited.add(me)
            barrier.wait(timeout=60)  # a safety net against a hang, not a timing assumption

    event.listen(engine, "after_cursor_execute", after)
    try:
        yield workers
    finally:
        event.remove(engine, "after_cursor_execute", after)
    assert len(waited) == threads, "not every worker looked the row up: the race was not staged"


def run_together(engine: Any, calls: list[Callable[[], Any]], table: str = "tags", column: str = "name") -> list[Any]:
    results: list[Any] = [None] * len(calls)
    with both_look_up_the_tag_first(engine, len(calls), table, column) as workers:
        def work(i: int) -> None:
            workers.add(threading.get_ident())
            try:
                results[i] = calls[i]()
            except Exception as exc:  # noqa: BLE001 - reported by the assertions
                results[i] = exc

        threads = [threading.Thread(target=work, args=(i,)) for i in range(len(calls))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    return results


def _tag_count(rt: Any) -> int:
    s = rt.db.new_session()
    try:
        return s.scalar(select(func.count()).select_from(Tag).where(Tag.name == TAG))
    finally:
        s.close()


def _tagged(rt: Any) -> int:
    s = rt.db.new_session()
    try:
        return s.scalar(select(func.count()).select_from(Customer).where(Customer.tags.any(Tag.name == TAG)))
    finally:
        s.close()


def _post(app: Any, headers: dict[str, str], url: str, body: dict[str, Any], method: str = "post") -> Callable[[], Any]:
    def call() -> Any:
        resp = getattr(app.test_client(), method)(url, json=body, headers=headers)
        return resp.status_code, resp.get_json()
    return call


def test_concurrent_creates_naming_one_new_tag(app: Any, rt: Any, admin_headers: dict[str, str]) -> None:
    calls = [_post(app, admin_headers, "/api/v1/customers", {"name": f"Concurrent {i}", "tags": [TAG, "VIP"]})
             for i in range(2)]
    results = run_together(rt.db.engine, calls)
    assert [r[0] for r in results] == [201, 201], results
    assert _tag_count(rt) == 1 and _tagged(rt) == 2


def test_concurrent_updates_naming_one_new_tag(app: Any, rt: Any, ctx: Any, admin_headers: dict[str, str]) -> None:
    ids = [customers.create_customer(ctx, {"name": f"Existing {i}"}).id for i in range(2)]
    calls = [_post(app, admin_headers, f"/api/v1/customers/{cid}", {"tags": [TAG]}, "patch") for cid in ids]
    results = run_together(rt.db.engine, calls)
    assert [r[0] for r in results] == [200, 200], results
    assert _tag_count(rt) == 1 and _tagged(rt) == 2


def test_concurrent_bulk_creates_naming_one_new_tag(app: Any, rt: Any, admin_headers: dict[str, str]) -> None:
    calls = [_post(app, admin_headers, "/api/v1/customers/bulk",
                   {"customers": [{"code": f"B{i}{j}", "name": f"Bulk {i}-{j}", "tags": [TAG]} for j in range(2)]})
             for i in range(2)]
    results = run_together(rt.db.engine, calls)
    assert [r[0] for r in results] == [200, 200], results
    assert [r[1]["summary"] for r in results] == [{"created": 2}, {"created": 2}], results
    assert _tag_count(rt) == 1 and _tagged(rt) == 4


def test_concurrent_imports_naming_one_new_tag(app: Any, rt: Any, tmp_path: Any) -> None:
    from crmcore.services.importer import import_rows

    def importer(i: int) -> Callable[[], Any]:
        def call() -> Any:
            ctx = rt.context(session=rt.db.new_session(), source="import")
            try:
                return [r.status for r in import_rows(ctx, [{"code": f"I{i}", "name": f"Imported {i}", "tags": [TAG]}])]
            finally:
                ctx.session.close()
        return call

    results = run_together(rt.db.engine, [importer(0), importer(1)])
    assert results == [["created"], ["created"]], results
    assert _tag_count(rt) == 1 and _tagged(rt) == 2


def test_tags_are_folded_and_deduplicated_in_order(ctx: Any) -> None:
    c = customers.create_customer(ctx, {"name": "Fold Co", "tags": ["ＶＩＰ", "b", " VIP ", "", "a", "b"]})
    assert [t.name for t in c.tags] == ["VIP", "b", "a"]


def test_concurrent_imports_of_one_new_code_create_it_once(app: Any, rt: Any) -> None:
    """The same new code imported twice at once: one creates it, the other finds it and updates it."""
    from crmcore.services.importer import import_rows

    def importer(i: int) -> Callable[[], Any]:
        def call() -> Any:
            ctx = rt.context(session=rt.db.new_session(), source="import")
            try:
                return [r.status for r in import_rows(ctx, [{"code": "SAME1", "name": "Same Co", "industry": f"I{i}"}])]
            finally:
                ctx.session.close()
        return call

    results = run_together(rt.db.engine, [importer(0), importer(1)], table="customers", column="code")
    assert sorted(r[0] for r in results) == ["created", "updated"], results
    s = rt.db.new_session()
    assert s.scalar(select(func.count()).select_from(Customer).where(Customer.code == "SAME1")) == 1
    s.close()
