"""Journeys as data: a campaign of kind ``journey`` with an entry trigger and ordered, versioned steps; the
validation of each step and of the whole graph (no cycles, targets in the journey, templates and fields that
exist); start, pause and resume. A running journey's edits go to a new version of its steps: new entries
follow it, customers already in follow the version they entered with (recorded in the campaign's history)."""
from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate
from sqlalchemy import delete, func, select

from crmcore.db import utcnow
from crmcore.errors import Conflict, NotFound, ValidationError
from crmcore.events import record_change
from crmcore.i18n import _
from crmcore.models import User
from crmcore.runtime import ServiceContext
from crmcore.schemas.columns import text
from crmcore.schemas.common import MAX_ID
from crmcore.services.customers import check_version
from crmcore.services.unit import unit_of_work
from crmcore.services.validation import load

from ..channels import providers
from ..models import CHANNELS, Audience, Campaign, MessageTemplate
from ..models_journeys import (BEHAVIOURS, CalendarDate, CALENDAR_RULES, EVENTS, STEP_KINDS, TRIGGER_KINDS, Enrolment, Journey,
                               JourneyBranch, JourneyStep)

MAX_STEPS = 50
MAX_BRANCHES = 5
TRIGGER_FIELDS = ("trigger", "audience_id", "condition", "recurring", "date_field", "offset_days", "yearly", "calendar_rule",
                  "month", "day", "nth", "weekday", "calendar_name", "event", "no_order_days")
STEP_FIELDS = ("name", "kind", "template_id", "channel", "wait_days", "wait_hours", "wait_until", "condition",
               "behaviour", "field", "value", "tag", "subject", "user_id", "next_step_id", "else_step_id")
UPDATABLE = ("stage", "level", "industry", "source_channel")  # customer fields an update step may set


def _id(**kwargs: Any) -> fields.Int:
    return fields.Int(strict=True, allow_none=True, validate=validate.Range(min=1, max=MAX_ID), **kwargs)


class TriggerSchema(Schema):
    trigger = fields.Str(load_default="api", validate=validate.OneOf(TRIGGER_KINDS))
    audience_id = _id()
    condition = fields.Dict(allow_none=True, metadata={"description": "who may enter, in the core condition language"})
    recurring = fields.Bool(load_default=False)
    date_field = fields.Str(allow_none=True, validate=validate.Length(max=64))
    offset_days = fields.Int(load_default=0, strict=True, validate=validate.Range(min=-366, max=366))
    yearly = fields.Bool(load_default=True)
    calendar_rule = fields.Str(allow_none=True, validate=validate.OneOf(CALENDAR_RULES))
    month = fields.Int(allow_none=True, strict=True, validate=validate.Range(min=1, max=12))
    day = fields.Int(allow_none=True, strict=True, validate=validate.Range(min=1, max=31))
    nth = fields.Int(allow_none=True, strict=True, validate=validate.OneOf([1, 2, 3, 4, 5, -1]))
    weekday = fields.Int(allow_none=True, strict=True, validate=validate.Range(min=0, max=6))
    calendar_name = fields.Str(allow_none=True, validate=validate.Length(min=1, max=64))  # a name in the calendar
    event = fields.Str(allow_none=True, validate=validate.OneOf(EVENTS))
    no_order_days = fields.Int(allow_none=True, strict=True, validate=validate.Range(min=1, max=3650))


class JourneySchema(TriggerSchema):
    name = text(Campaign.name, required=True)


class BranchSchema(Schema):
    label = fields.Str(required=True, validate=validate.Length(min=1, max=16))
    share = fields.Int(required=True, strict=True, validate=validate.Range(min=1, max=100))
    next_step_id = _id()


