"""The core's row mover and a third-party plugin's per-year ledger, unique on (customer_id, year):
each declared merge policy, the clear refusal when none is declared, and undo (issue 13)."""
from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

import pytest
from sqlalchemy import Date, ForeignKey, Numeric, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, mapped_column

from crmcore import hookimpl
from crmcore.db import Base, intpk, utcnow
from crmcore.errors import PluginError
from crmcore.models import AuditLog, Customer
from crmcore.services import customers

POLICIES = ("keep_winner", "keep_loser", "drop_derived")


def _ledger(policy: str | None) -> type:
    """A ledger model like a third party would write, declaring ``policy`` (or nothing)."""
    args: tuple[Any, ...] = (UniqueConstraint("customer_id", "year"),)
    if policy:
        args += ({"info": {"merge_policy": policy}},)
    return type(f"Ledger_{policy or 'undeclared'}", (Base,), {
        "__tablename__": f"ledger_{policy or 'undeclared'}",
        "__table_args__": args,
        "__annotations__": {"id": Mapped[intpk], "customer_id": Mapped[int], "year": Mapped[int],
                            "amount": Mapped[decimal.Decimal], "closed_on": Mapped[dt.date | None],
                            "updated_at": Mapped[dt.datetime]},
        "customer_id": mapped_column(ForeignKey("customers.id", ondelete="CASCADE")),
        "amount": mapped_column(Numeric(12, 2)),
        "closed_on": mapped_column(Date),
        "updated_at": mapped_column(default=utcnow),
    })


LEDGERS = {policy: _ledger(policy) for policy in (None, *POLICIES)}


class YearTotal(Base):
    """A per-year total keyed by (customer_id, year) itself: the primary key is the unique key."""

    __tablename__ = "ledger_year_totals"
    __table_args__ = ({"info": {"merge_policy": "keep_loser"}},)

    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True)
    year: Mapped[int] = mapped_column(primary_key=True)
    closed_on: Mapped[dt.date]


class Balance(Base):
    """One row per customer, keyed by the customer: a clash whenever both have one."""

    __tablename__ = "ledger_balances"
    __table_args__ = ({"info": {"merge_policy": "keep_winner"}},)

    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True)
    points: Mapped[int]


class LedgerPlugin:
    """A third-party plugin registering its ledgers, with no merge hook of its own."""

    events: list[Any] = []

    @hookimpl
    def crm_register_models(self) -> list[type]:
        return [*LEDGERS.values(), YearTotal, Balance]

    @hookimpl
    def crm_event(self, ctx: Any, event: Any) -> None:
        if event.name == "customer.merged":
            self.events.append(event)


@pytest.fixture
def app(make_app: Any) -> Any:
    LedgerPlugin.events = []
    return make_app(plugins=[("ledger", LedgerPlugin())])


class Ref:
    """A customer's id, usable after the request that closed the session."""

    def __init__(self, customer: Customer) -> None:
        self.id = customer.id


def _customers(ctx: Any) -> tuple[Ref, Ref]:
    return (Ref(customers.create_customer(ctx, {"name": "Ledger Winner"})),
            Ref(customers.create_customer(ctx, {"name": "Ledger Loser"})))


def _book(ctx: Any, model: type, customer: Ref, year: int, amount: str) -> int:
    row = model(customer_id=customer.id, year=year, amount=decimal.Decimal(amount), closed_on=dt.date(year, 12, 31))
    ctx.session.add(row)
    ctx.session.commit()
    return row.id


def _pair(ctx: Any, model: type) -> tuple[Ref, Ref]:
    """Winner books 2024 and 2025, loser 2025 (the clash) and 2026."""
    winner, loser = _customers(ctx)
    _book(ctx, model, winner, 2024, "10.00")
    _book(ctx, model, winner, 2025, "20.00")
    _book(ctx, model, loser, 2025, "5.50")
    _book(ctx, model, loser, 2026, "7.25")
    return winner, loser


def _rows(rt: Any, model: type) -> set[tuple[Any, ...]]:
    s = rt.db.new_session()
    try:
        return {(r.id, r.customer_id, r.year, r.amount, r.closed_on, r.updated_at) for r in s.scalars(select(model))}
    finally:
        s.close()


