"""Scheduled reports: when each is due (daily, weekly on a day, monthly on a day, at a time of the company's
time zone) and the mail that carries it as a table and a chart to each reader, in the reader's language and
under the reader's record rules. Run by the ``reports.send`` job."""
from __future__ import annotations

import contextlib
import datetime as dt
import smtplib
from email.message import EmailMessage
from email.utils import formataddr
from typing import Iterator
from zoneinfo import ZoneInfo

from markupsafe import escape
from sqlalchemy import or_, select

from crmcore.errors import RetriableAdapterError
from crmcore.i18n import _
from crmcore.models import User
from crmcore.runtime import ServiceContext

from ..models import Report, ReportShare
from . import definition, query, render


def latest_slot(report: Report, now: dt.datetime, zone: str) -> dt.datetime | None:
    """The latest moment at or before ``now`` (UTC) the report was due to be sent, or None (no schedule)."""
    if report.schedule not in ("daily", "weekly", "monthly"):
        return None
    tz = ZoneInfo(zone)
    local = now.astimezone(tz)
    hour, minute = (int(p) for p in (report.schedule_time or "08:00").split(":"))
    day = local.date()
    for _back in range(62):  # a monthly slot is at most two months back
        if (report.schedule == "daily" or (report.schedule == "weekly" and day.weekday() == report.schedule_weekday)
                or (report.schedule == "monthly" and day.day == report.schedule_day)):
            slot = dt.datetime.combine(day, dt.time(hour, minute), tz)
            if slot <= local:
                return slot.astimezone(dt.timezone.utc)
        day -= dt.timedelta(days=1)
    return None


def due(ctx: ServiceContext, now: dt.datetime) -> list[Report]:
    """The reports whose latest slot has passed since they were last sent (or since they were scheduled)."""
    zone = query.zone_of(ctx)
    out = []
    for report in ctx.session.scalars(select(Report).where(Report.schedule != "none").order_by(Report.id)):
        slot = latest_slot(report, now, zone)
        since = report.last_sent_at or report.updated_at
        if slot is not None and since < slot:
            out.append(report)
    return out


def recipients(ctx: ServiceContext, report: Report) -> list[User]:
    """The active users with an e-mail address the report is shared with (directly or by role), and its owner."""
    shares = select(ReportShare).where(ReportShare.report_id == report.id).subquery()
    stmt = select(User).where(User.active.is_(True), User.email.is_not(None), User.email != "", or_(
        User.id == report.owner_id, User.id.in_(select(shares.c.user_id)), User.role_id.in_(select(shares.c.role_id))))
    return list(ctx.session.scalars(stmt.order_by(User.id)))


@contextlib.contextmanager
def _language(locale: str | None) -> Iterator[None]:
    from flask import has_app_context
    from flask_babel import force_locale

    if not has_app_context():
        yield
        return
    with force_locale(locale or "en"):
        yield


def mail_for(ctx: ServiceContext, report: Report, user: User) -> EmailMessage:
    """The report as the reader sees it (their record rules), in their language: an HTML table and an SVG chart."""
    reader = ServiceContext(session=ctx.session, runtime=ctx.runtime, actor=user, source="scheduler")
    with _language(user.locale or ctx.settings.get("DEFAULT_LOCALE")):
        result = query.run(reader, definition.definition_of(report), report.name)
        rows = render.table_rows(result)
        head = "".join(f"<th>{escape(h)}</th>" for h in rows[0])
        body = "".join("<tr>" + "".join(f"<td>{escape(render._fmt(v))}</td>" for v in row) + "</tr>" for row in rows[1:])
        chart = render.svg(result, report.display if report.display in ("bar", "stacked_bar", "line", "pie") else "bar")
        note = escape(_("Only the first %(n)s rows are shown.", n=result.limit)) if result.truncated else ""
        subject = str(_("Report: %(name)s", name=report.name))
        html = (f"<html><body><h2>{escape(report.name)}</h2>{chart}<table border='1' cellpadding='4'>"
                f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table><p>{note}</p>"
                f"<p>{escape(_('Amounts in %(currency)s.', currency=result.currency))}</p></body></html>")
        text = "\n".join("\t".join(render._fmt(v) for v in row) for row in rows)
        mail = EmailMessage()
        mail["From"] = formataddr((str(_("CRM reports")), str(ctx.settings.get("REPORTS_MAIL_FROM") or "crm@localhost")))
        mail["To"] = formataddr((user.full_name or user.username, str(user.email)))
        mail["Subject"] = subject
        mail["Auto-Submitted"] = "auto-generated"
        mail["Content-Language"] = "zh-CN" if (user.locale or "").startswith("zh") else "en"
        mail.set_content(text + "\n")
        mail.add_alternative(html, subtype="html")
    return mail


def send(ctx: ServiceContext, mail: EmailMessage) -> None:
    """Hand one message to the SMTP server of the settings ``REPORTS_SMTP_HOST`` / ``_PORT`` (and login)."""
    host = str(ctx.settings["REPORTS_SMTP_HOST"])
    port = int(ctx.settings.get("REPORTS_SMTP_PORT") or 25)
    try:
        with smtplib.SMTP(host, port, timeout=30) as smtp:
            if str(ctx.settings.get("REPORTS_SMTP_STARTTLS") or "").lower() in ("1", "true", "yes"):
                smtp.starttls()
            if ctx.settings.get("REPORTS_SMTP_USER"):
                smtp.login(str(ctx.settings["REPORTS_SMTP_USER"]), str(ctx.settings.get("REPORTS_SMTP_PASSWORD") or ""))
            smtp.send_message(mail)
    except (OSError, smtplib.SMTPException) as exc:  # retried at the next run; the message names no secret
        raise RetriableAdapterError(f"SMTP {host}:{port} failed: {type(exc).__name__}") from None


def send_due(ctx: ServiceContext, now: dt.datetime | None = None) -> dict[str, int]:
    """Send every due report to each of its readers, then mark it sent; nothing when mail is not configured."""
    if not ctx.settings.get("REPORTS_SMTP_HOST"):
        return {"reports": 0, "mails": 0}
    now = now or dt.datetime.now(dt.timezone.utc)
    reports = due(ctx, now)
    mails = 0
    for i, report in enumerate(reports):
        for user in recipients(ctx, report):
            send(ctx, mail_for(ctx, report, user))
            mails += 1
        report.last_sent_at = now
        ctx.session.commit()
        ctx.report_progress(i + 1, len(reports))
    return {"reports": len(reports), "mails": mails}
