"""Checks shared by the sales services' validations: times, owners, contacts, choices; document numbers."""
from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from crmcore.db import utcnow
from crmcore.errors import ValidationError
from crmcore.i18n import _
from crmcore.models import Contact, User
from crmcore.runtime import ServiceContext


def as_time(value: Any, field: str, errors: dict[str, list[str]]) -> dt.datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            errors.setdefault(field, []).append(_("Use a time like 2026-03-31T10:00:00+08:00."))
            return None
    if not isinstance(value, dt.datetime):
        errors.setdefault(field, []).append(_("Not a time."))
        return None
    if value.tzinfo is None:
        errors.setdefault(field, []).append(_("Give a time zone (e.g. 2026-03-31T10:00:00+08:00)."))
        return None
    return value.astimezone(dt.timezone.utc)


def moment(at: dt.datetime | None) -> dt.datetime:
    """The time a change happens: ``at`` (imports, syncs, tests) or now, always aware UTC."""
    if at is None:
        return utcnow()
    if at.tzinfo is None:
        raise ValidationError(_("The time has no zone."), errors={"at": [_("Give a timezone-aware time.")]})
    return at.astimezone(dt.timezone.utc)


def check_user(ctx: ServiceContext, user_id: Any, field: str, errors: dict[str, list[str]]) -> None:
    if user_id is not None and ctx.session.get(User, user_id) is None:
        errors.setdefault(field, []).append(_("User %(id)s does not exist.", id=user_id))


def check_contact(ctx: ServiceContext, contact_id: Any, customer_id: int | None, errors: dict[str, list[str]]) -> None:
    if contact_id is None:
        return
    contact = ctx.session.get(Contact, contact_id)
    if contact is None or (customer_id is not None and contact.customer_id != customer_id):
        errors.setdefault("contact_id", []).append(_("This contact does not belong to the customer."))


def one_of(value: Any, choices: tuple[str, ...], field: str, errors: dict[str, list[str]]) -> None:
    if value not in choices:
        errors.setdefault(field, []).append(_("Must be one of: %(choices)s.", choices=", ".join(choices)))


# "The <record> is not valid." as whole sentences, so each reads naturally when translated.
INVALID = {
    "quote": _("The quote is not valid."), "opportunity": _("The opportunity is not valid."),
    "lead": _("The lead is not valid."), "activity": _("The activity is not valid."),
    "expense": _("The expense is not valid."), "product": _("The product is not valid."),
    "price list": _("The price list is not valid."), "order": _("The order is not valid."),
    "invoice": _("The invoice is not valid."), "payment": _("The payment is not valid."),
    "sales plan": _("The sales plan is not valid."),
}


def raise_if(errors: dict[str, list[str]], what: str) -> None:
    if errors:
        message = INVALID.get(what) or _("The %(what)s is not valid.", what=what)
        raise ValidationError(message, errors=errors)


def new_number(prefix: str) -> str:
    """A new document number: ``prefix``, today's date and a random suffix (``SO20260331-3FA9C1``)."""
    return f"{prefix}{utcnow():%Y%m%d}-{secrets.token_hex(3).upper()}"
