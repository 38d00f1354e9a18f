"""The analysis adds computed customer fields (latest RFM segment and recency, lifetime value, churn score)
that the core's condition language filters on and the entity metadata lists, in the reader's language."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select

from crmcore import conditions, entities
from crmcore.models import Customer
from plugins.analysis.models import RfmScore


def _score(ctx, customer, day, segment, recency):
    ctx.session.add(RfmScore(run_date=day, customer_id=customer.id, recency_days=recency, frequency=1,
                             monetary=Decimal("10"), currency="CNY", r_score=1, f_score=1, m_score=1, segment=segment))


def test_conditions_over_the_latest_run(ctx, make_customer):
    a, b, c = make_customer("A"), make_customer("B"), make_customer("C")
    _score(ctx, a, dt.date(2026, 1, 1), "champions", 5)
    _score(ctx, b, dt.date(2026, 1, 1), "champions", 5)
    _score(ctx, a, dt.date(2026, 2, 1), "lost", 400)  # the latest run moved A out
    _score(ctx, b, dt.date(2026, 2, 1), "champions", 3)
    ctx.session.commit()
    fields = entities.condition_fields(ctx, "customer")

    def ids(condition):
        return set(ctx.session.scalars(select(Customer.id).where(conditions.compile_sql(condition, fields))))

    assert ids({"field": "rfm_segment", "op": "eq", "value": "champions"}) == {b.id}
    assert ids({"field": "days_since_last_order", "op": "gt", "value": 100}) == {a.id}
    assert ids({"not": {"field": "rfm_segment", "op": "eq", "value": "champions"}}) == {a.id, c.id}
    assert ids({"all": [{"field": "rfm_segment", "op": "is_null"}, {"field": "name", "op": "eq", "value": "C"}]}) == {c.id}


def test_listed_in_the_customer_metadata(client, admin_headers):
    zh = client.get("/api/v1/meta/entities/customer", headers={**admin_headers, "Accept-Language": "zh-CN"}).json
    fields = {f["name"]: f for f in zh["fields"]}
    assert fields["rfm_segment"]["source"] == "computed" and fields["rfm_segment"]["label"] == "RFM 分群"
    assert fields["lifetime_value"]["type"] == "num" and fields["days_since_last_order"]["type"] == "int"