def _books(rt: Any, model: type, customer: Ref) -> dict[int, str]:
    s = rt.db.new_session()
    try:
        return {r.year: str(r.amount) for r in s.scalars(select(model).where(model.customer_id == customer.id))}
    finally:
        s.close()


@pytest.mark.parametrize("lang, words", [("en", ("ledger_undeclared", "plugin ledger", "customer_id, year",
                                                  "declares no merge policy")),
                                         ("zh_CN", ("ledger_undeclared", "插件 ledger", "合并策略"))])
def test_clash_without_a_declared_policy_is_refused_naming_table_and_plugin(client: Any, ctx: Any, rt: Any,
                                                                            admin_headers: dict[str, str],
                                                                            lang: str, words: tuple[str, ...]) -> None:
    model = LEDGERS[None]
    winner, loser = _pair(ctx, model)
    before = _rows(rt, model)
    resp = client.post(f"/api/v1/customers/{winner.id}/merge", json={"loser_id": loser.id},
                       headers={**admin_headers, "Accept-Language": lang})
    assert resp.status_code == 409
    message = resp.get_json()["message"]
    for word in words:
        assert word in message, message
    assert "UNIQUE" not in message.upper() and "constraint" not in message
    assert _rows(rt, model) == before
    s = rt.db.new_session()
    assert s.get(Customer, loser.id).merged_into_id is None
    s.close()


def test_without_a_clash_no_policy_is_needed(client: Any, ctx: Any, rt: Any, admin_headers: dict[str, str]) -> None:
    model = LEDGERS[None]
    winner, loser = _customers(ctx)
    _book(ctx, model, winner, 2024, "10.00")
    _book(ctx, model, loser, 2026, "7.25")
    resp = client.post(f"/api/v1/customers/{winner.id}/merge", json={"loser_id": loser.id}, headers=admin_headers)
    assert resp.status_code == 200, resp.get_json()
    assert _books(rt, model, winner) == {2024: "10.00", 2026: "7.25"}


EXPECTED = {
    "keep_winner": ({2024: "10.00", 2025: "20.00", 2026: "7.25"}, 1),
    "keep_loser": ({2024: "10.00", 2025: "5.50", 2026: "7.25"}, 1),
    "drop_derived": ({2024: "10.00", 2025: "20.00"}, 2),
}


@pytest.mark.parametrize("policy", POLICIES)
def test_declared_policy_decides_and_undo_restores(client: Any, ctx: Any, rt: Any, admin_headers: dict[str, str],
                                                   policy: str) -> None:
    model = LEDGERS[policy]
    winner, loser = _pair(ctx, model)
    before = _rows(rt, model)
    resp = client.post(f"/api/v1/customers/{winner.id}/merge", json={"loser_id": loser.id}, headers=admin_headers)
    assert resp.status_code == 200, resp.get_json()
    books, removed = EXPECTED[policy]
    assert _books(rt, model, winner) == books
    assert _books(rt, model, loser) == {}
    assert resp.get_json()["removed"] == {model.__tablename__: removed}
    # the audit entry keeps the removed rows for undo; the event (and webhooks) only their count
    s = rt.db.new_session()
    entry = s.get(AuditLog, resp.get_json()["audit_id"])
    assert [len(r["rows"]) for r in entry.data["removed"]] == [removed]
    s.close()
    [event] = LedgerPlugin.events
    assert event.data["removed"] == [{"table": model.__tablename__, "count": removed}]
    undo = client.post(f"/api/v1/customers/merges/{resp.get_json()['audit_id']}/undo", headers=admin_headers)
    assert undo.status_code == 200, undo.get_json()
    assert _rows(rt, model) == before  # same ids, customers, amounts, dates and times


def test_undo_puts_a_removed_row_back_even_when_its_id_was_reused(ctx: Any, rt: Any) -> None:
    from crmcore.services import dedupe

    model = LEDGERS["drop_derived"]
    winner, loser = _pair(ctx, model)
    summary = dedupe.merge_customers(ctx, winner.id, loser.id)
    newest = _book(ctx, model, winner, 2030, "1.00")  # SQLite may hand out the dropped row's id again
    dedupe.unmerge(ctx, summary["audit_id"])
    assert _books(rt, model, loser) == {2025: "5.50", 2026: "7.25"}
    assert _books(rt, model, winner) == {2024: "10.00", 2025: "20.00", 2030: "1.00"}
    s = rt.db.new_session()
    assert s.get(model, newest).year == 2030
    assert s.scalar(select(AuditLog).where(AuditLog.action == "unmerged")) is not None
    s.close()


