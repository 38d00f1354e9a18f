"""Scheduled reports: when a report is due, the mail each reader gets (their language, their records, a table and a
chart) through the ``reports.send`` job and a real SMTP server, sent once per slot; and ``crm report run``."""
from __future__ import annotations

import datetime as dt

import pytest

UTC = dt.timezone.utc
REVENUE = {"name": "省份营收", "entity": "order", "measures": [{"agg": "sum", "field": "total"}],
           "group_by": [{"field": "customer.province"}], "display": "bar"}


@pytest.mark.parametrize("schedule, now, slot", [
    ({"schedule": "daily", "schedule_time": "08:00"}, "2026-03-04T01:00", "2026-03-04T00:00"),  # 08:00 Shanghai
    ({"schedule": "daily", "schedule_time": "08:00"}, "2026-03-03T23:59", "2026-03-03T00:00"),
    ({"schedule": "weekly", "schedule_weekday": 0, "schedule_time": "09:30"}, "2026-03-06T00:00", "2026-03-02T01:30"),
    ({"schedule": "monthly", "schedule_day": 28, "schedule_time": "00:00"}, "2026-03-10T00:00", "2026-02-27T16:00"),
])
def test_latest_slot_in_the_company_time_zone(schedule, now, slot):
    from plugins.reports.models import Report
    from plugins.reports.services.schedule import latest_slot

    report = Report(**{"schedule_weekday": 0, "schedule_day": 1, **schedule})
    found = latest_slot(report, dt.datetime.fromisoformat(now).replace(tzinfo=UTC), "Asia/Shanghai")
    assert found == dt.datetime.fromisoformat(slot).replace(tzinfo=UTC)


@pytest.fixture
def mailing(rt, smtp_server):
    inbox, port = smtp_server
    rt.settings.update(REPORTS_SMTP_HOST="127.0.0.1", REPORTS_SMTP_PORT=str(port), REPORTS_MAIL_FROM="bi@shop.example")
    return inbox


def test_the_job_mails_each_reader_their_rows_in_their_language(app, rt, ctx, shop, mailing, run_job):
    from crmcore.services import users as user_svc
    from plugins.reports.models import Report
    from plugins.reports.services import schedule, store

    bob = ctx.session.get(type(shop["bob"]), shop["bob"].id)
    bob.email, bob.locale = "bob@shop.example", "en"
    boss = user_svc.create_user(ctx, "boss", None, "manager", email="boss@shop.example", team="East")
    boss.locale = "zh_CN"
    ctx.session.commit()
    report = store.create_report(ctx, {**REVENUE, "schedule": "daily", "schedule_time": "08:00",
                                       "shares": [{"user": "bob"}, {"user": "boss"}]})
    ctx.session.get(Report, report.id).updated_at = dt.datetime(2026, 3, 1, tzinfo=UTC)
    ctx.session.commit()
    with app.app_context():
        sent = schedule.send_due(rt.context(source="scheduler", session=rt.db.new_session()),
                                 dt.datetime(2026, 3, 4, 1, 0, tzinfo=UTC))
    assert sent == {"reports": 1, "mails": 2}
    by_to = {m["To"].addresses[0].addr_spec: m for m in mailing.messages}
    zh, en = by_to["boss@shop.example"], by_to["bob@shop.example"]
    assert zh["Subject"] == "报表：省份营收" and en["Subject"] == "Report: 省份营收"
    zh_html = zh.get_body(("html",)).get_content()
    en_html = en.get_body(("html",)).get_content()
    assert "<svg" in zh_html and "浙江省" in zh_html and "广东省" in zh_html and "金额单位" in zh_html
    assert "广东省" in en_html and "浙江省" not in en_html  # bob owns only the Guangdong customer
    with app.app_context():  # the same slot is not sent twice
        again = schedule.send_due(rt.context(source="scheduler", session=rt.db.new_session()),
                                  dt.datetime(2026, 3, 4, 2, 0, tzinfo=UTC))
    assert again == {"reports": 0, "mails": 0}
    assert run_job("reports.send").last_status == "ok"


def test_cli_runs_a_report_by_name(app, ctx, shop):
    from plugins.reports.cli import report as cli
    from plugins.reports.services import store

    store.create_report(ctx, {**REVENUE, "shares": [{"user": "bob"}]})
    runner = app.test_cli_runner()
    table = runner.invoke(cli, ["run", "省份营收"])
    assert table.exit_code == 0, table.output
    lines = table.output.splitlines()
    assert "浙江省" in table.output and lines[1].startswith("---")
    csv = runner.invoke(cli, ["run", "省份营收", "--format", "csv", "--user", "bob"])
    assert csv.exit_code == 0 and csv.output.splitlines()[1:] == ["广东省,70.00"]
    missing = runner.invoke(cli, ["run", "nope"])
    assert missing.exit_code != 0 and "nope" in missing.output
