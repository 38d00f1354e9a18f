"""The admin at /admin through Flask's test client: login, CSRF, record rules, writes through services."""
from __future__ import annotations

import hashlib
import re
from typing import Any

import pytest
from sqlalchemy import func, select

from crmcore.models import ApiToken, AuditLog, Customer, Interaction, User
from crmcore.services import contacts, custom_fields, customers

PASSWORD = "password123"
CSRF = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = CSRF.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def login(client: Any, username: str, password: str = PASSWORD, next_url: str | None = None) -> Any:
    page = client.get("/admin/auth/login")
    url = "/admin/auth/login" + (f"?next={next_url}" if next_url else "")
    return client.post(url, data={"csrf_token": csrf_from(page.text), "username": username, "password": password})


def form_token(client: Any, url: str) -> str:
    page = client.get(url)
    assert page.status_code == 200, page.text[:500]
    return csrf_from(page.text)


def count(rt: Any, model: Any, *where: Any) -> int:
    rt.db.session.remove()
    return rt.db.session.scalar(select(func.count()).select_from(model).where(*where))


@pytest.fixture(autouse=True)
def _english(client: Any) -> None:
    """Assertions below read English; the language otherwise follows the user and the browser."""
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"


@pytest.fixture
def admin_client(client: Any, make_user: Any) -> Any:
    make_user("admin", username="boss")
    assert login(client, "boss").status_code == 302
    return client


# ---- login -----------------------------------------------------------------------------------


def test_admin_requires_login(client: Any) -> None:
    for url in ("/admin/", "/admin/customer/", "/admin/plugins/", "/admin/user/"):
        resp = client.get(url)
        assert resp.status_code == 302, url
        assert resp.headers["Location"].startswith("/admin/auth/login?next=")


def test_wrong_password_shows_an_error(client: Any, make_user: Any) -> None:
    make_user("admin", username="boss")
    resp = login(client, "boss", "not-the-password")
    assert resp.status_code == 401
    assert "Wrong username or password." in resp.text
    assert client.get("/admin/").status_code == 302  # still anonymous


def test_login_works_and_redirects_only_locally(client: Any, make_user: Any, rt: Any) -> None:
    user, _ = make_user("admin", username="boss")
    resp = login(client, "boss", next_url="/admin/customer/")
    assert resp.status_code == 302 and resp.headers["Location"] == "/admin/customer/"
    assert client.get("/admin/").status_code == 200
    rt.db.session.remove()
    assert rt.db.session.get(User, user.id).last_login_at is not None
    for evil in ("https://evil.example/x", "//evil.example/x", "/\\evil.example"):
        client.post("/admin/auth/logout", data={"csrf_token": form_token(client, "/admin/auth/logout")})
        resp = login(client, "boss", next_url=evil)
        assert resp.headers["Location"] == "/admin/", evil


def test_logout_needs_a_post_with_csrf(admin_client: Any) -> None:
    assert admin_client.get("/admin/auth/logout").status_code == 200  # a confirmation page
    assert admin_client.get("/admin/").status_code == 200
    assert admin_client.post("/admin/auth/logout").status_code == 400
    token = form_token(admin_client, "/admin/auth/logout")
    assert admin_client.post("/admin/auth/logout", data={"csrf_token": token}).status_code == 302
    assert admin_client.get("/admin/").status_code == 302


def test_dashboard_counts_by_stage_and_recent_interactions(admin_client: Any, ctx: Any) -> None:
    c = customers.create_customer(ctx, {"name": "Dashboard Co", "stage": "prospect"})
    from crmcore.services.interactions import log_interaction

    log_interaction(ctx, c.id, {"channel": "wechat", "subject": "Asked for a price list"})
    page = admin_client.get("/admin/").text
    assert 'data-stage="prospect">1<' in page
    assert "Asked for a price list" in page


# ---- CSRF ----------------------------------------------------------------------------------------


