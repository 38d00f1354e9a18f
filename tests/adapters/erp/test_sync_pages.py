"""A page of new customers from a real Tryton is stored at once (set-based: one INSERT per table), with every guarantee of the
one-by-one path: audit entry, outbox rows and events per record, links, derived fields; a refused record
makes the page fall back to one record at a time, so it alone becomes a sync issue."""
from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, func, select

from adapters.erp.connections import get_connection
from adapters.erp.models import SyncIssue
from adapters.erp.runner import run_sync
from adapters.erp.sync import retry_open_issues
from crmcore import hookimpl
from crmcore.errors import ValidationError
from crmcore.models import Address, AuditLog, Contact, Customer, ExternalRef, OutboxMessage
from crmcore.services.customers import completeness_of

from .conftest import connect


class Recorder:
    """A one-test plugin: the events dispatched after commit."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    @hookimpl
    def crm_event(self, ctx: Any, event: Any) -> None:
        self.events.append((event.name, str(event.entity_id)))


class RefuseByName:
    """A one-test plugin refusing customers whose name starts with 'Refused'."""

    @hookimpl
    def crm_before_save(self, ctx: Any, entity: str, obj: Any, changes: dict[str, Any], created: bool) -> None:
        if entity == "customer" and obj.name.startswith("Refused"):
            raise ValidationError("refused by a test plugin", errors={"name": ["refused"]})


@pytest.fixture
def sync_ctx(rt):
    context = rt.context(source="erp-sync", session=rt.db.new_session())
    yield context
    context.session.close()


def party(i: int, name: str | None = None) -> dict[str, Any]:
    return {"name": name or f"页客户 {i:03d} 有限公司",
            "contact_mechanisms": [["create", [{"type": "phone", "value": f"021 6888 {1000 + i}"},
                                               {"type": "email", "value": f"p{i}@page.example", "name": f"联系人 {i}"}]]],
            "addresses": [["create", [{"street": f"{i} 号 页路", "city": "上海"}]]]}


def count(ctx: Any, model: Any, *where: Any) -> int:
    return ctx.session.scalar(select(func.count()).select_from(model).where(*where))


def test_a_page_of_new_customers_is_stored_at_once_with_every_guarantee(sync_ctx, tryton, seed):
    ctx = sync_ctx
    seed.parties([party(i) for i in range(60)])
    connect(ctx, tryton, streams=["customers"])  # pages of 50: two pages
    flushed: list[Any] = []

    def spy(session, context, instances):
        flushed.extend(type(o) for o in session.new)

    recorder = Recorder()
    ctx.pm.register(recorder, name="recorder")
    event.listen(ctx.session, "before_flush", spy)
    try:
        [result] = run_sync(ctx, push=False)
    finally:
        event.remove(ctx.session, "before_flush", spy)
        ctx.pm.unregister(name="recorder")

    c = result.streams["customers"]
    assert (c.read, c.created, c.updated, c.failed) == (60, 60, 0, 0)
    # set-based, as the import writes (Core INSERTs of the page's rows): no customer, contact or address
    # goes through the ORM's unit of work
    assert not {Customer, Contact, Address} & set(flushed), flushed
    customers = ctx.session.scalars(select(Customer).order_by(Customer.id)).all()
    assert len(customers) == 60
    for customer in customers[:3]:
        assert customer.phone_normalized and customer.phone_normalized.startswith("+86216888")
        assert "ye" in customer.search_text  # the pinyin of 页
        assert customer.name_key and customer.source_channel == "erp" and customer.stage == "customer"
        assert customer.completeness == completeness_of(ctx, customer)[0]
        [contact] = customer.contacts
        assert contact.email_normalized.endswith("@page.example")
        [address] = customer.addresses
        assert address.is_primary and address.country == "CN"
    for entity, model in (("customer", Customer), ("contact", Contact), ("address", Address)):
        # every row: one ExternalRef, one audit entry from the sync, one event after commit; no outbox row
        # for the ERP's push (it ignores the sync's own writes: they would echo back)
        assert count(ctx, ExternalRef, ExternalRef.entity == entity) == count(ctx, model) == 60
        audits = ctx.session.scalars(select(AuditLog).where(AuditLog.entity == entity)).all()
        assert len(audits) == 60 and {a.action for a in audits} == {"created"} and {a.source for a in audits} == {
            "erp-sync"}
        assert sorted(int(a.entity_id) for a in audits) == sorted(ctx.session.scalars(select(model.id)))
        assert sorted(i for n, i in recorder.events if n == f"{entity}.created") == sorted(a.entity_id for a in audits)
        assert count(ctx, OutboxMessage, OutboxMessage.event_id.in_([a.event_id for a in audits]),
                     OutboxMessage.destination == "erp") == 0
    assert None not in ctx.session.scalars(select(ExternalRef.fingerprint).where(ExternalRef.entity == "customer"))

    [again] = run_sync(ctx, push=False)
    c = again.streams["customers"]
    assert (c.read, c.skipped, c.created, c.updated) == (60, 60, 0, 0)
    assert count(ctx, AuditLog) == 180


def test_a_refused_record_is_kept_alone_as_an_issue_and_the_rest_of_its_page_is_stored(sync_ctx, tryton, seed):
    ctx = sync_ctx
    ids = seed.parties([party(1), party(2), party(3, "Refused 公司"), party(4)])
    connect(ctx, tryton, streams=["customers"])
    recorder = Recorder()
    ctx.pm.register(recorder, name="recorder")
    ctx.pm.register(RefuseByName(), name="refuse")
    try:
        [result] = run_sync(ctx, push=False)
    finally:
        ctx.pm.unregister(name="refuse")
        ctx.pm.unregister(name="recorder")

    c = result.streams["customers"]
    assert (c.read, c.created, c.failed) == (4, 3, 1)
    [issue] = ctx.session.scalars(select(SyncIssue).where(SyncIssue.status == "open")).all()
    assert (issue.kind, issue.external_id) == ("rejected", str(ids[2])) and "refused by a test plugin" in issue.reason
    assert count(ctx, Customer) == 3 and count(ctx, Customer, Customer.name.like("Refused%")) == 0
    # the page's first, undone attempt left nothing behind: no row, audit entry, outbox row, event or link twice
    for entity, model in (("customer", Customer), ("contact", Contact), ("address", Address)):
        assert count(ctx, AuditLog, AuditLog.entity == entity) == count(ctx, model) == 3
        assert count(ctx, ExternalRef, ExternalRef.entity == entity) == 3
        assert len([e for e in recorder.events if e[0] == f"{entity}.created"]) == 3
    assert count(ctx, OutboxMessage, OutboxMessage.destination == "erp") == 0

    # the plugin no longer refuses it: the retry stores it and resolves the issue
    assert retry_open_issues(ctx, get_connection(ctx, "tryton"), "customers") == 1
    ctx.session.expire_all()
    assert count(ctx, Customer, Customer.name == "Refused 公司") == 1
    assert count(ctx, SyncIssue, SyncIssue.status == "open") == 0


def test_read_ahead_keeps_the_order_raises_errors_in_place_and_stops_the_reader():
    from adapters.erp.base import Page, RetriableAdapterError
    from adapters.erp.sync import read_ahead

    read: list[int] = []
    closed: list[bool] = []

    def pages(fail_at: int | None = None):
        try:
            for i in range(6):
                if i == fail_at:
                    raise RetriableAdapterError(f"page {i} timed out")
                read.append(i)
                yield Page(records=[], cursor=i)
        finally:
            closed.append(True)

    assert [p.cursor for p in read_ahead(pages())] == [0, 1, 2, 3, 4, 5]

    got = []
    with pytest.raises(RetriableAdapterError, match="page 3"):
        for page in read_ahead(pages(fail_at=3)):
            got.append(page.cursor)
    assert got == [0, 1, 2]  # the pages before the failure are all handed over first

    read.clear()
    closed.clear()
    for page in read_ahead(pages()):
        if page.cursor == 1:
            break  # e.g. the CRM side failed: the reader stops, at most two pages ahead
    assert closed == [True] and read[:2] == [0, 1] and len(read) <= 4
