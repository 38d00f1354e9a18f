"""A tag rule refreshed while a customer write names the rule's new tag: both succeed and share
one tag (issue 13), on SQLite and PostgreSQL, each in its own thread and session."""
from __future__ import annotations

import datetime as dt
import importlib.util
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from crmcore.models import Tag
from plugins.analysis.services import tags

AS_OF = dt.date(2026, 6, 30)

_spec = importlib.util.spec_from_file_location(
    "tags_concurrency", Path(__file__).parents[2] / "crmcore" / "test_tags_concurrency.py")
_helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_helpers)
TAG = _helpers.TAG


def test_tag_rule_apply_and_customer_create_naming_one_new_tag(app: Any, rt: Any, ctx: Any, make_customer: Any,
                                                                buy: Any, admin_headers: dict[str, str]) -> None:
    from plugins.analysis.services.rfm import run_rfm

    buy(make_customer("Buyer"), 10)
    run_rfm(ctx, AS_OF)
    tags.create_rule(ctx, {"name": "everyone", "tag": TAG,
                           "conditions": {"field": "frequency", "op": "gte", "value": 0}})

    def apply() -> Any:
        own = rt.context(session=rt.db.new_session(), source="test")
        try:
            return tags.apply_rules(own)
        finally:
            own.session.close()

    create = _helpers._post(app, admin_headers, "/api/v1/customers", {"name": "Concurrent Co", "tags": [TAG]})
    results = _helpers.run_together(rt.db.engine, [apply, create])
    assert results[0] == {"everyone": 1}, results  # the buyer (the new customer has no RFM score yet)
    assert results[1][0] == 201, results
    s = rt.db.new_session()
    assert s.scalar(select(func.count()).select_from(Tag).where(Tag.name == TAG)) == 1
    s.close()