def test_post_without_csrf_token_is_rejected_and_writes_nothing(admin_client: Any, rt: Any) -> None:
    resp = admin_client.post("/admin/customer/new/", data={"name": "No Token Ltd", "kind": "organization",
                                                           "stage": "lead"})
    assert resp.status_code == 400
    assert count(rt, Customer) == 0
    token = form_token(admin_client, "/admin/customer/new/")
    resp = admin_client.post("/admin/customer/new/", data={"csrf_token": token, "name": "With Token Ltd",
                                                           "kind": "organization", "stage": "lead"})
    assert resp.status_code == 302
    assert count(rt, Customer, Customer.name == "With Token Ltd") == 1


def test_every_admin_form_carries_the_csrf_token(admin_client: Any, ctx: Any) -> None:
    c = customers.create_customer(ctx, {"name": "Form Co"})
    for url in ("/admin/customer/new/", f"/admin/customer/edit/?id={c.id}", "/admin/user/new/", "/admin/role/new/",
                "/admin/team/new/", "/admin/api_token/new/", "/admin/custom_field/new/", "/admin/contact/new/",
                "/admin/interaction/new/"):
        assert CSRF.search(admin_client.get(url).text), url
    listing = admin_client.get("/admin/customer/").text
    # the row delete forms and the bulk action form
    assert listing.count('name="csrf_token"') >= 2


def test_delete_without_token_is_rejected(admin_client: Any, ctx: Any, rt: Any) -> None:
    c = customers.create_customer(ctx, {"name": "Keep Me"})
    assert admin_client.post("/admin/customer/delete/", data={"id": c.id}).status_code == 400
    assert count(rt, Customer, Customer.deleted_at.is_(None)) == 1
    token = csrf_from(admin_client.get("/admin/customer/").text)
    resp = admin_client.post("/admin/customer/delete/", data={"id": c.id, "csrf_token": token})
    assert resp.status_code == 302
    assert count(rt, Customer, Customer.deleted_at.is_(None)) == 0
    assert count(rt, AuditLog, AuditLog.action == "deleted", AuditLog.entity == "customer") == 1


# ---- customers: writes go through the service ---------------------------------------------------------


def test_create_and_edit_customer_through_the_service(admin_client: Any, ctx: Any, rt: Any) -> None:
    custom_fields.create_field(ctx, {"entity": "customer", "name": "company_size", "label": "Company size",
                                     "type": "choice", "choices": ["1-10", "11-50"]})
    token = form_token(admin_client, "/admin/customer/new/")
    resp = admin_client.post("/admin/customer/new/", data={
        "csrf_token": token, "name": "上海测试贸易有限公司", "kind": "organization", "stage": "prospect",
        "level": "A", "tag_names": "VIP，批发, VIP", "phone": "021-6234 5678", "credit_limit": "1000.50",
        "currency": "CNY", "attr__company_size": "11-50"})
    assert resp.status_code == 302
    rt.db.session.remove()
    customer = rt.db.session.scalar(select(Customer).where(Customer.name == "上海测试贸易有限公司"))
    assert resp.headers["Location"].endswith(f"/admin/customer/details/?id={customer.id}")
    assert sorted(t.name for t in customer.tags) == ["VIP", "批发"]
    assert customer.attributes == {"company_size": "11-50"}
    assert customer.phone_normalized  # derived by the service
    entry = rt.db.session.scalar(select(AuditLog).where(AuditLog.entity == "customer", AuditLog.action == "created"))
    assert entry.entity_id == str(customer.id) and entry.source == "admin" and entry.actor_label == "boss"

    edit_url = f"/admin/customer/edit/?id={customer.id}"
    page = admin_client.get(edit_url).text
    assert 'value="VIP, 批发"' in page and f'name="version" type="hidden" value="{customer.version}"' in page
    resp = admin_client.post(edit_url, data={
        "csrf_token": csrf_from(page), "name": "上海测试贸易有限公司", "code": customer.code, "kind": "organization",
        "stage": "customer", "level": "A", "tag_names": "VIP", "phone": "021-6234 5678", "credit_limit": "1000.50",
        "currency": "CNY", "attr__company_size": "11-50", "version": str(customer.version)})
    assert resp.status_code == 302
    entry = rt.db.session.scalar(select(AuditLog).where(AuditLog.entity == "customer", AuditLog.action == "updated"))
    assert entry.changes["stage"] == ["prospect", "customer"]
    assert entry.changes["tags"] == [["VIP", "批发"], ["VIP"]]


