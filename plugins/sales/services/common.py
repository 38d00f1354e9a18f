"""Input cleaning shared by the sales services: dates, times, owners, customers, contacts."""
from __future__ import annotations

import datetime as dt
from typing import Any

from crmcore.db import utcnow
from crmcore.errors import ValidationError
from crmcore.models import Contact, User


def as_date(value: Any, field: str, errors: dict[str, list[str]]) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        errors.setdefault(field, []).append("Use a date like 2026-03-31.")
        return None


def as_time(value: Any, field: str, errors: dict[str, list[str]]) -> dt.datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            errors.setdefault(field, []).append("Use a time like 2026-03-31T10:00:00+08:00.")
            return None
    if not isinstance(value, dt.datetime):
        errors.setdefault(field, []).append("Not a time.")
        return None
    if value.tzinfo is None:
        errors.setdefault(field, []).append("Give a time zone (e.g. 2026-03-31T10:00:00+08:00).")
        return None
    return value.astimezone(dt.timezone.utc)


def moment(at: dt.datetime | None) -> dt.datetime:
    """The time a change happens: ``at`` (imports, syncs, tests) or now, always aware UTC."""
    if at is None:
        return utcnow()
    if at.tzinfo is None:
        raise ValidationError("The time has no zone.", errors={"at": ["Give a timezone-aware time."]})
    return at.astimezone(dt.timezone.utc)


def check_user(ctx: Any, user_id: Any, field: str, errors: dict[str, list[str]]) -> None:
    if user_id is not None and ctx.session.get(User, user_id) is None:
        errors.setdefault(field, []).append(f"User {user_id} does not exist.")


def check_contact(ctx: Any, contact_id: Any, customer_id: int | None, errors: dict[str, list[str]]) -> None:
    if contact_id is None:
        return
    contact = ctx.session.get(Contact, contact_id)
    if contact is None or (customer_id is not None and contact.customer_id != customer_id):
        errors.setdefault("contact_id", []).append("This contact does not belong to the customer.")


def one_of(value: Any, choices: tuple[str, ...], field: str, errors: dict[str, list[str]]) -> None:
    if value not in choices:
        errors.setdefault(field, []).append(f"Must be one of: {', '.join(choices)}.")


def raise_if(errors: dict[str, list[str]], what: str) -> None:
    if errors:
        raise ValidationError(f"The {what} is not valid.", errors=errors)
