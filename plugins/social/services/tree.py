"""The referral tree: a customer's ancestors (who brought them, and who brought those) and descendants
(whom they brought, directly or not), each read with one recursive CTE, depth limited."""
from __future__ import annotations

from typing import Any

from sqlalchemy import literal, select
from sqlalchemy.orm import aliased

from crmcore.models import Customer
from crmcore.runtime import ServiceContext
from crmcore.services.access import scope_customers
from crmcore.services.customers import get_customer

from ..models import Referral

MAX_DEPTH = 10  # the deepest level read or counted (setting SOCIAL_TREE_MAX_DEPTH)


def max_depth(ctx: ServiceContext) -> int:
    try:
        return max(1, min(int(ctx.settings.get("SOCIAL_TREE_MAX_DEPTH") or MAX_DEPTH), 50))
    except (TypeError, ValueError):
        return MAX_DEPTH


def _ancestors(ctx: ServiceContext, customer_id: int, depth: int) -> list[tuple[int, int]]:
    """(ancestor id, level) from the customer's referrer (level 1) upwards."""
    start = (select(Referral.referrer_customer_id.label("cid"), literal(1).label("depth"))
             .where(Referral.referee_customer_id == customer_id, Referral.referrer_customer_id.is_not(None))
             .cte("social_up", recursive=True))
    up = aliased(Referral)
    cte = start.union_all(select(up.referrer_customer_id, start.c.depth + 1)
                          .join(up, up.referee_customer_id == start.c.cid)
                          .where(up.referrer_customer_id.is_not(None), start.c.depth < depth))
    return [(int(c), int(d)) for c, d in ctx.session.execute(select(cte.c.cid, cte.c.depth).order_by(cte.c.depth))]


def ancestors_of_all(ctx: ServiceContext, customer_ids: set[int]) -> set[int]:
    """Every customer above any of ``customer_ids`` (a batch of payments: one query for all of them)."""
    if not customer_ids:
        return set()
    start = (select(Referral.referrer_customer_id.label("cid"), literal(1).label("depth"))
             .where(Referral.referee_customer_id.in_(customer_ids), Referral.referrer_customer_id.is_not(None))
             .cte("social_up_all", recursive=True))
    up = aliased(Referral)
    cte = start.union_all(select(up.referrer_customer_id, start.c.depth + 1)
                          .join(up, up.referee_customer_id == start.c.cid)
                          .where(up.referrer_customer_id.is_not(None), start.c.depth < 10_000))
    return {int(c) for c in ctx.session.scalars(select(cte.c.cid).distinct())}


def ancestor_ids(ctx: ServiceContext, customer_id: int) -> set[int]:
    """Every customer above ``customer_id`` (as deep as a cycle check needs: the whole chain)."""
    return {c for c, _d in _ancestors(ctx, customer_id, 10_000)}


def _descendants(ctx: ServiceContext, customer_id: int, depth: int) -> list[tuple[int, int, int]]:
    """(descendant id, its referrer's id, level) below the customer."""
    start = (select(Referral.referee_customer_id.label("cid"), Referral.referrer_customer_id.label("parent"),
                    literal(1).label("depth"))
             .where(Referral.referrer_customer_id == customer_id, Referral.referee_customer_id.is_not(None))
             .cte("social_down", recursive=True))
    down = aliased(Referral)
    cte = start.union_all(select(down.referee_customer_id, down.referrer_customer_id, start.c.depth + 1)
                          .join(down, down.referrer_customer_id == start.c.cid)
                          .where(down.referee_customer_id.is_not(None), start.c.depth < depth))
    rows = ctx.session.execute(select(cte.c.cid, cte.c.parent, cte.c.depth).order_by(cte.c.depth, cte.c.cid))
    return [(int(c), int(p), int(d)) for c, p, d in rows]


def _names(ctx: ServiceContext, ids: set[int]) -> dict[int, str]:
    """Names of the customers among ``ids`` the actor may see (others stay nameless)."""
    if not ids:
        return {}
    stmt = scope_customers(ctx, select(Customer.id, Customer.name).where(Customer.id.in_(ids)))
    return {int(i): n for i, n in ctx.session.execute(stmt)}


def referral_tree(ctx: ServiceContext, customer_id: int, depth: int | None = None) -> dict[str, Any]:
    """A customer's place in the referral tree: ancestors nearest first, descendants level by level.
    Customers outside the actor's scope are listed without their name (``name`` None, ``visible`` False)."""
    ctx.require("social.read")
    customer = get_customer(ctx, customer_id)
    limit = min(depth or max_depth(ctx), max_depth(ctx))
    ups = _ancestors(ctx, customer.id, limit)
    downs = _descendants(ctx, customer.id, limit)
    names = _names(ctx, {c for c, _d in ups} | {c for c, _p, _d in downs})

    def node(cid: int, level: int, parent: int | None = None) -> dict[str, Any]:
        return {"id": cid, "name": names.get(cid), "visible": cid in names, "depth": level, "parent_id": parent}

    return {"customer": {"id": customer.id, "name": customer.name}, "max_depth": limit,
            "ancestors": [node(c, d) for c, d in ups],
            "descendants": [node(c, d, p) for c, p, d in downs]}
