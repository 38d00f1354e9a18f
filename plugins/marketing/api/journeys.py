"""/api/v1/marketing journeys: create one, its trigger, its steps (add, change, remove; a running journey's
changes make a new version), its enrolments, customers entered by id, and the per-step counts."""
from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from crmcore.api import current_ctx
from crmcore.api.blueprint import Blueprint
from flask import request

from crmcore.api.http import expected_version, json_body, page, with_etag
from crmcore.schemas.common import MAX_ID, PageArgs, page_of

from ..models_journeys import ENROLMENT_STATES
from ..services import calendar, journey_report, journeys

blp = Blueprint("marketing_journeys_api", __name__, url_prefix="/api/v1/marketing", description="Marketing journeys")


class JourneyOut(journeys.TriggerSchema):
    campaign_id = fields.Int()
    name = fields.Str()
    status = fields.Str()
    version = fields.Int(metadata={"description": "the version of the steps new entries follow"})
    problems = fields.Dict(metadata={"description": "what keeps it from starting, by step name (empty: nothing)"})


class BranchOut(Schema):
    label = fields.Str()
    share = fields.Int()
    next_step_id = fields.Int(allow_none=True)


class StepOut(journeys.StepSchema):
    id = fields.Int()
    version = fields.Int()
    branches = fields.List(fields.Nested(BranchOut))


class EnterIn(Schema):
    customer_ids = fields.List(fields.Int(strict=True, validate=validate.Range(min=1, max=MAX_ID)), required=True, validate=validate.Length(min=1, max=10_000))


class EnrolmentArgs(PageArgs):
    state = fields.Str(validate=validate.OneOf(ENROLMENT_STATES))


class EnrolmentOut(Schema):
    id = fields.Int()
    customer_id = fields.Int()
    customer = fields.Str()
    entry = fields.Str()
    version = fields.Int()
    step_id = fields.Int(allow_none=True)
    step = fields.Str(allow_none=True)
    state = fields.Str()
    next_run_at = fields.AwareDateTime(allow_none=True)
    entered_at = fields.AwareDateTime()
    left_at = fields.AwareDateTime(allow_none=True)


EnrolmentPage = page_of(EnrolmentOut, "MarketingEnrolmentPage")


def _journey(campaign_id: int, status: int = 200) -> Any:
    """The journey's trigger and state, with the campaign's ETag (every edit of the trigger or a step moves it)."""
    ctx = current_ctx()
    campaign, journey = journeys.get_journey(ctx, campaign_id)
    out = {name: getattr(journey, name) for name in journeys.TRIGGER_FIELDS}
    return with_etag(campaign, {**out, "campaign_id": campaign.id, "name": campaign.name, "status": campaign.status,
                                "version": journey.version, "problems": journeys.graph_problems(ctx, campaign.id)},
                     status)


def _if_match() -> dict[str, Any]:
    """The version the client read, from If-Match only (a step's body has no version field): 412 when stale."""
    if not request.headers.get("If-Match"):
        return {}
    version, if_match = expected_version()
    return {"expected_version": version, "if_match": if_match}


def _etag_of(campaign_id: int) -> dict[str, str]:
    from crmcore.api.http import etag_of

    return {"ETag": etag_of(journeys.get_journey(current_ctx(), campaign_id)[0])}


def _step(step: Any) -> dict[str, Any]:
    branches = journeys.branches_of(current_ctx(), [step.id])[step.id]
    return {**{f: getattr(step, f) for f in journeys.STEP_FIELDS}, "id": step.id, "version": step.version,
            "position": step.position, "branches": branches}


@blp.route("/journeys", methods=["POST"])
@json_body(blp, journeys.JourneySchema)
@blp.response(201, JourneyOut)
def create_journey(data: dict[str, Any]) -> Any:
    """Prepare a journey (a draft campaign of kind journey) with its entry trigger"""
    return _journey(journeys.create_journey(current_ctx(), data).id, 201)


@blp.route("/campaigns/<int:campaign_id>/journey")
@blp.response(200, JourneyOut)
def get_journey(campaign_id: int) -> Any:
    """A journey's trigger, version and what keeps it from starting"""
    return _journey(campaign_id)


