"""How much of a customer's profile is known: a 0-100 score and what is missing.

A record with only a phone number tells the rep they do not know the customer yet.
"""
from __future__ import annotations

import weakref
from typing import Any, Sequence

from ..i18n import _

# (key, weight, label): the profile facts a rep is expected to know.
CHECKS: tuple[tuple[str, int, str], ...] = (
    ("name", 10, _("name")),
    ("phone", 10, _("phone or mobile")),
    ("email", 10, _("e-mail")),
    ("contact", 15, _("a contact person")),
    ("address", 10, _("an address")),
    ("industry", 10, _("industry")),
    ("owner", 10, _("owner")),
    ("source_channel", 5, _("source channel")),
    ("level", 5, _("level")),
    ("website", 5, _("website")),
    ("tags", 5, _("tags")),
    ("credit_limit", 5, _("credit limit")),
)


# CHECKS' labels per catalogue (an app's translations in one language): translated once, not on every response
_LABELS: weakref.WeakKeyDictionary[Any, list[str]] = weakref.WeakKeyDictionary()


def check_labels() -> list[str]:
    """The labels of ``CHECKS``, in order, in the reader's language."""
    from flask import has_app_context

    if not has_app_context():
        return [str(label) for _key, _weight, label in CHECKS]
    from flask_babel import get_translations

    translations = get_translations()  # Flask-Babel's object for this app and the request's locale
    labels = _LABELS.get(translations)
    if labels is None:
        labels = _LABELS[translations] = [str(label) for _key, _weight, label in CHECKS]
    return labels


def _known(customer: Any, key: str) -> bool:
    if key == "phone":
        return bool(customer.phone) or any(c.phone or c.mobile for c in customer.contacts)
    if key == "email":
        return bool(customer.email) or any(c.email for c in customer.contacts)
    if key == "contact":
        return bool(customer.contacts)
    if key == "address":
        return bool(customer.addresses)
    if key == "owner":
        return customer.owner_id is not None
    if key == "tags":
        return bool(customer.tags)
    return getattr(customer, key) not in (None, "")


def completeness(customer: Any, custom_fields: Sequence[Any] = (), labels: bool = True) -> tuple[int, list[str]]:
    """Return ``(score, missing labels)``; active custom fields count one point each on top.
    ``labels=False`` leaves the labels out (an empty list): the score alone, without translating them."""
    total = got = 0
    missing: list[str] = []
    shown = check_labels() if labels else []
    for i, (key, weight, _label) in enumerate(CHECKS):
        total += weight
        if _known(customer, key):
            got += weight
        elif labels:
            missing.append(shown[i])  # in the reader's language
    attrs = customer.attributes or {}
    for field in custom_fields:
        weight = 5 if field.required else 2
        total += weight
        if attrs.get(field.name) not in (None, "", []):
            got += weight
        elif labels:
            missing.append(str(field.label))
    return round(100 * got / total) if total else 100, missing