class StepSchema(Schema):
    name = text(JourneyStep.name, required=True)
    kind = fields.Str(required=True, validate=validate.OneOf(STEP_KINDS))
    template_id = _id()
    channel = fields.Str(allow_none=True, validate=validate.OneOf(CHANNELS))
    wait_days = fields.Int(allow_none=True, strict=True, validate=validate.Range(min=0, max=3650))
    wait_hours = fields.Int(allow_none=True, strict=True, validate=validate.Range(min=0, max=24 * 366))
    wait_until = fields.NaiveDateTime(allow_none=True, metadata={"description": "in the recipient's time zone"})
    condition = fields.Dict(allow_none=True)
    behaviour = fields.Str(allow_none=True, validate=validate.OneOf(BEHAVIOURS))
    field = fields.Str(allow_none=True, validate=validate.Length(max=64))
    value = fields.Str(allow_none=True, validate=validate.Length(max=255))
    tag = fields.Str(allow_none=True, validate=validate.Length(max=64))
    subject = fields.Str(allow_none=True, validate=validate.Length(max=255))
    user_id = _id()
    next_step_id = _id()
    else_step_id = _id()
    branches = fields.List(fields.Nested(BranchSchema), validate=validate.Length(max=MAX_BRANCHES))
    position = fields.Int(strict=True, validate=validate.Range(min=0, max=MAX_STEPS))


_JOURNEY, _TRIGGER, _STEP = JourneySchema(), TriggerSchema(), StepSchema()


# ---- the trigger ---------------------------------------------------------------------------------------

def customer_fields(ctx: ServiceContext) -> dict[str, Any]:
    """The fields a journey's conditions may name: the customer's columns, custom fields, plugin fields and
    the records it points to (what the condition builder offers)."""
    from crmcore.services.condition_fields import fields_for

    return fields_for(ctx, "customer")


def condition_problems(ctx: ServiceContext, condition: Any) -> list[str]:
    """What is wrong with a condition over customers, in the reader's words (empty: nothing)."""
    from crmcore.conditions.grammar import ConditionError
    from crmcore.conditions.sql import validate_sql

    try:
        problems = validate_sql(condition, customer_fields(ctx))
    except ConditionError as exc:  # not a condition at all (not an object, too deep, too large)
        return [str(exc.message), *(str(m) for v in exc.errors.values() for m in v)]
    return [str(m) for messages in problems.values() for m in messages]


def _trigger_problems(ctx: ServiceContext, values: dict[str, Any], current: Journey | None) -> dict[str, list[Any]]:
    def get(name: str) -> Any:
        return values[name] if name in values else getattr(current, name, None)

    errors: dict[str, list[Any]] = {}
    kind = get("trigger") or "api"
    if get("audience_id") is not None and ctx.session.get(Audience, get("audience_id")) is None:
        errors["audience_id"] = [_("No such audience.")]
    if values.get("condition") is not None and (problems := condition_problems(ctx, values["condition"])):
        errors["condition"] = problems
    if kind == "audience" and get("audience_id") is None:
        errors["audience_id"] = [_("Pick the audience whose members enter.")]
    if kind == "date_field":
        from .triggers import date_fields

        if get("date_field") not in date_fields(ctx):
            errors["date_field"] = [_("Pick a date field: %(names)s.", names=", ".join(sorted(date_fields(ctx))))]
    if kind == "calendar":
        rule = get("calendar_rule")
        if rule is None:
            errors["calendar_rule"] = [_("Pick a calendar rule.")]
        elif rule in ("nth_weekday", "fixed") and get("month") is None:
            errors["month"] = [_("Pick the month.")]
        if rule == "nth_weekday" and (get("nth") is None or get("weekday") is None):
            errors["nth"] = [_("Say which weekday of the month (e.g. the second Sunday).")]
        if rule == "fixed" and get("day") is None:
            errors["day"] = [_("Pick the day of the month.")]
        if rule == "calendar" and not get("calendar_name"):
            errors["calendar_name"] = [_("Name the calendar (its dates are configured under Calendar dates).")]
        elif rule == "calendar" and ctx.session.scalar(select(CalendarDate.id).where(
                CalendarDate.name == get("calendar_name")).limit(1)) is None:
            errors["calendar_name"] = [_("The calendar '%(name)s' has no dates; add them under Calendar dates.",
                                         name=get("calendar_name"))]
    if kind == "event" and not get("event"):
        errors["event"] = [_("Pick the event.")]
    if kind == "no_order" and not get("no_order_days"):
        errors["no_order_days"] = [_("Say after how many days without an order.")]
    return errors


