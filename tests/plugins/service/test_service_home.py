"""The agent's home page lists my open tickets near their SLA (late ones first and marked), linked
to the ticket's page; tickets far from their SLA and other agents' tickets are not listed."""
from __future__ import annotations

import datetime as dt

from crmcore.testing.admin import admin_login
from plugins.service.services import sla, tickets


def test_home_lists_my_tickets_near_their_sla(app, ctx, make_user, make_customer):
    agent, _ = make_user("service", username="agent")
    other, _ = make_user("service", username="other")
    sla.save_policy(ctx, {"name": "Normal", "priority": "normal", "first_response_minutes": 60,
                          "resolution_minutes": 600})
    sla.save_policy(ctx, {"name": "Low", "priority": "low", "first_response_minutes": 6000,
                          "resolution_minutes": 60000})
    now = dt.datetime.now(dt.timezone.utc)
    home = make_customer("Home")
    late = tickets.create_ticket(ctx, {"subject": "Late one", "customer_id": home.id, "assignee_id": agent.id},
                                 now=now - dt.timedelta(days=3))
    soon = tickets.create_ticket(ctx, {"subject": "Due soon", "customer_id": home.id, "assignee_id": agent.id})
    tickets.create_ticket(ctx, {"subject": "Plenty of time", "customer_id": home.id, "assignee_id": agent.id,
                                "priority": "low"})
    tickets.create_ticket(ctx, {"subject": "Not mine", "customer_id": home.id, "assignee_id": other.id})
    page = admin_login(app.test_client(), "agent", lang="en").get("/admin/").text
    panel = page[page.index('data-panel="service_sla"'):]
    panel = panel[:panel.index("</ul>")]
    assert "My tickets near their SLA (2)" in panel
    assert panel.index("Late one") < panel.index("Due soon")  # the most urgent first
    assert "Plenty of time" not in panel and "Not mine" not in panel
    assert f'href="/admin/service/queue/ticket/{late.id}"' in panel
    assert f'href="/admin/service/queue/ticket/{soon.id}"' in panel
    late_item = panel[:panel.index("Due soon")]
    assert "crm-late" in late_item and "late " in late_item
    assert "crm-late" not in panel[panel.index("Late one"):] and "left" in panel[panel.index("Due soon"):]
