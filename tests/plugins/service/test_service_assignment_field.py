"""Assignment rules (category, round robin, least loaded), field visits and the technician's day
list, after-sales follow-ups after a resolved ticket or a sales order."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from crmcore.errors import NotFound, PermissionDenied, ValidationError
from crmcore.models import Interaction
from plugins.service.models import FollowUp, Visit
from plugins.service.services import assignment, categories, followups, tickets, visits

SH = ZoneInfo("Asia/Shanghai")


def sh(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SH)


def test_round_robin_least_loaded_and_category_rules(ctx, make_staff):
    a, b, c = (make_staff(n) for n in ("agent_a", "agent_b", "agent_c"))
    repair = categories.save_category(ctx, {"name": "Repair", "kind": "incident"})
    billing = categories.save_category(ctx, {"name": "Billing", "kind": "question"})
    assignment.save_rule(ctx, {"name": "Everyone", "strategy": "round_robin", "member_ids": [a.id, b.id]})
    got = [tickets.create_ticket(ctx, {"subject": f"t{i}", "category_id": billing.id}).assignee_id for i in range(4)]
    assert got == [a.id, b.id, a.id, b.id]
    t = tickets.create_ticket(ctx, {"subject": "x", "category_id": billing.id})
    assert t.state == "assigned" and t.kind == "question"  # the category's kind
    # a category rule wins over the catch-all; least loaded picks whoever has fewest open tickets
    assignment.save_rule(ctx, {"name": "Repairs", "category_id": repair.id, "strategy": "least_loaded",
                               "member_ids": [a.id, c.id]})
    assert tickets.create_ticket(ctx, {"subject": "r1", "category_id": repair.id}).assignee_id == c.id
    assert tickets.create_ticket(ctx, {"subject": "r2", "category_id": repair.id}).assignee_id == c.id  # a has 3
    # resolved tickets do not count as load
    for t in tickets.list_tickets(ctx, assignee_id=a.id)[0]:
        tickets.transition(ctx, t.id, "resolved")
    assert tickets.create_ticket(ctx, {"subject": "r3", "category_id": repair.id}).assignee_id == a.id
    # an inactive member is skipped
    c.active = False
    ctx.session.commit()
    assert tickets.create_ticket(ctx, {"subject": "r4", "category_id": repair.id}).assignee_id == a.id
    with pytest.raises(ValidationError):
        assignment.save_rule(ctx, {"name": "Bad", "strategy": "random", "member_ids": [999]})


def test_visits_and_day_list(ctx, make_staff, as_user, make_customer):
    tech = make_staff("tech", "service")
    make_staff("tech2", "service")  # a second technician, with no visit
    t = tickets.create_ticket(ctx, {"subject": "Boiler", "customer_id": make_customer("Home").id})
    v1 = visits.schedule_visit(ctx, t.id, {"technician_id": tech.id, "window_start": sh(2026, 3, 2, 9),
                                           "window_end": sh(2026, 3, 2, 11), "address": "上海市浦东新区世纪大道 100 号"})
    visits.schedule_visit(ctx, t.id, {"technician_id": tech.id, "window_start": sh(2026, 3, 2, 14),
                                      "window_end": sh(2026, 3, 2, 16), "address": "B"})
    visits.schedule_visit(ctx, t.id, {"technician_id": tech.id, "window_start": sh(2026, 3, 3, 7),
                                      "window_end": sh(2026, 3, 3, 8), "address": "C"})
    with pytest.raises(ValidationError, match="already has a visit"):
        visits.schedule_visit(ctx, t.id, {"technician_id": tech.id, "window_start": sh(2026, 3, 2, 10),
                                          "window_end": sh(2026, 3, 2, 12), "address": "D"})
    with pytest.raises(ValidationError):
        visits.schedule_visit(ctx, t.id, {"technician_id": tech.id, "window_start": sh(2026, 3, 2, 12),
                                          "window_end": sh(2026, 3, 2, 11), "address": "E"})
    # the day list is by local day: 07:00 Shanghai on the 3rd is 23:00 UTC on the 2nd
    day = visits.day_list(as_user(tech), tech.id, dt.date(2026, 3, 2))
    assert [v.address for v in day] == ["上海市浦东新区世纪大道 100 号", "B"]
    assert [v.address for v in visits.day_list(ctx, tech.id, dt.date(2026, 3, 3))] == ["C"]
    # a technician (scope all for the service role) reports; a sales rep cannot
    done = visits.complete_visit(as_user(tech), v1.id, {"outcome": "换了压力阀",
                                                        "parts_used": [{"part": "VALVE-20", "quantity": 1}]})
    assert done.state == "done" and done.parts_used == [{"part": "VALVE-20", "quantity": "1", "note": ""}]
    with pytest.raises(ValidationError):
        visits.complete_visit(as_user(tech), v1.id, {"outcome": "again"})
    rep = make_staff("rep", "sales")
    with pytest.raises((PermissionDenied, NotFound)):
        visits.day_list(as_user(rep), tech.id, dt.date(2026, 3, 2))


def test_a_team_manager_sees_the_schedules_of_their_team_only(ctx, make_staff, as_user, make_customer):
    """Scope team: the day lists and the admin schedule hold the team's technicians, nobody else's."""
    east, west = make_staff("east_tech", "service", team="East"), make_staff("west_tech", "service", team="West")
    boss = make_staff("east_boss", "manager", team="East")
    assert as_user(boss).scope == "team"
    t = tickets.create_ticket(ctx, {"subject": "Boiler", "customer_id": make_customer("Home").id})
    for tech, hour in ((east, 9), (west, 13)):
        visits.schedule_visit(ctx, t.id, {"technician_id": tech.id, "window_start": sh(2026, 3, 2, hour),
                                          "window_end": sh(2026, 3, 2, hour + 1), "address": tech.username})
    assert [v.address for v in visits.day_list(as_user(boss), east.id, dt.date(2026, 3, 2))] == ["east_tech"]
    with pytest.raises(PermissionDenied):
        visits.day_list(as_user(boss), west.id, dt.date(2026, 3, 2))
    seen = ctx.session.scalars(visits.scope_visits(as_user(boss), select(Visit))).all()
    assert [v.address for v in seen] == ["east_tech"]
    assert len(ctx.session.scalars(visits.scope_visits(ctx, select(Visit))).all()) == 2


def test_followups_after_resolution_and_after_orders(ctx, make_customer, make_staff, as_user):
    followups.save_rule(ctx, {"name": "After repair", "trigger": "ticket", "offsets_days": [3, 30]})
    followups.save_rule(ctx, {"name": "After purchase", "trigger": "order", "offsets_days": [7]})
    rep = make_staff("rep", "sales")
    mine, other = make_customer("Mine", rep), make_customer("Other")
    t = tickets.create_ticket(ctx, {"subject": "x", "customer_id": mine.id})
    tickets.transition(ctx, t.id, "resolved", now=dt.datetime(2026, 3, 2, 8, tzinfo=dt.timezone.utc))
    items = ctx.session.scalars(select(FollowUp).order_by(FollowUp.due_at)).all()
    assert [(f.source, f.step, f.due_at.date()) for f in items] == [
        (f"ticket:{t.id}", 0, dt.date(2026, 3, 5)), (f"ticket:{t.id}", 1, dt.date(2026, 4, 1))]
    followups.schedule_for_order(ctx, "SO-1", other.id, dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc))
    followups.schedule_for_order(ctx, "SO-1", other.id, dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc))  # idempotent
    due = followups.due_list(ctx, before=dt.datetime(2026, 3, 10, tzinfo=dt.timezone.utc))
    assert [(f.customer_id, f.order_number) for f in due] == [(mine.id, None), (other.id, "SO-1")]
    # a rep sees the follow-ups of their own customers only
    rep_due = followups.due_list(as_user(rep), before=dt.datetime(2026, 3, 10, tzinfo=dt.timezone.utc))
    assert [f.customer_id for f in rep_due] == [mine.id]
    with pytest.raises(NotFound):
        followups.record_outcome(as_user(rep), due[1].id, "done")
    done = followups.record_outcome(as_user(rep), due[0].id, "done", "客户很满意")
    assert done.state == "done" and done.outcome == "客户很满意"
    assert ctx.session.scalar(select(Interaction).where(Interaction.entity_type == "service_followup")) is not None
    with pytest.raises(ValidationError):
        followups.record_outcome(ctx, due[0].id, "done")


def test_sales_orders_schedule_followups_when_sales_is_loaded(make_app, make_customer):
    app = make_app(PLUGINS=["plugins.sales", "plugins.service"])
    rt = app.extensions["crm"]
    ctx = rt.context(source="test")
    try:
        from plugins.sales.services.orders import record_order

        followups.save_rule(ctx, {"name": "After purchase", "trigger": "order", "offsets_days": [7, 90]})
        customer = make_customer("Buyer")
        record_order(ctx, {"number": "SO-42", "customer_id": customer.id, "order_date": dt.date(2026, 3, 1),
                           "total": "100.00", "currency": "CNY"})
        items = ctx.session.scalars(select(FollowUp).order_by(FollowUp.step)).all()
        assert [(f.order_number, f.step, f.customer_id) for f in items] == [("SO-42", 0, customer.id),
                                                                           ("SO-42", 1, customer.id)]
    finally:
        ctx.session.close()


def test_an_order_import_schedules_its_followups_with_a_query_per_batch(make_app, make_customer):
    """A bulk import's orders schedule their follow-ups together after the batch's commit: the rules, the
    customers and what is scheduled already are looked up once for the batch, not once per order."""
    from sqlalchemy import event

    from crmcore.imports import ImportOptions
    from crmcore.imports.driver import get_kind, import_rows
    from plugins.sales.services import catalog

    app = make_app(PLUGINS=["plugins.sales", "plugins.service"])
    rt = app.extensions["crm"]
    ctx = rt.context(source="test")
    statements: list[str] = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    try:
        followups.save_rule(ctx, {"name": "After purchase", "trigger": "order", "offsets_days": [7, 90]})
        customer = make_customer("Buyer", code="B-1")
        catalog.create_product(ctx, {"code": "P-1", "name": "Pump", "list_price": "10"})

        def rows(numbers):
            return [{"number": n, "customer_code": "B-1", "order_date": "2026-03-01", "product_code": "P-1",
                     "unit_price": "10"} for n in numbers]

        event.listen(rt.db.engine, "before_cursor_execute", record)
        try:
            results = import_rows(ctx, get_kind(ctx, "orders"), rows([f"SO-{n}" for n in range(12)]), ImportOptions())
        finally:
            event.remove(rt.db.engine, "before_cursor_execute", record)
        assert {r.status for r in results} == {"created"}
        items = ctx.session.scalars(select(FollowUp).order_by(FollowUp.order_number, FollowUp.step)).all()
        assert len(items) == 24 and {f.customer_id for f in items} == {customer.id}
        assert [(f.order_number, f.step) for f in items[:2]] == [("SO-0", 0), ("SO-0", 1)]
        rule_lookups = [s for s in statements if "FROM service_followup_rules" in s]
        assert len(rule_lookups) == 1, rule_lookups
        # again, with two new orders among known ones: only the new ones get follow-ups, none twice
        import_rows(ctx, get_kind(ctx, "orders"), rows(["SO-0", "SO-12", "SO-13"]), ImportOptions())
        assert ctx.session.scalar(select(func.count()).select_from(FollowUp)) == 28
    finally:
        ctx.session.close()