def create_journey(ctx: ServiceContext, data: dict[str, Any]) -> Campaign:
    """A draft journey: a campaign of kind ``journey`` with its trigger (steps are added one by one)."""
    ctx.require("marketing.manage")

    def check(values: dict[str, Any]) -> dict[str, list[Any]]:
        errors = _trigger_problems(ctx, values, None)
        if values.get("name") and ctx.session.scalar(select(Campaign.id).where(Campaign.name == values["name"])):
            errors["name"] = [_("A campaign named '%(name)s' exists.", name=values["name"])]
        return errors

    values = load(_JOURNEY, data, partial=False, message=_("The journey is not valid."), check=check)
    with unit_of_work(ctx):
        campaign = Campaign(name=values.pop("name"), kind="journey", status="draft", channel="email",
                            created_by_id=ctx.actor.id if ctx.actor else None)
        ctx.session.add(campaign)
        ctx.session.flush()
        ctx.session.add(Journey(campaign_id=campaign.id, version=1, **values))
        record_change(ctx, "marketing_campaign", "created", campaign.id, {"name": [None, campaign.name]},
                      data={"kind": "journey", **values})
    return campaign


def get_journey(ctx: ServiceContext, campaign_id: int) -> tuple[Campaign, Journey]:
    ctx.require("marketing.read")
    campaign = ctx.session.get(Campaign, campaign_id)
    journey = ctx.session.get(Journey, campaign_id) if campaign is not None else None
    if campaign is None or journey is None:
        raise NotFound(_("Journey %(id)s does not exist.", id=campaign_id))
    return campaign, journey


def _touch(campaign: Campaign, expected_version: int | None, if_match: bool) -> None:
    """Check the version the editor read (If-Match: 412, else 409 when stale) and count this edit as a new
    version of the campaign, so the next ETag differs."""
    check_version(campaign, expected_version, if_match)
    campaign.updated_at = utcnow()  # the row changes: its version_id_col goes up


def update_trigger(ctx: ServiceContext, campaign_id: int, data: dict[str, Any], *, expected_version: int | None = None,
                   if_match: bool = False) -> Journey:
    """Change the entry trigger (applies to entries from now on; recorded in the history)."""
    ctx.require("marketing.manage")
    campaign, journey = get_journey(ctx, campaign_id)
    check_version(campaign, expected_version, if_match)
    if campaign.status in ("done", "cancelled"):
        raise Conflict(_("A finished journey cannot be changed."))
    values = load(_TRIGGER, data, partial=True, message=_("The journey is not valid."),
                  check=lambda v: _trigger_problems(ctx, v, journey))
    with unit_of_work(ctx):
        changes = {k: [getattr(journey, k), v] for k, v in values.items() if getattr(journey, k) != v}
        for k, v in values.items():
            setattr(journey, k, v)
        if changes:
            _touch(campaign, None, False)
            record_change(ctx, "marketing_campaign", "updated", campaign.id, changes, data={"part": "trigger"})
    return journey


# ---- steps ---------------------------------------------------------------------------------------------

def steps_of(ctx: ServiceContext, campaign_id: int, version: int | None = None) -> list[JourneyStep]:
    """The steps of a version (default: the one new entries follow), in order."""
    if version is None:
        journey = ctx.session.get(Journey, campaign_id)
        version = journey.version if journey else 1
    return list(ctx.session.scalars(select(JourneyStep).where(
        JourneyStep.campaign_id == campaign_id, JourneyStep.version == version)
        .order_by(JourneyStep.position, JourneyStep.id)))


def branches_of(ctx: ServiceContext, step_ids: list[int]) -> dict[int, list[JourneyBranch]]:
    out: dict[int, list[JourneyBranch]] = {i: [] for i in step_ids}
    for b in ctx.session.scalars(select(JourneyBranch).where(JourneyBranch.step_id.in_(step_ids))
                                 .order_by(JourneyBranch.label)):
        out[b.step_id].append(b)
    return out


