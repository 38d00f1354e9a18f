"""A/B/n tests: the stated test (two-proportion z-test) and sample size checked against known values and by
simulation, variants split evenly and independently of the control group, the winner sent to the rest."""
from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from crmcore.errors import ValidationError
from plugins.marketing.models import Recipient
from plugins.marketing.services import abtest, audiences, campaigns, results, templates, tracking


def test_the_z_test_and_the_sample_size() -> None:
    r = abtest.z_test(200, 1000, 150, 1000)  # 20 % against 15 %
    assert r["z"] == pytest.approx(2.9426, abs=1e-3) and r["p_value"] == pytest.approx(0.00326, abs=2e-4)
    assert abtest.z_test(0, 0, 1, 10) == {"z": None, "p_value": None}
    n = abtest.sample_size(0.05, 0.02)
    assert 2150 < n < 2260 and abtest.sample_size(0.05, 0.01) > 3 * n
    # at that size, a real difference of 2 points is found about 80 % of the time, a null one about 5 %
    rng = np.random.default_rng(7)
    a, b, same = (rng.binomial(n, p, size=3000) for p in (0.05, 0.07, 0.05))
    power = np.mean([abtest.z_test(int(y), n, int(x), n)["p_value"] < 0.05 for x, y in zip(a, b, strict=True)])
    false = np.mean([abtest.z_test(int(y), n, int(x), n)["p_value"] < 0.05 for x, y in zip(a, same, strict=True)])
    assert 0.76 < power < 0.84 and 0.03 < false < 0.07


def test_variants_are_checked(ctx: Any) -> None:
    audience = audiences.create_audience(ctx, {"name": "all", "condition": {"field": "stage", "op": "eq",
                                                                             "value": "customer"}})
    t = templates.create_template(ctx, {"name": "A", "subject": "A", "text": "A"})
    with pytest.raises(ValidationError) as exc:
        campaigns.create_campaign(ctx, {"name": "x", "audience_id": audience.id, "template_id": t.id,
                                        "variants": [{"label": "A", "template_id": t.id}]})
    assert "variants" in exc.value.errors
    with pytest.raises(ValidationError) as exc:
        campaigns.create_campaign(ctx, {"name": "x", "audience_id": audience.id, "template_id": t.id,
                                        "variants": [{"label": "A", "template_id": t.id},
                                                     {"label": "A", "template_id": 999}], "ab_metric": "bought"})
    assert set(exc.value.errors) == {"variants", "ab_metric"}


def test_the_winner_goes_to_those_waiting(ctx: Any, subscriber: Any, inbox: Any) -> None:
    for i in range(60):
        subscriber(f"客户{i}", f"t{i}@example.cn", stage="customer")
    audience = audiences.create_audience(ctx, {"name": "all", "condition": {"field": "stage", "op": "eq",
                                                                             "value": "customer"}})
    a = templates.create_template(ctx, {"name": "A", "subject": "版本A", "text": "A"})
    b = templates.create_template(ctx, {"name": "B", "subject": "版本B", "text": "B"})
    campaign = campaigns.create_campaign(ctx, {
        "name": "ab", "audience_id": audience.id, "template_id": a.id, "ab_test_percent": 50, "ab_hours": 24,
        "ab_metric": "clicked", "variants": [{"label": "A", "template_id": a.id}, {"label": "B", "template_id": b.id}]})
    ready = campaigns.readiness(ctx, campaign)
    assert ready["ab_per_variant"] == 15 and ready["ab_needed_per_variant"] == abtest.needed(ctx)
    campaigns.start(ctx, campaign.id)
    first = campaigns.send_campaign(ctx, campaign.id)
    assert 15 <= first["sent"] <= 45 and first["sent"] + first["waiting"] == 60  # the testers only, for now
    by_variant = {}
    for r in ctx.session.scalars(select(Recipient).where(Recipient.status == "sent")):
        by_variant.setdefault(r.variant_id, []).append(r)
    assert len(by_variant) == 2 and all(len(v) >= 5 for v in by_variant.values())  # both variants tried
    subjects = {m["To"]: m["Subject"] for m in inbox.messages}
    b_id = next(v.id for v in campaign.variants if v.label == "B")
    for r in by_variant[b_id][:5]:  # B's readers click, A's do not
        assert subjects[r.address] == "版本B"
        tracking.record_event(ctx, r.id, "clicked", "https://shop.example")
    assert ctx.session.get(type(campaign), campaign.id).status == "running"
    early = campaigns.send_campaign(ctx, campaign.id)
    assert early == first  # before the test's time is up nothing more goes
    later = campaign.started_at + dt.timedelta(hours=25)
    done = campaigns.send_campaign(ctx, campaign.id, now=later)
    assert done == {"sent": 60}
    waited = [m for m in inbox.messages[first["sent"]:]]
    assert waited and {m["Subject"] for m in waited} == {"版本B"}
    report = results.report(ctx, campaign.id)["ab_test"]
    assert report["winner"] == "B" and report["test"].startswith("two-proportion z-test")
    assert ctx.session.get(type(campaign), campaign.id).status == "done"
