"""The ``interactions`` import kind: timeline entries of customers named by code, idempotent by external id."""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from marshmallow import ValidationError as SchemaError
from sqlalchemy import select

from ..db import utcnow
from ..errors import CRMError, ValidationError
from ..i18n import _
from ..models import Interaction
from ..services.interactions import check_interaction, validate_interaction
from ..services.unit import apply_changes
from ..services.validation import messages_text
from .contract import CREATED, REJECTED, UNCHANGED, UPDATED, Column, ImportKind, ImportOptions, Row, RowResult
from .driver import record, rejected
from .refs import CustomerLookup, add_external_ids, external_id_of, external_ids
from .sql import insert_rows, row_values, transient

if TYPE_CHECKING:
    from ..runtime import ServiceContext

FIELDS = ("channel", "direction", "subject", "body", "occurred_at")


def _same_time(a: Any, b: Any) -> bool:
    return isinstance(a, dt.datetime) and isinstance(b, dt.datetime) and a == b


def load(ctx: ServiceContext, rows: list[Row], options: ImportOptions) -> list[RowResult]:
    """Validate and write one batch of interaction rows (see :data:`crmcore.imports.Loader`)."""
    ctx.require("interaction.write")
    session = ctx.session
    customer_of = CustomerLookup(ctx, [raw.get("customer_code") for _l, raw in rows], "customer.read")
    refs = external_ids(ctx, "interaction", [e for _l, raw in rows if (e := external_id_of(raw))])
    known = {x.id: x for x in session.scalars(select(Interaction).where(Interaction.id.in_(set(refs.values()))))} \
        if refs else {}
    results: list[RowResult | None] = [None] * len(rows)
    now = utcnow()
    entries: list[Any] = []
    changed: list[tuple[int, Interaction, dict[str, Any]]] = []
    built: list[tuple[int, Any, Interaction, str]] = []
    for i, (line, raw) in enumerate(rows):
        ext = external_id_of(raw)
        try:
            if ext is None:
                message = _("Give the interaction's id in the other system: a second import then updates it "
                            "instead of adding it again.")
                raise ValidationError(message, errors={"external_id": [message]})
            customer = customer_of(raw.get("customer_code"))
            data = validate_interaction(ctx, {k: v for k, v in raw.items() if k not in ("customer_code", "external_id")})
            occurred = check_interaction(ctx, customer, data)
            existing = known.get(refs[ext]) if ext in refs else None
            if existing is not None:
                if existing.customer_id != customer.id:
                    message = _("The interaction of this external id belongs to another customer.")
                    raise ValidationError(message, errors={"customer_code": [message]})
                if not options.update:
                    raise ValidationError(_("This interaction exists."), errors={"external_id": [_("Already exists.")]})
                wanted = {**{k: data[k] for k in FIELDS if k in data}, "occurred_at": occurred}
                if _same_time(existing.occurred_at, occurred):
                    wanted.pop("occurred_at")
                with session.no_autoflush:
                    changes = apply_changes(existing, wanted, FIELDS)
                    if changes:
                        ctx.hook.crm_before_save(ctx=ctx, entity="interaction", obj=existing, changes=changes,
                                                 created=False)
                changed.append((i, existing, changes))
                continue
            item = transient(Interaction, customer_id=customer.id, user_id=getattr(ctx.actor, "id", None),
                             occurred_at=occurred, source=ctx.source, direction=data.get("direction", "inbound"),
                             data={}, **{k: data[k] for k in ("channel", "subject", "body") if k in data})
            ctx.hook.crm_before_save(ctx=ctx, entity="interaction", obj=item, changes={}, created=True)
            built.append((i, customer, item, ext))
        except SchemaError as exc:
            results[i] = RowResult(line, REJECTED, key=ext, errors=messages_text(exc.messages_dict))
        except CRMError as exc:
            results[i] = rejected(line, ext, exc)
    table = Interaction.__table__
    ids = insert_rows(ctx, table, [row_values(item, table, now) for _i, _c, item, _e in built])
    add_external_ids(ctx, "interaction", [(ext, iid) for (_i, _c, _it, ext), iid in zip(built, ids, strict=True)])
    session.flush()
    for i, item, changes in changed:
        if changes:
            entries.append(("interaction", "updated", item.id, changes, {"customer_id": item.customer_id}))
        results[i] = RowResult(rows[i][0], UPDATED if changes else UNCHANGED, item.id, external_id_of(rows[i][1]))
    for (i, customer, item, ext), iid in zip(built, ids, strict=True):
        entries.append(("interaction", "created", iid, {"channel": [None, item.channel], "subject": [None, item.subject]},
                        {"customer_id": customer.id}))
        results[i] = RowResult(rows[i][0], CREATED, iid, ext)
    record(ctx, options, entries)
    return [r for r in results if r is not None]


KIND = ImportKind(
    name="interactions", label=_("Interactions"), permission="customer.import", key="external_id",
    entity="interaction",
    columns=(
        Column("external_id", _("Id in the other system: a row whose id was imported before updates that "
                                "interaction"), required=True),
        Column("customer_code", _("Code of the customer"), required=True),
        Column("channel", _("phone, email, wechat, qq, visit, meeting, ..."), required=True),
        Column("subject", _("Subject"), required=True),
        Column("direction", _("inbound (default), outbound or internal")),
        Column("body", _("Notes")),
        Column("occurred_at", _("When, ISO 8601 with a time zone (2026-11-23T10:00:00+08:00); default: now")),
    ),
    load=load,
)
