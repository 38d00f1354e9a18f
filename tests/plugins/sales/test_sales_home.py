"""The rep's home page: my activities due today and overdue (late ones marked), my open
opportunities by stage with their amounts, linked to my board; nobody else's."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from crmcore.db import utcnow
from crmcore.testing.admin import admin_login
from plugins.sales.services import activities, opportunities


def test_home_shows_my_day(app, ctx, make_user, make_customer):
    rep, _ = make_user("sales", team="East", username="rep_a")
    # "due today" is the rep's day: a zone where it is not about to end, so "in a minute" is still today
    rep.timezone = next(z for z in ("Asia/Shanghai", "Europe/London", "America/New_York")
                        if dt.time(0, 10) < utcnow().astimezone(ZoneInfo(z)).time() < dt.time(23, 50))
    other, _ = make_user("sales", team="East", username="rep_b")
    acme = make_customer("Acme", rep)
    now = utcnow()
    for subject, owner, due in (("Call back Acme", rep, now - dt.timedelta(hours=2)),
                                ("Send the offer", rep, now + dt.timedelta(minutes=1)),
                                ("Next month", rep, now + dt.timedelta(days=40)),
                                ("Not mine", other, now - dt.timedelta(hours=1))):
        activities.create_activity(ctx, {"kind": "call", "subject": subject, "customer_id": acme.id,
                                         "owner_id": owner.id, "due_at": due.isoformat()})
    for name, amount in (("Deal one", "1000"), ("Deal two", "500")):
        opportunities.create_opportunity(ctx, {"name": name, "customer_id": acme.id, "owner_id": rep.id,
                                               "amount": amount})
    opportunities.create_opportunity(ctx, {"name": "Their deal", "customer_id": acme.id, "owner_id": other.id,
                                           "amount": "9999"})
    page = admin_login(app.test_client(), "rep_a", lang="en").get("/admin/").text
    todo = page[page.index('data-panel="sales_activities"'):page.index('data-panel="sales_pipeline"')]
    assert "My activities due and overdue (2)" in todo
    assert "Call back Acme" in todo and "Send the offer" in todo
    assert "Next month" not in todo and "Not mine" not in todo
    late = todo[todo.index("Call back Acme") - 300:todo.index("Call back Acme")]
    assert "crm-late" in late  # overdue is marked
    assert "crm-late" not in todo[todo.index("Call back Acme"):todo.index("Send the offer")][-300:]
    pipeline = page[page.index('data-panel="sales_pipeline"'):]
    pipeline = pipeline[:pipeline.index("</ul>")]
    assert "(2)" in pipeline and "1,500.00" in pipeline and "9,999" not in pipeline
    assert f"/admin/sales/board/?owner_id={rep.id}" in pipeline
