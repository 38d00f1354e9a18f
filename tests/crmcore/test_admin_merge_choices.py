"""Merging two customers in the admin: the user compares them field by field and chooses which value
to keep; the result says what moved, by name, and which values were taken; undo puts all back."""
from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from crmcore.models import AuditLog, Customer
from crmcore.services import contacts, customers, dedupe
from crmcore.errors import ValidationError
from crmcore.testing.admin import admin_login, csrf_token


@pytest.fixture
def boss(app: Any, make_user: Any) -> Any:
    make_user("admin", username="boss")
    return admin_login(app.test_client(), "boss", lang="en")


def _pair(ctx: Any, make_user: Any) -> tuple[Customer, Customer]:
    rep, _ = make_user("sales", username="rep_a")
    rep.full_name = "Rita Rep"
    winner = customers.create_customer(ctx, {"name": "Sunrise Trading", "phone": "13800138000", "industry": "Retail",
                                             "stage": "prospect"})
    loser = customers.create_customer(ctx, {"name": "Sunrise Trading Co", "phone": "13900139000",
                                            "industry": "Wholesale", "website": "https://sunrise.example",
                                            "stage": "customer", "owner_id": rep.id})
    contacts.create_contact(ctx, loser.id, {"name": "Li Lei", "mobile": "13700137000"})
    return winner, loser


def test_compare_then_merge_keeping_chosen_values(boss: Any, ctx: Any, rt: Any, make_user: Any) -> None:
    winner, loser = _pair(ctx, make_user)
    page = boss.get(f"/admin/customer/compare/?id={winner.id}&target={loser.id}").text
    for words in ("Phone", "Industry", "Website", "Stage", "Owner", "Rita Rep", "Customer", "Prospect", "Wholesale"):
        assert words in page, words
    assert 'data-field="code"' not in page  # the code is never taken over
    assert 'data-field="currency"' not in page  # same on both: nothing to choose
    # the website is empty here: taking the other's is the default; the rest stays as it is
    assert 'name="keep_website" value="other" checked' in page
    assert 'name="keep_phone" value="this" checked' in page
    r = boss.post(f"/admin/customer/merge/?id={winner.id}", data={
        "csrf_token": csrf_token(page), "target": loser.id, "keep_phone": "other", "keep_industry": "this",
        "keep_website": "other", "keep_stage": "other"})
    assert r.status_code == 302
    shown = boss.get(r.headers["Location"]).text
    assert "Sunrise Trading Co was merged into this one; moved: Contacts 1." in shown
    assert "Taken from Sunrise Trading Co: Phone, Stage, Website." in shown
    rt.db.session.remove()
    merged = rt.db.session.get(Customer, winner.id)
    assert (merged.phone_normalized, merged.industry, merged.website, merged.stage) == (
        "+8613900139000", "Retail", "https://sunrise.example", "customer")
    # undo restores the values this customer had
    entry = rt.db.session.scalar(select(AuditLog).where(AuditLog.action == "merged"))
    boss.post(f"/admin/customer/unmerge/?id={winner.id}", data={"csrf_token": csrf_token(shown), "target": entry.id})
    rt.db.session.remove()
    back = rt.db.session.get(Customer, winner.id)
    assert (back.phone_normalized, back.website, back.stage) == ("+8613800138000", None, "prospect")


def test_merge_refuses_a_field_that_cannot_be_chosen(ctx: Any, make_user: Any) -> None:
    winner, loser = _pair(ctx, make_user)
    with pytest.raises(ValidationError) as err:
        dedupe.merge_customers(ctx, winner.id, loser.id, ["code", "phone"])
    assert "code" in err.value.message and "keep_from_loser" in err.value.errors
    assert ctx.session.get(Customer, loser.id).merged_into_id is None


def test_api_merge_with_chosen_values(client: Any, ctx: Any, make_user: Any) -> None:
    winner, loser = _pair(ctx, make_user)
    _, headers = make_user("admin", username="api_boss")
    r = client.post(f"/api/v1/customers/{winner.id}/merge", headers=headers,
                    json={"loser_id": loser.id, "keep_from_loser": ["nope"]})
    assert r.status_code == 422 and "nope" in r.json["message"]
    r = client.post(f"/api/v1/customers/{winner.id}/merge", headers=headers,
                    json={"loser_id": loser.id, "keep_from_loser": ["industry"]})
    assert r.status_code == 200 and r.json["filled"] == ["industry", "website"]
    assert client.get(f"/api/v1/customers/{winner.id}", headers=headers).json["industry"] == "Wholesale"


def test_compare_shows_the_source_channel_in_words(app: Any, ctx: Any, make_user: Any) -> None:
    make_user("admin", username="boss_zh")
    reader = admin_login(app.test_client(), "boss_zh", lang="zh-CN")
    one = customers.create_customer(ctx, {"name": "张三商贸", "source_channel": "wechat"})
    two = customers.create_customer(ctx, {"name": "张三商贸有限公司", "source_channel": "web"})
    page = reader.get(f"/admin/customer/compare/?id={one.id}&target={two.id}").text
    row = page[page.index('data-field="source_channel"'):]
    row = row[:row.index("</tr>")]
    assert "微信" in row and "网站" in row and "> wechat" not in row and "> web" not in row, row