def test_service_errors_are_shown_and_input_kept(admin_client: Any, rt: Any) -> None:
    token = form_token(admin_client, "/admin/customer/new/")
    resp = admin_client.post("/admin/customer/new/", data={
        "csrf_token": token, "name": "Typo Trading", "kind": "organization", "stage": "lead",
        "email": "not-an-email", "phone": "12"})
    assert resp.status_code == 200
    assert "The customer is not valid." in resp.text
    assert "Not a valid e-mail address." in resp.text and "Not a valid phone number." in resp.text
    assert 'value="not-an-email"' in resp.text and 'value="Typo Trading"' in resp.text
    assert count(rt, Customer) == 0


def test_stale_edit_is_refused(admin_client: Any, ctx: Any, rt: Any) -> None:
    c = customers.create_customer(ctx, {"name": "Stale Co"})
    page = admin_client.get(f"/admin/customer/edit/?id={c.id}").text
    customers.update_customer(ctx, c.id, {"level": "B"})  # someone else, meanwhile
    resp = admin_client.post(f"/admin/customer/edit/?id={c.id}", data={
        "csrf_token": csrf_from(page), "name": "Stale Co renamed", "code": c.code, "kind": "organization",
        "stage": "lead", "version": "1"})
    assert resp.status_code == 200 and "reload it and try again" in resp.text
    assert count(rt, Customer, Customer.name == "Stale Co renamed") == 0


# ---- record rules -----------------------------------------------------------------------------------------


def test_sales_rep_sees_only_own_customers(client: Any, make_user: Any, ctx: Any) -> None:
    rep, _ = make_user("sales", username="rep_a")
    other, _ = make_user("sales", username="rep_b")
    mine = customers.create_customer(ctx, {"name": "Mine Ltd", "owner_id": rep.id})
    theirs = customers.create_customer(ctx, {"name": "Theirs Ltd", "owner_id": other.id})
    login(client, "rep_a")
    listing = client.get("/admin/customer/").text
    assert "Mine Ltd" in listing and "Theirs Ltd" not in listing
    assert client.get(f"/admin/customer/details/?id={mine.id}").status_code == 200
    assert client.get(f"/admin/customer/details/?id={theirs.id}").status_code == 403
    assert client.get(f"/admin/customer/edit/?id={theirs.id}").status_code == 302  # "Record does not exist"
    assert "Theirs Ltd" not in client.get("/admin/contact/").text
    assert client.get("/admin/audit_log/").status_code == 403  # sales has no audit.read


def test_user_without_user_manage_cannot_open_users(client: Any, make_user: Any) -> None:
    make_user("manager", username="mgr")
    login(client, "mgr")
    assert client.get("/admin/customer/").status_code == 200
    for url in ("/admin/user/", "/admin/user/new/", "/admin/role/", "/admin/team/", "/admin/plugins/"):
        assert client.get(url).status_code == 403, url
    assert ">Users<" not in client.get("/admin/").text  # not in the menu either


# ---- users, roles, tokens ----------------------------------------------------------------------------------


def test_create_and_deactivate_a_user(admin_client: Any, rt: Any) -> None:
    from crmcore.models import Role

    sales = rt.db.session.scalar(select(Role).where(Role.name == "sales"))
    token = form_token(admin_client, "/admin/user/new/")
    resp = admin_client.post("/admin/user/new/", data={"csrf_token": token, "username": "newrep",
                                                       "full_name": "New Rep", "role": str(sales.id),
                                                       "password": "longenough1"})
    assert resp.status_code == 302
    rt.db.session.remove()
    user = rt.db.session.scalar(select(User).where(User.username == "newrep"))
    assert user.role.name == "sales" and user.password_hash and "longenough1" not in user.password_hash
    listing = admin_client.get("/admin/user/").text
    resp = admin_client.post("/admin/user/action/", data={"csrf_token": csrf_from(listing), "action": "deactivate",
                                                          "rowid": str(user.id)})
    assert resp.status_code == 302
    rt.db.session.remove()
    assert rt.db.session.get(User, user.id).active is False
    assert count(rt, AuditLog, AuditLog.entity == "user", AuditLog.action == "updated") == 1


