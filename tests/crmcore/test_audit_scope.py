"""The audit log follows record rules: a team manager reads the entries of the team's customers (and
of their contacts and interactions, deleted ones included), never another team's before/after
values; entries of entity types without record rules need their permission (users: user.manage)."""
from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from crmcore.models import AuditLog
from crmcore.services import contacts, customers, interactions
from crmcore.testing import admin_login

SECRET = "west-secret-value"


def _login(app: Any, username: str) -> Any:
    return admin_login(app.test_client(), username)


def _world(rt: Any, make_user: Any) -> dict[str, Any]:
    east_rep, _ = make_user("sales", team="East", username="east_rep")
    west_rep, _ = make_user("sales", team="West", username="west_rep")
    make_user("manager", team="East", username="east_boss")
    make_user("analyst", username="ana")
    ctx = rt.context(source="test")
    east = customers.create_customer(ctx, {"name": "East Client", "owner_id": east_rep.id, "notes": "east-note"})
    west = customers.create_customer(ctx, {"name": "West Client", "owner_id": west_rep.id, "notes": SECRET})
    customers.update_customer(ctx, west.id, {"notes": SECRET + "-2"})
    contact = contacts.create_contact(ctx, west.id, {"name": "West Person", "email": "w@example.com"})
    contacts.delete_contact(ctx, contact.id)
    interactions.log_interaction(ctx, west.id, {"channel": "phone", "direction": "outbound", "subject": SECRET})
    east_contact = contacts.create_contact(ctx, east.id, {"name": "East Person"})
    contacts.delete_contact(ctx, east_contact.id)
    gone = customers.create_customer(ctx, {"name": "East Gone", "owner_id": east_rep.id})
    customers.delete_customer(ctx, gone.id)
    ids = {"east": east.id, "west": west.id, "gone": gone.id}
    entries = {(e.entity, e.entity_id): e.id for e in ctx.session.scalars(select(AuditLog).order_by(AuditLog.id))}
    # contact ids may be reused after a delete (SQLite): find their entries by customer
    for e in ctx.session.scalars(select(AuditLog).where(AuditLog.entity == "contact")):
        entries[("contact of", e.data["customer_id"])] = e.id
    ctx.session.close()
    return {"ids": ids, "entries": entries}


def test_team_manager_reads_only_the_teams_audit_entries(app: Any, rt: Any, make_user: Any) -> None:
    world = _world(rt, make_user)
    ids, entries = world["ids"], world["entries"]
    boss = _login(app, "east_boss")
    page = boss.get("/admin/audit_log/?page_size=100")
    assert page.status_code == 200
    assert SECRET not in page.text and "West Person" not in page.text
    assert "east-note" in page.text  # the team's own customer
    west_entry = entries[("customer", str(ids["west"]))]
    assert boss.get(f"/admin/audit_log/details/?id={west_entry}").status_code == 404
    east_entry = entries[("customer", str(ids["east"]))]
    assert boss.get(f"/admin/audit_log/details/?id={east_entry}").status_code == 200
    gone_entry = entries[("customer", str(ids["gone"]))]  # its deletion: a deleted customer follows its owner
    assert boss.get(f"/admin/audit_log/details/?id={gone_entry}").status_code == 200
    # a deleted contact's entries follow its customer
    assert boss.get(f"/admin/audit_log/details/?id={entries[('contact of', ids['east'])]}").status_code == 200
    assert boss.get(f"/admin/audit_log/details/?id={entries[('contact of', ids['west'])]}").status_code == 404
    interaction = [i for (entity, _), i in entries.items() if entity == "interaction"]
    assert interaction and boss.get(f"/admin/audit_log/details/?id={interaction[0]}").status_code == 404


def test_entries_without_record_rules_need_their_permission(app: Any, rt: Any, make_user: Any) -> None:
    world = _world(rt, make_user)
    ana = _login(app, "ana")  # scope all, audit.read, but not user.manage
    page = ana.get("/admin/audit_log/?page_size=100")
    assert page.status_code == 200 and SECRET in page.text  # every customer: the analyst's scope is all
    user_entries = [i for (entity, _), i in world["entries"].items() if entity == "user"]
    assert user_entries and all(ana.get(f"/admin/audit_log/details/?id={i}").status_code == 404 for i in user_entries)
    admin = make_user("admin", username="root")
    root = _login(app, "root")
    assert admin and all(root.get(f"/admin/audit_log/details/?id={i}").status_code == 200 for i in user_entries)


@pytest.mark.parametrize("role", ["manager", "sales", "service", "analyst"])
def test_every_plugins_audit_rules_compile(make_app: Any, make_user: Any, role: str) -> None:
    """With the built-in plugins loaded, each default role's audit log runs every plugin's rule."""
    from plugins.sales.services.catalog import create_product
    from plugins.sales.services.opportunities import create_opportunity  # noqa: F401 - the plugin's tables

    app = make_app(PLUGINS=["plugins.sales", "plugins.service", "plugins.analysis"])
    rt = app.extensions["crm"]
    _world(rt, make_user)
    ctx = rt.context(source="test")
    create_product(ctx, {"code": "P-1", "name": "Widget", "list_price": "1.00"})
    from crmcore.models import Role

    for r in ctx.session.scalars(select(Role).where(Role.name.in_(["sales", "service"]))):
        r.permissions = sorted(set(r.permissions) | {"audit.read"})  # so their scope (own, all) is exercised too
    ctx.session.commit()
    ctx.session.close()
    make_user(role, team="East", username="reader")
    page = _login(app, "reader").get("/admin/audit_log/?page_size=100")
    assert page.status_code == 200
    assert ("Widget" in page.text) == (role in ("manager", "sales", "service", "analyst"))
    assert (SECRET in page.text) == (role in ("service", "analyst"))  # scope all; sales and manager: not West
