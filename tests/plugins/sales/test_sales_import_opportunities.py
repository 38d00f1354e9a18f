"""Import of opportunities by their number in the system they come from: customers by code, stages and
owners by name, the stage history kept as the service keeps it."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from crmcore.errors import PermissionDenied
from crmcore.imports import ImportOptions
from crmcore.imports.driver import get_kind, import_rows
from crmcore.models import AuditLog
from plugins.sales.models import Opportunity, StageHistory
from plugins.sales.services.stages import ensure_stages


def load(ctx: Any, rows: list[Any], **options: Any) -> list[Any]:
    """Import ``rows`` as the bulk API does (the driver, one transaction per batch)."""
    return import_rows(ctx, get_kind(ctx, "opportunities"), rows, ImportOptions(**options))


def statuses(results: list[Any]) -> list[str]:
    return [r.status for r in results]


@pytest.fixture
def setup(ctx: Any, make_customer: Any, make_rep: Any) -> dict[str, Any]:
    ensure_stages(ctx)
    rep = make_rep("rep_a")
    return {"rep": rep, "acme": make_customer("Acme", rep, code="C-1", currency="USD")}


ROWS = [{"number": "OPP-1", "name": "Pumps for Acme", "customer_code": "C-1", "amount": "5000", "owner": "rep_a"},
        {"number": "OPP-2", "name": "Valves", "customer_code": "C-1", "stage": "Negotiation", "probability": "70",
         "expected_close_date": "2026-06-30"}]


def test_opportunities_created_updated_unchanged(ctx: Any, setup: dict[str, Any]) -> None:
    results = load(ctx, ROWS)
    assert statuses(results) == ["created", "created"]
    one, two = (ctx.session.get(Opportunity, r.id) for r in results)
    assert (one.stage.name, one.currency, one.amount, one.owner_id) == ("Visit", "USD", Decimal("5000.00"),
                                                                        setup["rep"].id)
    assert (two.stage.name, two.probability, one.probability) == ("Negotiation", 70, one.stage.probability)
    assert ctx.session.scalar(select(func.count()).select_from(StageHistory)) == 2
    assert statuses(load(ctx, ROWS)) == ["unchanged", "unchanged"]
    moved = load(ctx, [dict(ROWS[0], stage="Won"), dict(ROWS[1], amount="10")])
    assert statuses(moved) == ["updated", "updated"]
    ctx.session.expire_all()
    assert (one.status, one.probability, two.amount) == ("won", 100, Decimal("10.00"))
    stays = ctx.session.scalars(select(StageHistory).where(StageHistory.opportunity_id == one.id)
                                .order_by(StageHistory.id)).all()
    assert [(s.stage.name, s.left_at is not None) for s in stays] == [("Visit", True), ("Won", False)]
    actions = ctx.session.scalars(select(AuditLog.action).where(AuditLog.entity == "opportunity")
                                  .order_by(AuditLog.id)).all()
    assert actions == ["created", "created", "updated", "updated"]


def test_bad_opportunities_are_rejected_alone(ctx: Any, setup: dict[str, Any]) -> None:
    rows = [dict(ROWS[0], customer_code="NOPE"), dict(ROWS[0], number="OPP-3", stage="Dreaming"),
            dict(ROWS[0], number="OPP-4", probability="140"), dict(ROWS[0], number="OPP-5", stage="Lost"),
            dict(ROWS[0], number="OPP-6", owner="nobody"), {"number": "OPP-7", "customer_code": "C-1"}, ROWS[1]]
    results = load(ctx, rows)
    assert statuses(results) == ["rejected"] * 6 + ["created"]
    assert results[0].errors == {"customer_code": ["No customer has the code 'NOPE'."]}
    assert results[1].errors == {"stage": ["No stage is called 'Dreaming'."]}
    assert "probability" in results[2].errors and "lost_reason" in results[3].errors
    assert "owner" in results[4].errors and "name" in results[5].errors
    created = load(ctx, [dict(ROWS[1], customer_code="C-1")])
    assert statuses(created) == ["unchanged"]
    other = load(ctx, [{"number": "OPP-2", "customer_code": "C-9"}])
    assert statuses(other) == ["rejected"]


def test_only_managers_import_opportunities(rt: Any, setup: dict[str, Any], make_user: Any) -> None:
    rep, _headers = make_user("sales")
    with pytest.raises(PermissionDenied):
        load(rt.context(actor=rep, source="test"), ROWS)


def test_new_opportunities_are_written_by_one_insert_per_batch(ctx: Any, setup: dict[str, Any], rt: Any) -> None:
    """A batch's new opportunities go in by one statement (a flush sent one per opportunity), with their ids,
    versions and timestamps as the service gives them."""
    from sqlalchemy import event

    inserts: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO SALES_OPPORTUNITIES"):
            inserts.append(statement)

    rows = [{"number": f"OPP-{n}", "name": f"机会 {n}", "customer_code": "C-1", "amount": str(100 + n)} for n in range(40)]
    event.listen(rt.db.engine, "before_cursor_execute", seen)
    try:
        results = load(ctx, rows)
    finally:
        event.remove(rt.db.engine, "before_cursor_execute", seen)
    assert statuses(results) == ["created"] * 40 and len(inserts) == 1
    made = {o.id: o for o in ctx.session.scalars(select(Opportunity))}
    assert sorted(made) == sorted(r.id for r in results)
    for n, r in enumerate(results):
        opp = made[r.id]
        assert (opp.name, opp.amount, opp.version, opp.stage.name) == (f"机会 {n}", Decimal(100 + n), 1, "Visit")
        assert opp.created_at is not None and opp.updated_at is not None
    assert ctx.session.scalar(select(func.count()).select_from(StageHistory)) == 40