def test_role_permissions_come_from_the_registry(admin_client: Any, rt: Any) -> None:
    page = admin_client.get("/admin/role/new/").text
    for name in rt.registry.permissions:
        assert f'value="{name}"' in page
    resp = admin_client.post("/admin/role/new/", data={"csrf_token": csrf_from(page), "name": "auditor",
                                                       "scope": "all", "permissions": ["audit.read", "customer.read"]})
    assert resp.status_code == 302
    from crmcore.models import Role

    rt.db.session.remove()
    role = rt.db.session.scalar(select(Role).where(Role.name == "auditor"))
    assert role.permissions == ["audit.read", "customer.read"] and role.scope == "all"


def test_api_token_is_shown_once_and_stored_hashed(admin_client: Any, rt: Any) -> None:
    boss = rt.db.session.scalar(select(User).where(User.username == "boss"))
    token = form_token(admin_client, "/admin/api_token/new/")
    resp = admin_client.post("/admin/api_token/new/", data={"csrf_token": token, "user": str(boss.id),
                                                            "name": "ERP sync"})
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    plain = re.search(r'id="plain-token" value="(crm_[^"]+)"', resp.text).group(1)
    rt.db.session.remove()
    stored = rt.db.session.scalar(select(ApiToken).where(ApiToken.name == "ERP sync"))
    assert stored.token_hash == hashlib.sha256(plain.encode()).hexdigest()
    assert plain not in (stored.prefix, stored.token_hash) and plain.startswith(stored.prefix)
    listing = admin_client.get("/admin/api_token/").text
    assert stored.prefix in listing and plain not in listing
    assert admin_client.get("/api/v1/customers", headers={"Authorization": f"Bearer {plain}"}).status_code == 200
    resp = admin_client.post("/admin/api_token/revoke/", data={"csrf_token": csrf_from(listing),
                                                              "target": str(stored.id)})
    assert resp.status_code == 302
    assert admin_client.get("/api/v1/customers", headers={"Authorization": f"Bearer {plain}"}).status_code == 401


def test_a_user_sees_and_issues_only_own_tokens(client: Any, make_user: Any, rt: Any) -> None:
    rep, _ = make_user("sales", username="rep_a")
    make_user("sales", username="rep_b")  # has a token from the fixture too
    login(client, "rep_a")
    listing = client.get("/admin/api_token/").text
    own = rt.db.session.scalars(select(ApiToken.prefix).where(ApiToken.user_id == rep.id)).all()
    others = rt.db.session.scalars(select(ApiToken.prefix).where(ApiToken.user_id != rep.id)).all()
    assert all(p in listing for p in own) and not any(p in listing for p in others)
    page = client.get("/admin/api_token/new/").text
    assert "rep_b" not in page


# ---- read-only and system pages ------------------------------------------------------------------------------


def test_audit_log_names_people_and_customers_and_speaks_in_words(admin_client: Any, ctx: Any, make_user: Any) -> None:
    """A recorded owner or customer id reads as the name; record type, action and field as words."""
    owner, _ = make_user("sales", username="rep7")
    ctx.session.get(type(owner), owner.id).full_name = "Wang Wu"
    ctx.session.commit()
    c = customers.create_customer(ctx, {"name": "Named Co", "owner_id": owner.id})
    contacts.create_contact(ctx, c.id, {"name": "Li Lei"})
    listing = admin_client.get("/admin/audit_log/").text
    assert "<b>Owner</b>: <ins>Wang Wu</ins>" in listing and "<b>Stage</b>: <ins>Lead</ins>" in listing
    assert "<b>Role</b>: <ins>Sales rep</ins>" in listing and "<b>Kind</b>: <ins>Organisation</ins>" in listing
    assert f"<ins>{owner.id}</ins>" not in listing and "<b>owner_id</b>" not in listing
    compact = "".join(listing.split())
    assert ">Added<" in compact and ">created<" not in compact and ">Contact<" in compact and ">contact<" not in compact


