"""Import of opportunities by the number they have in the system they come from (kept as an external
reference, system ``import``), customers by code, stages and owners by name; new ones written set-based."""
from __future__ import annotations

from typing import Any, Sequence

from sqlalchemy import insert, select
from sqlalchemy.orm import lazyload

from crmcore.db import utcnow
from crmcore.errors import CRMError, ValidationError
from crmcore.i18n import _
from crmcore.imports import ImportOptions, Row, RowResult
from crmcore.imports.driver import record
from crmcore.imports.sql import insert_rows, row_values, transient
from crmcore.models import ExternalRef
from crmcore.services.customers import live_customer
from crmcore.services.unit import new_values
from crmcore.runtime import ServiceContext

from ..models import Opportunity, Stage, StageHistory
from ..services import access
from ..services import opportunities as svc
from ..services.stages import first_open_stage, list_stages
from .common import by_key, cell, customer_id, customers_by_code, done, exists, owner_id, split, unknown_columns, \
    users_by_name

SYSTEM = "import"  # the external references of imported opportunities
COLUMNS = ("number", "name", "customer_code", "stage", "amount", "currency", "expected_close_date", "probability",
           "owner", "lost_reason", "competitor", "source_channel", "notes")
AS_COLUMN = {"customer_id": "customer_code", "owner_id": "owner", "stage_id": "stage"}


def _columns(errors: dict[str, Any]) -> dict[str, Any]:
    return {AS_COLUMN.get(k, k): v for k, v in errors.items()}


def _data(row: dict[str, Any], refs: dict[str, Any], errors: dict[str, list[Any]]) -> dict[str, Any]:
    """The service's input for one row: customer, stage and owner looked up by code and name."""
    data: dict[str, Any] = {k: cell(row, k) for k in ("name", "amount", "currency", "expected_close_date",
                                                      "probability", "lost_reason", "competitor", "source_channel",
                                                      "notes") if cell(row, k) is not None}
    if cell(row, "customer_code") is not None or refs["existing"] is None:
        data["customer_id"] = customer_id(refs["customers"], cell(row, "customer_code"), errors)
    if cell(row, "owner") is not None:
        data["owner_id"] = owner_id(refs["users"], cell(row, "owner"), errors)
    if cell(row, "stage") is not None:
        stage = refs["stages"].get(str(cell(row, "stage")))
        if stage is None:
            errors["stage"] = [_("No stage is called '%(name)s'.", name=cell(row, "stage"))]
        else:
            data["stage_id"] = stage.id
    return data