def test_an_unknown_policy_fails_at_start_up_naming_plugin_and_table(make_app: Any) -> None:
    odd = type("LedgerOdd", (Base,), {
        "__tablename__": "ledger_odd", "__table_args__": ({"info": {"merge_policy": "keep_both"}},),
        "__annotations__": {"id": Mapped[intpk], "customer_id": Mapped[int]},
        "customer_id": mapped_column(ForeignKey("customers.id")),
    })

    class Odd:
        @hookimpl
        def crm_register_models(self) -> list[type]:
            return [odd]

    try:
        with pytest.raises(PluginError, match="'oddball'.*keep_both.*ledger_odd"):
            make_app(plugins=[("oddball", Odd())])
    finally:
        Base.metadata.remove(odd.__table__)


def test_tables_keyed_by_the_customer_itself_merge_by_their_policy_and_undo(ctx: Any, rt: Any) -> None:
    from crmcore.services import dedupe

    winner, loser = _customers(ctx)
    for cid, year in ((winner.id, 2024), (winner.id, 2025), (loser.id, 2025), (loser.id, 2026)):
        ctx.session.add(YearTotal(customer_id=cid, year=year, closed_on=dt.date(year, 12, cid % 28 + 1)))
    ctx.session.add_all([Balance(customer_id=winner.id, points=10), Balance(customer_id=loser.id, points=7)])
    ctx.session.commit()

    def state() -> tuple[set[tuple[Any, ...]], set[tuple[int, int]]]:
        s = rt.db.new_session()
        try:
            return ({(t.customer_id, t.year, t.closed_on) for t in s.scalars(select(YearTotal))},
                    {(b.customer_id, b.points) for b in s.scalars(select(Balance))})
        finally:
            s.close()

    before = state()
    summary = dedupe.merge_customers(ctx, winner.id, loser.id)
    totals, balances = state()
    w, lo = winner.id, loser.id
    assert totals == {(w, 2024, dt.date(2024, 12, w % 28 + 1)), (w, 2025, dt.date(2025, 12, lo % 28 + 1)),
                      (w, 2026, dt.date(2026, 12, lo % 28 + 1))}  # keep_loser: the loser's 2025 replaced the winner's
    assert balances == {(w, 10)}  # keep_winner
    assert summary["removed"] == {"ledger_year_totals": 1, "ledger_balances": 1}
    dedupe.unmerge(ctx, summary["audit_id"])
    assert state() == before


def test_a_plugin_merge_hook_breaking_a_unique_key_is_refused_naming_the_plugin(make_app: Any, rt: Any,
                                                                               admin_headers: dict[str, str]) -> None:
    """A plugin that moves rows itself (a customer id without a foreign key) and breaks a unique key."""
    from sqlalchemy import update

    class ShopAccount(Base):
        __tablename__ = "shop_accounts_merge_test"
        __table_args__ = (UniqueConstraint("customer_ref", "shop"),)

        id: Mapped[intpk]
        customer_ref: Mapped[int]
        shop: Mapped[str] = mapped_column(String(20))

    class Shop:
        @hookimpl
        def crm_register_models(self) -> list[type]:
            return [ShopAccount]

        @hookimpl
        def crm_customer_merge(self, ctx: Any, winner: Any, loser: Any) -> list[Any]:
            ctx.session.execute(update(ShopAccount).where(ShopAccount.customer_ref == loser.id)
                                .values(customer_ref=winner.id))
            return []

    try:
        app = make_app(plugins=[("shop", Shop())])
        ctx = app.extensions["crm"].context(source="test")
        winner, loser = _customers(ctx)
        ctx.session.add_all([ShopAccount(customer_ref=winner.id, shop="tmall"),
                             ShopAccount(customer_ref=loser.id, shop="tmall")])
        ctx.session.commit()
        resp = app.test_client().post(f"/api/v1/customers/{winner.id}/merge", json={"loser_id": loser.id},
                                      headers={**admin_headers, "Accept-Language": "en"})
        assert resp.status_code == 409
        message = resp.get_json()["message"]
        assert "plugin shop could not move its records" in message and "UNIQUE" not in message.upper()
    finally:
        Base.metadata.remove(ShopAccount.__table__)