def _step_problems(ctx: ServiceContext, values: dict[str, Any], step: JourneyStep | None,
                   siblings: dict[int, JourneyStep]) -> dict[str, list[Any]]:
    """One step's own problems, by field (targets must be steps of the same version, other than itself)."""
    def get(name: str) -> Any:
        return values[name] if name in values else getattr(step, name, None)

    errors: dict[str, list[Any]] = {}
    kind = get("kind")
    name = values.get("name")
    if name and any(s.name == name and (step is None or s.id != step.id) for s in siblings.values()):
        errors["name"] = [_("Another step is named '%(name)s'.", name=name)]
    for target in ("next_step_id", "else_step_id"):
        tid = values.get(target)
        if tid is not None and (tid not in siblings or (step is not None and tid == step.id)):
            errors[target] = [_("Pick another step of this journey.")]
    if kind == "send":
        template = ctx.session.get(MessageTemplate, get("template_id")) if get("template_id") else None
        if template is None:
            errors["template_id"] = [_("Pick a template.")]
        elif template.channel != (get("channel") or template.channel):
            errors["template_id"] = [_("This template is written for another channel.")]
    elif kind == "wait":
        if not (get("wait_days") or get("wait_hours") or get("wait_until")):
            errors["wait_days"] = [_("Say how long to wait, or until when.")]
    elif kind in ("condition", "goal"):
        condition, behaviour = get("condition"), get("behaviour")
        if condition is None and behaviour is None:
            errors["condition"] = [_("Give a condition on the customer or pick a behaviour.")]
        elif condition is not None and (problems := condition_problems(ctx, condition)):
            errors["condition"] = problems
    elif kind == "random":
        branches = values.get("branches")
        if branches is None and step is not None:
            branches = [{"label": b.label, "share": b.share, "next_step_id": b.next_step_id}
                        for b in branches_of(ctx, [step.id])[step.id]]
        branches = branches or []
        labels = [b.get("label") for b in branches]
        if len(branches) < 2:
            errors["branches"] = [_("A random split needs at least two branches.")]
        elif len(set(labels)) != len(labels):
            errors["branches"] = [_("Give each branch its own label.")]
        elif sum(int(b.get("share") or 0) for b in branches) != 100:
            errors["branches"] = [_("The branches' shares must add up to 100.")]
        elif any(b.get("next_step_id") is not None and b["next_step_id"] not in siblings for b in branches):
            errors["branches"] = [_("Pick another step of this journey.")]
    elif kind == "update":
        field, tag = get("field"), get("tag")
        if not field and not tag:
            errors["field"] = [_("Pick a field to set or a tag to add.")]
        elif field and field not in updatable_fields(ctx):
            errors["field"] = [_("This field cannot be set by a journey: %(names)s.",
                                 names=", ".join(sorted(updatable_fields(ctx))))]
        elif field and (problem := _value_problem(ctx, field, get("value"))):
            errors["value"] = [problem]
    elif kind == "activity":
        if not get("subject"):
            errors["subject"] = [_("Say what the owner should do.")]
    elif kind == "notify":
        if get("user_id") is None or ctx.session.get(User, get("user_id")) is None:
            errors["user_id"] = [_("Pick the user to notify.")]
        if not get("subject"):
            errors["subject"] = [_("Write the notification.")]
    return errors


def _value_problem(ctx: ServiceContext, field: str, value: str | None) -> str | None:
    """What is wrong with the value an update step would set (a choice that does not exist, no such user)."""
    from crmcore.models import Customer

    column = Customer.__table__.c.get(field)
    choices = column.info.get("choices") if column is not None else None
    if choices and value not in choices:
        return str(_("Pick one of: %(choices)s.", choices=", ".join(choices)))
    return None


def updatable_fields(ctx: ServiceContext) -> dict[str, str]:
    """The customer fields an update step may set, with their labels: a few columns and the custom fields."""
    from crmcore import entities
    from crmcore.services.custom_fields import active_fields

    known = entities.condition_fields(ctx, "customer")
    out = {name: str(known[name].label or name) if name in known else name for name in UPDATABLE}
    out.update({f.name: str(f.label) for f in active_fields(ctx, "customer")})
    return out


