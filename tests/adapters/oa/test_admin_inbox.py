"""The approval inbox shows what is to be decided (record, customer, amount, discount, requester by
name, age, the policy's reason, a link), the menu's badge counts my pending decisions, and a
decision can be taken from the record's page, which it returns to."""
from __future__ import annotations

import re
from typing import Any

from crmcore.services import approvals
from crmcore.services.approval_inbox import describe_condition
from crmcore.testing.admin import csrf_token
from plugins.sales.models import Quote

from .test_admin_quote import login
from .test_quote_approval import new_quote, policy, submit


def _named_policy() -> dict[str, Any]:
    data = policy()
    data["tiers"][0]["name"] = "Big discount"
    return data


def _client(app: Any, ctx: Any, user: Any, lang: str = "en") -> Any:
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = lang
    login(client, ctx, user)
    return client


def test_inbox_shows_what_is_to_be_decided(app, client, ctx, people, sessions):
    people["rep"].full_name = "Rita Rep"
    ctx.session.commit()
    approvals.create_policy(ctx, _named_policy())
    quote_id = new_quote(client, people, "20")
    submit(client, people, quote_id)
    number = sessions().get(Quote, quote_id).number
    boss = _client(app, ctx, people["boss"])
    page = boss.get("/admin/approval_inbox/").text
    row = page[page.index('class="approval-task"'):page.index('class="approval-decide"')]
    assert f'href="/admin/sales/quote/details/?id={quote_id}"' in row and number in row
    assert "Acme" in row and "800.00" in row and "20%" in row  # 10 x 100 at 20% off; the largest discount
    assert "Rita Rep" in row and ">rep<" not in row  # the requester by name
    assert "Big discount: " in row and "15" in row  # the tier and its condition
    assert re.search(r"\d+ seconds?|\d+ minutes?", row)  # its age
    # the badge in the menu counts my pending decisions; the rep has none
    assert re.search(r'id="crm-approvals-badge"[^>]*>\s*To approve <span[^>]*>1</span>', page)
    # the requests list reads as words too: the quote by its number, the action, the provider, the status
    rep = _client(app, ctx, people["rep"])
    mine_page = rep.get("/admin/approval_inbox/").text
    request_row = mine_page[mine_page.index('class="approval-request"'):]
    request_row = request_row[:request_row.index("</tr>")]
    assert number in request_row and "Submit" in request_row and "in the CRM" in request_row
    assert "Pending" in request_row and "internal" not in request_row and f"quote {quote_id}" not in request_row
    home = boss.get("/admin/").text
    mine = home[home.index('data-panel="approvals"'):]
    mine = mine[:mine.index("</ul>")]
    assert "My approvals (1)" in mine and f'href="/admin/sales/quote/details/?id={quote_id}"' in mine
    assert number in mine and "Acme · Rita Rep" in mine
    assert 'id="crm-approvals-badge"' not in rep.get("/admin/").text
    # decided from the list, the badge goes
    boss.post(f"/admin/approval_inbox/{_request_id(page)}/decide",
              data={"csrf_token": csrf_token(page), "decision": "approve", "comment": "ok"})
    assert sessions().get(Quote, quote_id).status == "approved"
    home = boss.get("/admin/").text
    assert 'id="crm-approvals-badge"' not in home and "My approvals (0)" in home


def _request_id(page: str) -> int:
    return int(re.search(r'data-request="(\d+)"', page).group(1))


def test_decide_from_the_records_page(app, client, ctx, people, sessions):
    approvals.create_policy(ctx, policy())
    quote_id = new_quote(client, people, "20")
    submit(client, people, quote_id)
    url = f"/admin/sales/quote/details/?id={quote_id}"
    rep = _client(app, ctx, people["rep"])
    assert "crm-record-decision" not in rep.get(url).text  # not the rep's decision
    boss = _client(app, ctx, people["boss"])
    page = boss.get(url).text
    assert "crm-record-decision" in page and "This record waits for your decision." in page
    form = page[page.index("crm-record-decision"):]
    next_url = re.search(r'name="next" value="([^"]+)"', form).group(1).replace("&amp;", "&")
    assert next_url == url
    r = boss.post(f"/admin/approval_inbox/{_request_id(form)}/decide", data={
        "csrf_token": csrf_token(page), "decision": "reject", "comment": "too cheap", "next": next_url})
    assert r.status_code == 302 and r.headers["Location"].endswith(url)
    assert sessions().get(Quote, quote_id).status == "rejected"
    assert "crm-record-decision" not in boss.get(url).text


def test_decide_never_redirects_to_another_site(app, client, ctx, people):
    approvals.create_policy(ctx, policy())
    quote_id = new_quote(client, people, "20")
    submit(client, people, quote_id)
    boss = _client(app, ctx, people["boss"])
    page = boss.get("/admin/approval_inbox/").text
    for evil in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        r = boss.post(f"/admin/approval_inbox/{_request_id(page)}/decide", data={
            "csrf_token": csrf_token(page), "decision": "reject", "next": evil})  # no comment: refused
        assert r.status_code == 302 and r.headers["Location"].endswith("/admin/approval_inbox/")


def test_inbox_in_chinese(app, client, ctx, people):
    approvals.create_policy(ctx, _named_policy())
    submit(client, people, new_quote(client, people, "20"))
    page = _client(app, ctx, people["boss"], "zh-CN").get("/admin/approval_inbox/").text
    for words in ("客户", "金额", "折扣", "申请人", "已等待", "原因", "待我审批"):
        assert words in page, words


def test_conditions_in_words(app, ctx):
    with app.test_request_context(headers={"Accept-Language": "en"}):
        text = describe_condition(ctx, "quote", {"any": [
            {"field": "effective_discount_percent", "op": "gt", "value": 15},
            {"all": [{"field": "status", "op": "in", "value": ["draft", "sent"]},
                     {"not": {"field": "notes", "op": "is_null"}}]},
            {"predicate": "sales.quote.discount_over", "args": {"percent": 30}}]})
    assert text == ("(Discount % > 15 or (Status is one of draft, sent and not Notes is empty) or "
                    "The quote's largest discount (overall or a line) is above a percent (30))")


def test_manager_approves_from_the_inbox_in_chromium(app, client, ctx, people, sessions, tmp_path):
    from selenium.webdriver.common.by import By

    from crmcore.services import users as user_svc
    from crmcore.testing.browser import browser_login, chromium, serve

    user_svc.set_password(ctx, people["boss"], "password123")
    ctx.session.commit()
    approvals.create_policy(ctx, _named_policy())
    quote_id = new_quote(client, people, "20")
    submit(client, people, quote_id)
    with serve(app) as url, chromium(tmp_path) as browser:
        browser_login(browser, url, "boss")
        badge = browser.find_element(By.ID, "crm-approvals-badge")
        assert badge.text.endswith("1")
        badge.click()
        row = browser.find_element(By.CSS_SELECTOR, "tr.approval-task")
        assert "Acme" in row.text and "Big discount" in row.text
        form = browser.find_element(By.CSS_SELECTOR, "tr.approval-decide form")
        form.find_element(By.NAME, "comment").send_keys("strategic account")
        form.find_element(By.CSS_SELECTOR, "button[value=approve]").click()
        assert "Approved." in browser.find_element(By.CSS_SELECTOR, ".alert-success").text
        assert "Nothing waits for you." in browser.page_source
        assert not browser.find_elements(By.ID, "crm-approvals-badge")
    assert sessions().get(Quote, quote_id).status == "approved"
