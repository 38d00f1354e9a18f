"""Demo service data for ``crm demo``: a Shanghai business-hours calendar, SLA policies, categories,
an assignment rule, follow-up rules, tickets in several states, a visit, a quality record,
deliveries and a CSAT answer. Idempotent; needs the core's demo users and customers."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import select

from crmcore.db import utcnow
from crmcore.models import Customer, User
from crmcore.runtime import ServiceContext

from ..models import Calendar, Survey
from . import assignment, categories, followups, logistics, quality, sla, surveys, tickets, visits

CALENDAR = "上海办公时间 Shanghai office"
WEEK = {str(d): [["09:00", "12:00"], ["13:00", "18:00"]] for d in range(1, 6)}
# An example holiday with make-up workdays (调休); enter each year's official schedule yourself.
DAYS = [{"day": f"2026-10-0{d}", "kind": "holiday"} for d in range(1, 8)] + [
    {"day": "2026-09-27", "kind": "workday"}, {"day": "2026-10-10", "kind": "workday"}]
POLICIES = [("紧急 Urgent", "urgent", None, 30, 240), ("高 High", "high", None, 60, 480),
            ("普通 Normal", "normal", None, 120, 960), ("低 Low", "low", None, 480, 2400),
            ("A 级客户 Normal", "normal", "A", 60, 480)]
CATEGORIES = [("安装 Installation", "request"), ("维修 Repair", "incident"), ("咨询 Question", "question"),
              ("投诉 Complaint", "complaint")]
TICKETS = [
    ("ZS001", "维修 Repair", "high", "收银系统打印机无法联网", "门店收银台的小票打印机从昨天开始无法连接网络。", "in_progress"),
    ("HZ001", "投诉 Complaint", "normal", "到货包装破损", "本周到货的 20 箱茶叶中有 3 箱外包装破损。", "waiting_on_customer"),
    ("SH002", "咨询 Question", "low", "发票抬头变更", "请问如何变更发票抬头？", "resolved"),
    ("BJ001", "安装 Installation", "normal", "新店货架安装", "新门店下周开业，需要上门安装货架。", "assigned"),
    ("EN001", "维修 Repair", "urgent", "Scanner firmware update fails", "The handheld scanners stop at 80%.", "new"),
]


def load_demo(ctx: ServiceContext) -> str:
    """Add the demo service data unless its calendar exists; return a one-line summary."""
    if ctx.session.scalar(select(Calendar.id).where(Calendar.name == CALENDAR)) is not None:
        return "Service demo data is already there."
    customers = {c.code: c for c in ctx.session.scalars(select(Customer).where(
        Customer.code.in_([t[0] for t in TICKETS])))}
    agent = ctx.session.scalar(select(User).where(User.username == "chenjing"))
    if len(customers) < len(TICKETS) or agent is None:
        return "Load the core demo first: crm demo"
    cal = sla.save_calendar(ctx, {"name": CALENDAR, "timezone": "Asia/Shanghai", "weekly": WEEK, "days": DAYS})
    for name, priority, level, first, resolution in POLICIES:
        sla.save_policy(ctx, {"name": name, "priority": priority, "customer_level": level,
                              "first_response_minutes": first, "resolution_minutes": resolution,
                              "calendar_id": cal.id})
    cats = {name: categories.save_category(ctx, {"name": name, "kind": kind}) for name, kind in CATEGORIES}
    assignment.save_rule(ctx, {"name": "客服轮流 Service team", "strategy": "round_robin", "member_ids": [agent.id]})
    followups.save_rule(ctx, {"name": "维修后回访 After repair", "trigger": "ticket", "offsets_days": [3, 30]})
    followups.save_rule(ctx, {"name": "购买后回访 After purchase", "trigger": "order", "offsets_days": [7, 90]})
    now = utcnow()
    made = []
    for i, (code, cat, priority, subject, text, state) in enumerate(TICKETS):
        customer = customers[code]
        t = tickets.create_ticket(ctx, {"subject": subject, "description": text, "priority": priority,
                                        "category_id": cats[cat].id, "customer_id": customer.id},
                                  channel=("email", "web", "phone", "phone", "email")[i],
                                  first_message={"body": text, "from_name": customer.name, "author": "customer"},
                                  now=now - dt.timedelta(days=5 - i, hours=3))
        if state in ("in_progress", "waiting_on_customer", "resolved"):
            tickets.add_message(ctx, t.id, {"body": "您好，我们已收到，正在处理。"}, now=now - dt.timedelta(days=4 - i))
            tickets.transition(ctx, t.id, "in_progress" if state != "waiting_on_customer" else state,
                               now=now - dt.timedelta(days=4 - i))
        if state == "resolved":
            tickets.transition(ctx, t.id, "resolved", now=now - dt.timedelta(days=1))
            survey = ctx.session.scalar(select(Survey).where(Survey.ticket_id == t.id))  # made on resolving
            surveys.answer(ctx, surveys.token_for(ctx, survey), 5, "处理很及时")
        made.append(t)
    tomorrow = (now + dt.timedelta(days=1)).astimezone(ZoneInfo("Asia/Shanghai")).replace(hour=10, minute=0, second=0,
                                                                                        microsecond=0)
    visits.schedule_visit(ctx, made[3].id, {"technician_id": agent.id, "window_start": tomorrow,
                                            "window_end": tomorrow + dt.timedelta(hours=3),
                                            "address": "北京市海淀区中关村大街27号"})
    quality.save_record(ctx, {"product_code": "DEMO-TEA-1", "product_name": "西湖龙井 250g", "ticket_id": made[1].id,
                              "quantity": 3, "severity": "major", "description": "外箱受潮破损",
                              "root_cause": "运输途中遇雨，外箱未覆膜"})
    for n in range(1, 4):
        logistics.record_delivery(ctx, {
            "order_number": f"DEMO-SO-{n}", "customer_id": customers["HZ001"].id, "carrier": "顺丰",
            "promised_dispatch_at": now - dt.timedelta(days=10 - n), "dispatched_at": now - dt.timedelta(days=10 - n, hours=-n),
            "promised_arrival_at": now - dt.timedelta(days=8 - n), "arrived_at": now - dt.timedelta(days=8 - n, hours=-2 * n),
            "damaged": n == 2, "completed": True, "lines": [{"product_code": "DEMO-TEA-1", "quantity": 20}]})
    return f"Service demo data: {len(made)} tickets, SLA policies on '{CALENDAR}', a visit, deliveries."