def _editable(ctx: ServiceContext, campaign: Campaign, journey: Journey) -> int:
    """The version edits go to: the current one while nobody entered it, else a new copy of it."""
    if campaign.status in ("done", "cancelled"):
        raise Conflict(_("A finished journey cannot be changed."))
    used = ctx.session.scalar(select(func.count(Enrolment.id)).where(Enrolment.campaign_id == campaign.id,
                                                                     Enrolment.version == journey.version))
    if not used:
        return journey.version
    old = steps_of(ctx, campaign.id, journey.version)
    copies = {s.id: JourneyStep(campaign_id=campaign.id, version=journey.version + 1,
                                **{f: getattr(s, f) for f in STEP_FIELDS if f not in ("next_step_id", "else_step_id")},
                                position=s.position) for s in old}
    ctx.session.add_all(copies.values())
    ctx.session.flush()
    for s in old:
        copies[s.id].next_step_id = copies[s.next_step_id].id if s.next_step_id in copies else None
        copies[s.id].else_step_id = copies[s.else_step_id].id if s.else_step_id in copies else None
    for step_id, branches in branches_of(ctx, list(copies)).items():
        for b in branches:
            ctx.session.add(JourneyBranch(step_id=copies[step_id].id, label=b.label, share=b.share,
                                          next_step_id=copies[b.next_step_id].id if b.next_step_id in copies else None))
    journey.version += 1
    record_change(ctx, "marketing_campaign", "updated", campaign.id, {"version": [journey.version - 1,
                                                                                      journey.version]})
    ctx.session.flush()
    ctx.session.info.setdefault("journey_copies", {}).update({old_id: c.id for old_id, c in copies.items()})
    return journey.version


def _save_step(ctx: ServiceContext, campaign_id: int, step_id: int | None, data: dict[str, Any],
               expected_version: int | None = None, if_match: bool = False) -> JourneyStep:
    ctx.require("marketing.manage")
    campaign, journey = get_journey(ctx, campaign_id)
    with unit_of_work(ctx):
        _touch(campaign, expected_version, if_match)
        version = _editable(ctx, campaign, journey)
        copies: dict[int, int] = ctx.session.info.pop("journey_copies", {})
        step = None
        if step_id is not None:
            step = ctx.session.get(JourneyStep, copies.get(step_id, step_id))
            if step is None or step.campaign_id != campaign_id or step.version != version:
                raise NotFound(_("Step %(id)s is not a step of this journey's current version.", id=step_id))
        siblings = {s.id: s for s in steps_of(ctx, campaign_id, version)}
        if step is None and len(siblings) >= MAX_STEPS:
            raise ValidationError(_("A journey has at most %(n)s steps.", n=MAX_STEPS), errors={})
        # targets named by an older version's id follow the copy
        data = {**data, **{k: copies.get(data[k], data[k]) for k in ("next_step_id", "else_step_id")
                           if isinstance(data.get(k), int)}}
        if isinstance(data.get("branches"), list):
            data["branches"] = [{**b, "next_step_id": copies.get(b["next_step_id"], b["next_step_id"])}
                                if isinstance(b, dict) and isinstance(b.get("next_step_id"), int) else b
                                for b in data["branches"]]
        values = load(_STEP, data, partial=step is not None, message=_("The step is not valid."),
                      check=lambda v: _step_problems(ctx, v, step, siblings))
        branches = values.pop("branches", None)
        if step is None:
            step = JourneyStep(campaign_id=campaign_id, version=version,
                               position=values.pop("position", max((s.position for s in siblings.values()),
                                                                   default=-1) + 1))
            ctx.session.add(step)
        changes = {k: [getattr(step, k, None), v] for k, v in values.items() if getattr(step, k, None) != v}
        for k, v in values.items():
            setattr(step, k, v)
        ctx.session.flush()
        if branches is not None:
            ctx.session.execute(delete(JourneyBranch).where(JourneyBranch.step_id == step.id))
            for b in branches:
                ctx.session.add(JourneyBranch(step_id=step.id, label=b["label"], share=b["share"],
                                              next_step_id=b.get("next_step_id")))
            changes["branches"] = [None, [f"{b['label']} {b['share']}%" for b in branches]]
        record_change(ctx, "marketing_campaign", "updated", campaign_id, changes,
                      data={"step": step.name, "version": version})
    return step


def add_step(ctx: ServiceContext, campaign_id: int, data: dict[str, Any], *, expected_version: int | None = None,
             if_match: bool = False) -> JourneyStep:
    """Add a step at the end (or at ``position``) of the version new entries will follow."""
    return _save_step(ctx, campaign_id, None, data, expected_version, if_match)


def update_step(ctx: ServiceContext, campaign_id: int, step_id: int, data: dict[str, Any], *,
                expected_version: int | None = None, if_match: bool = False) -> JourneyStep:
    """Change a step; on a journey someone entered already, the change goes to a new version (returned)."""
    return _save_step(ctx, campaign_id, step_id, data, expected_version, if_match)