def load_opportunities(ctx: ServiceContext, batch: Sequence[Row], options: ImportOptions = ImportOptions()) -> list[RowResult]:
    """Create, update or leave unchanged one batch of opportunities, by ``number``. New ones get the
    service's defaults (first open stage, its probability, owner) and a first stay in their stage;
    a changed stage moves the opportunity as ``move_stage`` does (its history kept)."""
    ctx.require("sales.opportunity.write")
    lines, rows = split(batch)
    results: list[RowResult | None] = [None] * len(rows)
    live = []
    for i, row in enumerate(rows):
        bad = unknown_columns(row, COLUMNS)
        if not bad and cell(row, "number") is None:
            bad = {"number": [_("This field cannot be empty.")]}
        if bad:
            results[i] = RowResult(i, "rejected", key=cell(row, "number") if isinstance(row, dict) else None,
                                   errors=bad)
        else:
            live.append(i)
    numbers = [str(cell(rows[i], "number")) for i in live]
    linked = {ref.external_id: ref.entity_id for part in [numbers] for ref in ctx.session.scalars(
        select(ExternalRef).where(ExternalRef.system == SYSTEM, ExternalRef.entity == "opportunity",
                                  ExternalRef.external_id.in_(part)))} if numbers else {}
    stored = by_key(ctx, Opportunity.id, linked.values(), lazyload(Opportunity.customer))
    refs: dict[str, Any] = {"customers": customers_by_code(ctx, (cell(rows[i], "customer_code") for i in live)),
                            "users": users_by_name(ctx, (cell(rows[i], "owner") for i in live)),
                            "stages": {s.name: s for s in list_stages(ctx, include_inactive=True)}}
    by_id = {c.id: c for c in refs["customers"].values()}
    first = None
    now = utcnow()
    new: list[tuple[Opportunity, dict[str, Any], int, str]] = []
    for i in live:
        number = str(cell(rows[i], "number"))
        opp = stored.get(linked.get(number, -1))
        refs["existing"] = opp
        errors: dict[str, list[Any]] = {}
        data = _data(rows[i], refs, errors)
        try:
            if opp is not None and not options.update:
                raise exists(_("The opportunity is not valid."))
            if errors:
                raise ValidationError(_("The opportunity is not valid."), errors=errors)
            stage_id = data.pop("stage_id", None)
            data = svc.clean(ctx, {k: v for k, v in data.items() if v is not None}, opp)
            if opp is not None:
                results[i] = _update(ctx, opp, data, stage_id, i, number)
                continue
            customer = live_customer(ctx, data["customer_id"], known=by_id.get(data["customer_id"]))
            if "owner_id" not in data and ctx.actor is not None:
                data["owner_id"] = ctx.actor.id
            data.setdefault("owner_id", customer.owner_id)
            access.may_assign(ctx, data.get("owner_id"), "opportunity")
            if stage_id is not None:
                stage = ctx.session.get(Stage, stage_id)
            else:
                stage = first = first or first_open_stage(ctx)
            values, changes = new_values({  # built without attribute events (``transient``): one INSERT below
                "currency": customer.currency or ctx.settings["DEFAULT_CURRENCY"], "created_at": now,
                "amount": svc.parse_amount(0, "amount", {}), "probability": stage.probability, "stage_id": stage.id},
                data, svc.FIELDS)
            entered = svc.stage_values(stage, now, now, values.get("lost_reason"), "probability" in data)
            values, moved = new_values(values, entered, tuple(entered))
            changes.update(moved)
            opp = transient(Opportunity, **values, stage=stage, stage_entered_at=now)
            ctx.hook.crm_before_save(ctx=ctx, entity="opportunity", obj=opp, changes=changes, created=True)
        except CRMError as exc:
            results[i] = RowResult(i, "rejected", key=number, errors=_columns(exc.errors or {"row": [exc.message]}))
            continue
        new.append((opp, changes, i, number))
    if new:  # one INSERT for the batch, as the other importers write (a flush sent one statement per opportunity)
        table = Opportunity.__table__
        ids = insert_rows(ctx, table, [row_values(opp, table, now) for opp, *_rest in new])
        for (opp, *_rest), new_id in zip(new, ids, strict=True):
            opp.id = new_id
        actor = getattr(ctx.actor, "id", None)
        ctx.session.execute(insert(StageHistory.__table__), [{"opportunity_id": opp.id, "stage_id": opp.stage_id,
                                                    "entered_at": now, "user_id": actor} for opp, *_r in new])
        ctx.session.execute(insert(ExternalRef.__table__), [
            {"system": SYSTEM, "entity": "opportunity", "entity_id": opp.id, "external_id": number}
            for opp, _c, _i, number in new])
    entries = []
    for opp, changes, i, number in new:
        entries.append(("opportunity", "created", opp.id, changes,
                        {"customer_id": opp.customer_id, "stage": opp.stage.name}, "sales.opportunity.created"))
        results[i] = RowResult(i, "created", opp.id, number)
    record(ctx, options, entries)
    return done(results, lines)


def _update(ctx: ServiceContext, opp: Opportunity, data: dict[str, Any], stage_id: int | None, i: int, number: str
            ) -> RowResult:
    """A stored opportunity: ``unchanged``, or changed (and moved) by the service in a savepoint of its own."""
    moved = stage_id is not None and stage_id != opp.stage_id
    if not moved and not any(k in svc.FIELDS and getattr(opp, k) != v for k, v in data.items()):
        return RowResult(i, "unchanged", opp.id, number)
    with ctx.session.begin_nested():
        svc.update_opportunity(ctx, opp.id, {**data, **({"stage_id": stage_id} if moved else {})})
    return RowResult(i, "updated", opp.id, number)