def test_audit_log_is_read_only(admin_client: Any, ctx: Any, rt: Any) -> None:
    c = customers.create_customer(ctx, {"name": "Audited Co"})
    customers.update_customer(ctx, c.id, {"stage": "customer"})
    listing = admin_client.get("/admin/audit_log/").text
    assert "Audited Co" in listing
    assert "/admin/audit_log/new/" not in listing and "/admin/audit_log/edit/" not in listing
    assert "/admin/audit_log/delete/" not in listing
    entry = rt.db.session.scalar(select(AuditLog).where(AuditLog.action == "updated"))
    details = admin_client.get(f"/admin/audit_log/details/?id={entry.id}").text
    assert "<th>Stage</th>" in details and "Lead" in details and "Customer" in details
    assert admin_client.get("/admin/audit_log/new/").status_code == 302
    assert admin_client.get(f"/admin/audit_log/edit/?id={entry.id}").status_code == 302
    admin_client.post("/admin/audit_log/delete/", data={"csrf_token": csrf_from(listing), "id": entry.id})
    assert count(rt, AuditLog, AuditLog.id == entry.id) == 1
    filtered = admin_client.get("/admin/audit_log/?flt0_1=updated").text
    assert filtered.count("/admin/audit_log/details/?id=") == 1


def test_plugins_page_lists_core(admin_client: Any) -> None:
    page = admin_client.get("/admin/plugins/").text
    assert 'data-plugin="core"' in page and "crm_register_permissions" in page


def test_outbox_replay(admin_client: Any, ctx: Any, rt: Any) -> None:
    from crmcore.models import OutboxMessage

    msg = OutboxMessage(event_id="e1", topic="customer.created", destination="nowhere", payload={},
                        idempotency_key="e1:nowhere", status="dead", attempts=10)
    ctx.session.add(msg)
    ctx.session.commit()
    listing = admin_client.get("/admin/outbox/?flt0_0=dead").text
    assert "customer.created" in listing
    resp = admin_client.post("/admin/outbox/replay/", data={"csrf_token": csrf_from(listing), "target": msg.id})
    assert resp.status_code == 302
    rt.db.session.remove()
    assert rt.db.session.get(OutboxMessage, msg.id).status == "pending"


def test_outbox_details_show_who_delivers_a_claimed_message(admin_client: Any, ctx: Any) -> None:
    from crmcore.db import utcnow
    from crmcore.models import OutboxMessage
    from crmcore.services import outbox

    msg = OutboxMessage(event_id="e2", topic="customer.updated", destination="shop", payload={},
                        idempotency_key="e2:shop")
    ctx.session.add(msg)
    ctx.session.commit()
    assert outbox.claim(ctx.session, "shop", "web-1:4242:abcd", utcnow()) == [msg.id]
    page = admin_client.get(f"/admin/outbox/details/?id={msg.id}").text
    assert "Delivered now by" in page and "web-1:4242:abcd" in page and "Claimed until" in page


# ---- the customer page: duplicates, merge, undo, log an interaction -----------------------------------------


def test_merge_and_undo_from_the_details_page(admin_client: Any, ctx: Any, rt: Any) -> None:
    winner = customers.create_customer(ctx, {"name": "张三商贸有限公司", "phone": "13800138000"})
    loser = customers.create_customer(ctx, {"name": "张三商贸(有限公司)", "phone": "13800138000", "industry": "批发"})
    page = admin_client.get(f"/admin/customer/details/?id={winner.id}").text
    assert "张三商贸(有限公司)" in page and "same phone number" in page
    resp = admin_client.post(f"/admin/customer/merge/?id={winner.id}",
                             data={"csrf_token": csrf_from(page), "target": loser.id})
    assert resp.status_code == 302
    rt.db.session.remove()
    assert rt.db.session.get(Customer, loser.id).merged_into_id == winner.id
    assert rt.db.session.get(Customer, winner.id).industry == "批发"
    page = admin_client.get(f"/admin/customer/details/?id={winner.id}").text
    assert "was merged into this one" in page and "Undo merge" in page
    # the merged customer's page leads to the winner
    assert admin_client.get(f"/admin/customer/details/?id={loser.id}").status_code == 302
    entry = rt.db.session.scalar(select(AuditLog).where(AuditLog.action == "merged"))
    resp = admin_client.post(f"/admin/customer/unmerge/?id={winner.id}",
                             data={"csrf_token": csrf_from(page), "target": entry.id})
    assert resp.status_code == 302
    rt.db.session.remove()
    assert rt.db.session.get(Customer, loser.id).merged_into_id is None
    assert rt.db.session.get(Customer, winner.id).industry is None
    page = admin_client.get(f"/admin/customer/details/?id={winner.id}").text
    assert "Undo merge" not in page


