"""Satisfaction: CSAT surveys after a resolved ticket and NPS surveys, answered through a token link;
scores per customer, agent and period."""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from typing import Any

from itsdangerous import BadData, URLSafeSerializer
from sqlalchemy import func, select

from crmcore.db import utcnow
from crmcore.errors import NotFound, ValidationError
from crmcore.events import record_change
from crmcore.i18n import _
from crmcore.services.customers import get_customer
from crmcore.services.unit import unit_of_work
from crmcore.services.validation import load
from crmcore.runtime import ServiceContext

from ..models import Survey, Ticket
from ..schemas import SurveyAnswerSchema

SCALES = {"csat": (1, 5), "nps": (0, 10)}
DEFAULT_DAYS = 30
_ANSWER = SurveyAnswerSchema()


def _serializer(ctx: ServiceContext) -> URLSafeSerializer:
    from crmcore.config import secret_key

    return URLSafeSerializer(secret_key(ctx.settings), salt="service-survey")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_for(ctx: ServiceContext, survey: Survey) -> str:
    """The survey's link token: signed with the app's secret key (only the CRM can make one)."""
    return str(_serializer(ctx).dumps({"s": survey.id, "k": survey.kind}))


def _new(ctx: ServiceContext, kind: str, customer_id: int | None, ticket: Ticket | None, now: dt.datetime) -> Survey:
    days = int(ctx.settings.get("SERVICE_SURVEY_DAYS") or DEFAULT_DAYS)
    survey = Survey(kind=kind, customer_id=customer_id, ticket_id=ticket.id if ticket else None,
                    agent_id=ticket.assignee_id if ticket else None, token_hash="pending-" + hashlib.sha1(
                        f"{kind}{customer_id}{now.timestamp()}{id(ticket)}".encode(),
                        usedforsecurity=False).hexdigest()[:40],
                    sent_at=now, expires_at=now + dt.timedelta(days=days))
    ctx.session.add(survey)
    ctx.session.flush()
    survey.token_hash = _hash(token_for(ctx, survey))
    record_change(ctx, "service_survey", "created", survey.id, {"kind": [None, kind]},
                  data={"customer_id": customer_id, "ticket_id": survey.ticket_id},
                  event_name="service.survey.created")
    return survey


def create_csat(ctx: ServiceContext, ticket: Ticket, now: dt.datetime | None = None) -> Survey | None:
    """The CSAT survey of a resolved ticket (one per ticket; called inside the resolve transaction)."""
    if ctx.session.scalar(select(Survey.id).where(Survey.ticket_id == ticket.id)) is not None:
        return None
    return _new(ctx, "csat", ticket.customer_id, ticket, now or utcnow())


def create_nps(ctx: ServiceContext, customer_id: int, now: dt.datetime | None = None) -> Survey:
    """An NPS survey for a customer ("How likely are you to recommend us?", 0-10)."""
    ctx.require("service.survey.manage")
    customer = get_customer(ctx, customer_id)
    with unit_of_work(ctx):
        return _new(ctx, "nps", customer.id, None, now or utcnow())


def survey_by_token(ctx: ServiceContext, token: str, now: dt.datetime | None = None) -> Survey:
    """The survey of a link token; a tampered, unknown or expired token is ``NotFound``."""
    try:
        payload = _serializer(ctx).loads(token)
    except BadData:
        raise NotFound(_("No such survey.")) from None
    survey = ctx.session.get(Survey, payload.get("s")) if isinstance(payload, dict) else None
    if survey is None or not hmac.compare_digest(survey.token_hash, _hash(token)):
        raise NotFound(_("No such survey."))
    if survey.expires_at < (now or utcnow()):
        raise NotFound(_("No such survey."))
    return survey


def validate_answer(ctx: ServiceContext, survey: Survey, data: dict[str, Any]) -> dict[str, Any]:
    """An answer checked by ``SurveyAnswerSchema`` (a whole score, a comment of at most 4000 characters, refused
    rather than cut) and the survey's scale (CSAT 1-5, NPS 0-10): the one validation of the link page and
    the service. A score that is no number in the scale is "Choose a score from ... to ...". """
    low, high = SCALES[survey.kind]
    wrong = _("Choose a score from %(low)s to %(high)s.", low=low, high=high)

    def check(values: dict[str, Any]) -> dict[str, list[Any]]:
        if "score" in values and not low <= values["score"] <= high:
            return {"score": [wrong]}
        return {}
    try:
        return load(_ANSWER, data, partial=False, message=wrong, check=check)
    except ValidationError as exc:
        errors = dict(exc.errors)
        if "score" in errors:  # not a number, missing or out of the scale: one sentence says what to do
            errors["score"] = [str(wrong)]
        raise ValidationError(wrong if "score" in errors else _("The survey answer is not valid."),
                              errors=errors) from None


def answer(ctx: ServiceContext, token: str, score: Any, comment: str | None = None, now: dt.datetime | None = None) -> Survey:
    """Record the answer of a survey link (once; a second answer is refused)."""
    survey = survey_by_token(ctx, token, now)
    if survey.answered_at is not None:
        raise ValidationError(_("This survey has already been answered. Thank you!"))
    data = validate_answer(ctx, survey, {"score": score, "comment": comment})
    value = data["score"]
    with unit_of_work(ctx):
        survey.score = value
        survey.comment = data.get("comment")
        survey.answered_at = now or utcnow()
        record_change(ctx, "service_survey", "answered", survey.id, {"score": [None, value]},
                      data={"kind": survey.kind, "customer_id": survey.customer_id, "agent_id": survey.agent_id},
                      event_name="service.survey.answered")
    return survey


def scores(ctx: ServiceContext, *, start: dt.datetime, end: dt.datetime, by: str = "agent", kind: str = "csat") -> list[dict[str, Any]]:
    """Scores answered in [start, end) grouped ``by`` agent, customer or ``all``: CSAT as the share of
    4-5 answers and the mean; NPS as %promoters (9-10) - %detractors (0-6)."""
    ctx.require("service.report.read")
    if by not in ("agent", "customer", "all") or kind not in SCALES:
        raise ValidationError(_("Group by agent, customer or all; kind csat or nps."))
    key = {"agent": Survey.agent_id, "customer": Survey.customer_id, "all": None}[by]
    cols = [func.count(Survey.id), func.avg(Survey.score),
            func.count(Survey.id).filter(Survey.score >= (4 if kind == "csat" else 9)),
            func.count(Survey.id).filter(Survey.score <= (2 if kind == "csat" else 6))]
    stmt = select(*(([key] if key is not None else []) + cols)).where(
        Survey.kind == kind, Survey.answered_at.is_not(None), Survey.answered_at >= start, Survey.answered_at < end)
    if key is not None:
        stmt = stmt.group_by(key).order_by(key)
    out = []
    for row in ctx.session.execute(stmt):
        row = tuple(row)
        subject, (n, mean, good, bad) = (row[0], row[1:]) if key is not None else (None, row)
        if not n:
            continue
        item = {by: subject, "answers": n, "mean": round(float(mean), 2)}
        if kind == "csat":
            item["csat"] = round(good / n * 100, 1)
        else:
            item["nps"] = round((good - bad) / n * 100, 1)
        out.append(item)
    return out