@blp.route("/campaigns/<int:campaign_id>/journey", methods=["PATCH"])
@json_body(blp, journeys.TriggerSchema(partial=True))
@blp.response(200, JourneyOut)
def patch_journey(data: dict[str, Any], campaign_id: int) -> Any:
    """Change the entry trigger (for entries from now on)"""
    journeys.update_trigger(current_ctx(), campaign_id, data, **_if_match())
    return _journey(campaign_id)


@blp.route("/campaigns/<int:campaign_id>/steps")
@blp.response(200, StepOut(many=True))
def list_steps(campaign_id: int) -> Any:
    """The steps new entries follow, in order"""
    ctx = current_ctx()
    journeys.get_journey(ctx, campaign_id)
    return [_step(s) for s in journeys.steps_of(ctx, campaign_id)], 200, _etag_of(campaign_id)


@blp.route("/campaigns/<int:campaign_id>/steps", methods=["POST"])
@json_body(blp, journeys.StepSchema)
@blp.response(201, StepOut)
def add_step(data: dict[str, Any], campaign_id: int) -> Any:
    """Add a step (on a journey customers entered already: to a new version)"""
    step = journeys.add_step(current_ctx(), campaign_id, data, **_if_match())
    return _step(step), 201, _etag_of(campaign_id)


@blp.route("/campaigns/<int:campaign_id>/steps/<int:step_id>", methods=["PATCH"])
@json_body(blp, journeys.StepSchema(partial=True))
@blp.response(200, StepOut)
def patch_step(data: dict[str, Any], campaign_id: int, step_id: int) -> Any:
    """Change a step (on a journey customers entered already: in a new version, returned with its new id)"""
    step = journeys.update_step(current_ctx(), campaign_id, step_id, data, **_if_match())
    return _step(step), 200, _etag_of(campaign_id)


@blp.route("/campaigns/<int:campaign_id>/steps/<int:step_id>", methods=["DELETE"])
@blp.response(204)
def delete_step(campaign_id: int, step_id: int) -> Any:
    """Remove a step"""
    journeys.remove_step(current_ctx(), campaign_id, step_id, **_if_match())
    return None


@blp.route("/campaigns/<int:campaign_id>/enrolments")
@blp.arguments(EnrolmentArgs, location="query")
@blp.response(200, EnrolmentPage)
def list_enrolments(args: dict[str, Any], campaign_id: int) -> Any:
    """Who is in the journey, where, and who left (done, goal reached)"""
    items, total = journey_report.list_enrolments(current_ctx(), campaign_id, **args)
    return page(items, total, args)


@blp.route("/campaigns/<int:campaign_id>/enter", methods=["POST"])
@blp.arguments(EnterIn)
def enter(data: dict[str, Any], campaign_id: int) -> Any:
    """Put customers into a running journey (once per customer; outside its audience: not)"""
    return journey_report.enter_customers(current_ctx(), campaign_id, data["customer_ids"])


@blp.route("/campaigns/<int:campaign_id>/journey/report")
def step_report(campaign_id: int) -> Any:
    """Per step: what it did and how many are at it now; the enrolments by state"""
    return journey_report.step_counts(current_ctx(), campaign_id)


class CalendarDateOut(calendar.CalendarDateSchema):
    id = fields.Int()


class CalendarArgs(Schema):
    name = fields.Str(validate=validate.Length(max=64))


@blp.route("/calendar-dates")
@blp.arguments(CalendarArgs, location="query")
@blp.response(200, CalendarDateOut(many=True))
def list_calendar_dates(args: dict[str, Any]) -> Any:
    """The configured calendars' dates (Spring Festival...), by name and date"""
    return calendar.list_dates(current_ctx(), args.get("name"))


@blp.route("/calendar-dates", methods=["POST"])
@json_body(blp, calendar.CalendarDateSchema)
@blp.response(201, CalendarDateOut)
def add_calendar_date(data: dict[str, Any]) -> Any:
    """Add a date to a named calendar a journey trigger can use"""
    return calendar.add_date(current_ctx(), data), 201


@blp.route("/calendar-dates/<int:date_id>", methods=["DELETE"])
@blp.response(204)
def remove_calendar_date(date_id: int) -> Any:
    """Remove a date from its calendar"""
    calendar.remove_date(current_ctx(), date_id)
    return None