def test_merge_needs_the_merge_permission(client: Any, make_user: Any, ctx: Any, rt: Any) -> None:
    rep, _ = make_user("sales", username="rep_a")
    a = customers.create_customer(ctx, {"name": "Twin A", "phone": "13800138000", "owner_id": rep.id})
    b = customers.create_customer(ctx, {"name": "Twin B", "phone": "13800138000", "owner_id": rep.id})
    login(client, "rep_a")
    page = client.get(f"/admin/customer/details/?id={a.id}").text
    assert "Twin B" in page and "Compare and merge" not in page
    assert client.get(f"/admin/customer/compare/?id={a.id}&target={b.id}").status_code == 403
    resp = client.post(f"/admin/customer/merge/?id={a.id}", data={"csrf_token": csrf_from(page), "target": b.id})
    assert resp.status_code == 403
    assert count(rt, Customer, Customer.merged_into_id.is_not(None)) == 0


def test_log_an_interaction_from_the_customer_page(admin_client: Any, ctx: Any, rt: Any) -> None:
    c = customers.create_customer(ctx, {"name": "Timeline Co"})
    page = admin_client.get(f"/admin/customer/details/?id={c.id}").text
    resp = admin_client.post(f"/admin/customer/log/?id={c.id}", data={
        "csrf_token": csrf_from(page), "channel": "wechat", "direction": "inbound", "subject": "微信询价",
        "body": "问春季新品价格"})
    assert resp.status_code == 302
    assert count(rt, Interaction, Interaction.customer_id == c.id) == 1
    item = rt.db.session.scalar(select(Interaction).where(Interaction.customer_id == c.id))
    assert item.subject == "微信询价" and item.source == "admin"
    assert "微信询价" in admin_client.get(f"/admin/customer/details/?id={c.id}").text


def test_list_search_and_filters(admin_client: Any, ctx: Any, make_user: Any) -> None:
    rep, _ = make_user("sales", username="rep_a")
    customers.create_customer(ctx, {"name": "杭州西湖茶业", "stage": "customer", "tags": ["VIP"], "owner_id": rep.id})
    customers.create_customer(ctx, {"name": "Northwind", "stage": "lead", "level": "B"})
    assert "杭州西湖茶业" not in admin_client.get("/admin/customer/?flt0_0=lead").text
    assert "Northwind" in admin_client.get("/admin/customer/?flt0_0=lead").text
    assert "Northwind" not in admin_client.get("/admin/customer/?flt0_3=VIP").text
    assert "杭州西湖茶业" in admin_client.get(f"/admin/customer/?flt0_2={rep.id}").text
    found = admin_client.get("/admin/customer/?search=hangzhou").text  # pinyin in search_text
    listing = admin_client.get("/admin/customer/").text
    assert "VIP" in listing and 'role="progressbar"' in listing
    assert "杭州西湖茶业" in found or "杭州西湖茶业" in admin_client.get("/admin/customer/?search=西湖").text


def test_custom_field_created_in_admin_appears_on_the_customer_form(admin_client: Any, rt: Any) -> None:
    page = admin_client.get("/admin/custom_field/new/").text
    resp = admin_client.post("/admin/custom_field/new/", data={
        "csrf_token": csrf_from(page), "entity": "customer", "name": "wechat_group", "label": "WeChat group",
        "type": "text", "position": "1", "active": "y"})
    assert resp.status_code == 302
    assert 'name="attr__wechat_group"' in admin_client.get("/admin/customer/new/").text
    assert count(rt, AuditLog, AuditLog.entity == "custom_field") == 1


