"""Probable duplicates by similar name: the name's first characters are a literal prefix, so a ``%``
in a name (kept in its comparison key) is no wildcard that fills the candidate window with
every customer and pushes the real look-alike out of it."""
from __future__ import annotations

from crmcore.models import Customer
from crmcore.services import customers as customer_svc
from crmcore.services import dedupe
from crmcore.services.customers import derive_fields


def _bulk(ctx, names):
    for i, name in enumerate(names):
        customer = Customer(name=name, code=f"D{i:05d}")
        derive_fields(ctx, customer)
        ctx.session.add(customer)
    ctx.session.commit()


def test_a_percent_in_the_name_is_no_wildcard(ctx):
    target = customer_svc.create_customer(ctx, {"name": "%% Trading Shanghai"})
    assert target.name_key.startswith("%%")
    _bulk(ctx, [f"Unrelated {i} Works" for i in range(dedupe.SIMILAR_WINDOW + 5)])  # fill the window first
    twin = customer_svc.create_customer(ctx, {"name": "%% Tradinq Shanghai"})
    found = {c.customer_id: c for c in dedupe.find_duplicates(ctx, target.id)}
    assert list(found) == [twin.id] and "similar name" in found[twin.id].reasons[0]