def remove_step(ctx: ServiceContext, campaign_id: int, step_id: int, *, expected_version: int | None = None,
                if_match: bool = False) -> None:
    """Remove a step; steps that went to it now end there (the graph check says so before the start)."""
    ctx.require("marketing.manage")
    campaign, journey = get_journey(ctx, campaign_id)
    with unit_of_work(ctx):
        _touch(campaign, expected_version, if_match)
        version = _editable(ctx, campaign, journey)
        step_id = ctx.session.info.pop("journey_copies", {}).get(step_id, step_id)
        step = ctx.session.get(JourneyStep, step_id)
        if step is None or step.campaign_id != campaign_id or step.version != version:
            raise NotFound(_("Step %(id)s is not a step of this journey's current version.", id=step_id))
        name = step.name
        ctx.session.delete(step)
        record_change(ctx, "marketing_campaign", "updated", campaign_id, {"step": [name, None]},
                      data={"version": version})


# ---- the whole graph -----------------------------------------------------------------------------------

def targets(step: JourneyStep, branches: list[JourneyBranch]) -> list[int]:
    """The steps a step may go to next."""
    out = [t for t in (step.next_step_id, step.else_step_id) if t is not None]
    return out + [b.next_step_id for b in branches if b.next_step_id is not None]


def graph_problems(ctx: ServiceContext, campaign_id: int, version: int | None = None) -> dict[str, list[str]]:
    """Everything wrong with a version's steps, by step name (``journey`` for the whole): each step's own
    problems, a loop, a step nobody reaches. Empty: it can run."""
    steps = steps_of(ctx, campaign_id, version)
    if not steps:
        return {"journey": [str(_("Add at least one step."))]}
    by_id = {s.id: s for s in steps}
    branches = branches_of(ctx, list(by_id))
    problems: dict[str, list[str]] = {}
    for s in steps:
        own = _step_problems(ctx, {"kind": s.kind}, s, by_id)
        if own:
            problems[s.name] = [str(m) for v in own.values() for m in v]
        if s.kind == "send":
            provider = providers(ctx).get(s.channel or "email")
            why = _("Nothing can send on this channel.") if provider is None else provider.configured(ctx)
            if why:
                problems.setdefault(s.name, []).append(str(why))
    # loops: a depth-first walk from every step; a step met again on the path closes a loop
    state: dict[int, int] = {}

    def visit(sid: int, path: list[int]) -> None:
        state[sid] = 1
        for t in targets(by_id[sid], branches[sid]):
            if t not in by_id:
                continue
            if state.get(t) == 1:
                problems.setdefault(by_id[sid].name, []).append(str(_(
                    "It goes back to '%(target)s': a journey may not loop.", target=by_id[t].name)))
            elif t not in state:
                visit(t, path + [t])
        state[sid] = 2

    visit(steps[0].id, [steps[0].id])
    for s in steps:
        if s.kind == "goal" and s.id not in state:
            visit(s.id, [s.id])
    for s in steps:
        if s.id not in state and s.kind != "goal":  # a goal is checked at every step, not reached by a path
            problems.setdefault(s.name, []).append(str(_("No step leads here: it is never reached.")))
    return problems


# ---- start, pause, resume ------------------------------------------------------------------------------

def start(ctx: ServiceContext, campaign_id: int) -> dict[str, Any]:
    """Check the graph (each problem by step, nothing started) and set the journey running."""
    ctx.require("marketing.send")
    campaign, journey = get_journey(ctx, campaign_id)
    if campaign.status not in ("draft", "scheduled"):
        raise Conflict(_("The campaign has already started."))
    if problems := graph_problems(ctx, campaign_id):
        raise ValidationError(_("The journey cannot start: %(problems)s",
                                problems="; ".join(f"{k}: {' '.join(v)}" for k, v in problems.items())),
                              errors={"steps": problems})
    with unit_of_work(ctx):
        campaign.status, campaign.started_at = "running", utcnow()
        record_change(ctx, "marketing_campaign", "started", campaign.id, {"status": ["draft", "running"]},
                      data={"version": journey.version})
    from crmcore.services import job_runs

    job_runs.enqueue(ctx, "marketing.journeys", {"campaign_id": campaign.id})
    return {"status": campaign.status, "version": journey.version}