def test_secure_model_view_without_services_cannot_write(app: Any) -> None:
    from crmcore.admin.views import SecureModelView

    class ReadOnly(SecureModelView):
        permission = "customer.read"

    view = ReadOnly(Customer, app.extensions["crm"].db, endpoint="ro_test")
    with app.test_request_context():
        assert not (view.can_create or view.can_edit or view.can_delete)


def test_contacts_interactions_teams_fields_roles_go_through_services(admin_client: Any, ctx: Any,
                                                                      rt: Any) -> None:
    from crmcore.models import Contact, CustomField, Role, Team

    c = customers.create_customer(ctx, {"name": "Contact Co"})
    page = admin_client.get(f"/admin/contact/new/?customer_id={c.id}").text
    assert f'value="{c.id}" selected' in page or f'selected value="{c.id}"' in page
    resp = admin_client.post("/admin/contact/new/", data={"csrf_token": csrf_from(page), "customer": str(c.id),
                                                          "name": "王伟", "mobile": "13500135000", "qq": "60607890"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/admin/customer/details/?id={c.id}")
    contact = rt.db.session.scalar(select(Contact).where(Contact.name == "王伟"))
    page = admin_client.get(f"/admin/contact/edit/?id={contact.id}").text
    resp = admin_client.post(f"/admin/contact/edit/?id={contact.id}", data={
        "csrf_token": csrf_from(page), "name": "王伟", "mobile": "13500135000", "qq": "not-digits",
        "version": str(contact.version)})
    assert resp.status_code == 200 and "A QQ number has digits only." in resp.text

    page = admin_client.get(f"/admin/interaction/new/?customer_id={c.id}").text
    resp = admin_client.post("/admin/interaction/new/", data={"csrf_token": csrf_from(page), "customer": str(c.id),
                                                              "channel": "visit", "direction": "outbound",
                                                              "subject": "上门拜访"})
    assert resp.status_code == 302
    assert count(rt, Interaction, Interaction.subject == "上门拜访") == 1

    boss = rt.db.session.scalar(select(User).where(User.username == "boss"))
    page = admin_client.get("/admin/team/new/").text
    resp = admin_client.post("/admin/team/new/", data={"csrf_token": csrf_from(page), "name": "华东销售部",
                                                       "manager": str(boss.id)})
    assert resp.status_code == 302
    assert count(rt, Team, Team.name == "华东销售部", Team.manager_id == boss.id) == 1

    field = custom_fields.create_field(ctx, {"entity": "customer", "name": "size", "label": "Size", "type": "text"})
    page = admin_client.get(f"/admin/custom_field/edit/?id={field.id}").text
    resp = admin_client.post(f"/admin/custom_field/edit/?id={field.id}", data={
        "csrf_token": csrf_from(page), "label": "Company size", "type": "text", "position": "2"})
    assert resp.status_code == 302
    rt.db.session.remove()
    field = rt.db.session.get(CustomField, field.id)
    assert (field.name, field.label, field.active) == ("size", "Company size", False)  # unchecked box

    admin_role = rt.db.session.scalar(select(Role).where(Role.name == "admin"))
    page = admin_client.get("/admin/role/").text
    resp = admin_client.post("/admin/role/delete/", data={"csrf_token": csrf_from(page), "id": str(admin_role.id)},
                             follow_redirects=True)
    assert "still have the role" in resp.text  # boss has it: refused by the service
    assert count(rt, Role, Role.name == "admin") == 1


def test_a_rep_creates_customers_for_themselves_only(client: Any, make_user: Any, rt: Any) -> None:
    rep, _ = make_user("sales", username="rep_a")
    other, _ = make_user("sales", username="rep_b")
    login(client, "rep_a")
    page = client.get("/admin/customer/new/").text
    assert ">rep_a<" in page and "rep_b" not in page
    resp = client.post("/admin/customer/new/", data={"csrf_token": csrf_from(page), "name": "Rep Lead",
                                                     "kind": "person", "stage": "lead", "owner": str(other.id)})
    assert resp.status_code == 200 and "You can only assign customers to yourself." in resp.text
    resp = client.post("/admin/customer/new/", data={"csrf_token": csrf_from(page), "name": "Rep Lead",
                                                     "kind": "person", "stage": "lead", "owner": str(rep.id)})
    assert resp.status_code == 302
    assert count(rt, Customer, Customer.name == "Rep Lead", Customer.owner_id == rep.id) == 1


def test_set_a_new_password_in_the_user_form(admin_client: Any, make_user: Any, rt: Any) -> None:
    rep, _ = make_user("sales", username="rep_a")
    page = admin_client.get(f"/admin/user/edit/?id={rep.id}").text
    assert 'name="password" type="password" value=""' in page
    resp = admin_client.post(f"/admin/user/edit/?id={rep.id}", data={
        "csrf_token": csrf_from(page), "role": str(rep.role_id), "active": "y", "password": "a-new-secret-1"})
    assert resp.status_code == 302
    masked = rt.db.session.scalar(select(AuditLog).where(AuditLog.entity == "user", AuditLog.entity_id == str(rep.id),
                                                         AuditLog.action == "updated"))
    assert masked.changes == {"password": ["***", "***"]}
    admin_client.post("/admin/auth/logout", data={"csrf_token": form_token(admin_client, "/admin/auth/logout")})
    assert login(admin_client, "rep_a", "a-new-secret-1").status_code == 302


def test_the_admin_speaks_the_users_language(client: Any, make_user: Any, rt: Any) -> None:
    user, _ = make_user("admin", username="boss")
    user = rt.db.session.merge(user)
    user.locale = "zh_CN"
    rt.db.session.commit()
    login(client, "boss")
    page = client.get("/admin/customer/").text
    assert "创建" in page  # Flask-Admin's own catalogue; ours follow the same selector


def test_custom_attribute_errors_show_on_their_field(admin_client: Any, ctx: Any, rt: Any) -> None:
    custom_fields.create_field(ctx, {"entity": "customer", "name": "founded", "label": "Founded", "type": "date",
                                     "required": True})
    page = admin_client.get("/admin/customer/new/").text
    assert 'name="attr__founded"' in page and 'type="date"' in page
    resp = admin_client.post("/admin/customer/new/", data={"csrf_token": csrf_from(page), "name": "Dated Co",
                                                           "kind": "organization", "stage": "lead",
                                                           "attr__founded": ""})
    assert resp.status_code == 200
    field_html = resp.text[resp.text.index('id="attr__founded"'):][:1500]
    assert "is-invalid" in resp.text and "&#39;Founded&#39; is required." in field_html
    assert count(rt, Customer) == 0


def test_times_are_shown_in_the_readers_time_zone(client, make_user, rt):
    import datetime as dt

    from crmcore.services import customers, interactions

    user, _ = make_user("sales", username="tzrep")
    ctx = rt.context(actor=user)
    c = customers.create_customer(ctx, {"name": "时区测试"})
    when = dt.datetime(2026, 11, 1, 2, 30, tzinfo=dt.timezone.utc)
    interactions.log_interaction(ctx, c.id, {"channel": "phone", "subject": "tz", "occurred_at": when})
    s = rt.db.session
    u = s.merge(user)
    u.timezone = "Asia/Shanghai"
    s.commit()
    login(client, "tzrep")
    page = client.get(f"/admin/customer/details/?id={c.id}").get_data(as_text=True)
    assert "2026-11-01 10:30" in page and "2026-11-01 02:30" not in page


def test_plugins_page_names_each_plugin_with_its_package_as_a_hint(admin_client: Any) -> None:
    page = admin_client.get("/admin/plugins/").text
    row = re.search(r'data-plugin="core">\s*<td><strong>(.*?)</strong>.*?<code title="Package">(.*?)</code>', page, re.S)
    assert row is not None and row.group(1) == "Core" and row.group(2).startswith("core · crmcore.defaults")


def test_a_custom_fields_key_is_labelled_as_typed_and_shown_as_code(admin_client: Any, ctx: Any) -> None:
    custom_fields.create_field(ctx, {"entity": "customer", "name": "company_size", "label": "Company size",
                                     "type": "text"})
    ctx.session.commit()
    page = admin_client.get("/admin/custom_field/").text
    assert "Key (as typed)" in page and '<code class="crm-key">company_size</code>' in page
    assert ">company_size<" not in page.replace('<code class="crm-key">company_size</code>', "")
