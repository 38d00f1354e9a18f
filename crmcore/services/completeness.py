"""How much of a customer's profile is known: a 0-100 score and what is missing.

A record with only a phone number tells the rep they do not know the customer yet.
"""
from __future__ import annotations

from typing import Any

# (key, weight, label): the profile facts a rep is expected to know.
CHECKS: tuple[tuple[str, int, str], ...] = (
    ("name", 10, "name"),
    ("phone", 10, "phone or mobile"),
    ("email", 10, "e-mail"),
    ("contact", 15, "a contact person"),
    ("address", 10, "an address"),
    ("industry", 10, "industry"),
    ("owner", 10, "owner"),
    ("source_channel", 5, "source channel"),
    ("level", 5, "level"),
    ("website", 5, "website"),
    ("tags", 5, "tags"),
    ("credit_limit", 5, "credit limit"),
)


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


def completeness(customer: Any, custom_fields: list[Any] = ()) -> tuple[int, list[str]]:
    """Return ``(score, missing labels)``; active custom fields count one point each on top."""
    total = got = 0
    missing: list[str] = []
    for key, weight, label in CHECKS:
        total += weight
        if _known(customer, key):
            got += weight
        else:
            missing.append(label)
    attrs = customer.attributes or {}
    for field in custom_fields:
        weight = 5 if field.required else 2
        total += weight
        if attrs.get(field.name) not in (None, "", []):
            got += weight
        else:
            missing.append(field.label)
    return round(100 * got / total) if total else 100, missing
