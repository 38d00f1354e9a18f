"""Per-request overhead of the API that a profile showed (issue 15): argument schemas are built once, not per request."""
from __future__ import annotations

import flask_smorest
import marshmallow
import pytest

from crmcore.api.blueprint import Blueprint
from crmcore.schemas.customers import CustomerSchema


@pytest.fixture
def schemas_built(monkeypatch):
    """Names of the marshmallow schemas instantiated while the test runs."""
    built: list[str] = []
    init = marshmallow.Schema.__init__

    def counting(self, *args, **kwargs):
        built.append(type(self).__name__)
        init(self, *args, **kwargs)

    monkeypatch.setattr(marshmallow.Schema, "__init__", counting)
    return built


def test_requests_build_no_argument_schema(client, admin_headers, schemas_built):
    r = client.post("/api/v1/customers", json={"name": "杭州西湖茶业有限公司", "phone": "0571-8765 4321"}, headers=admin_headers)
    assert r.status_code == 201, r.json
    r = client.get("/api/v1/contacts?page=1&page_size=5", headers=admin_headers)
    assert r.status_code == 200, r.json
    r = client.post("/api/v1/customers", json={"name": ""}, headers=admin_headers)  # still validated by the same schema
    assert r.status_code == 422 and "name" in r.json["errors"]
    assert schemas_built == []


def test_every_api_blueprint_builds_argument_schemas_once(make_app):
    app = make_app(PLUGINS=["plugins.sales", "plugins.service", "plugins.analysis", "adapters.erp"])
    smorest = [bp for bp in app.blueprints.values() if isinstance(bp, flask_smorest.Blueprint)]
    assert len(smorest) > 20
    assert [bp.name for bp in smorest if not isinstance(bp, Blueprint)] == []


def test_a_schema_class_is_instantiated_when_declared():
    blp = Blueprint("overhead_test", __name__)

    @blp.route("/x", methods=["POST"])
    @blp.arguments(CustomerSchema)
    def view(data):
        return data

    params = view._apidoc["arguments"]["parameters"]
    assert isinstance(params[0]["schema"], CustomerSchema)


@pytest.fixture
def custom_field_reads(rt):
    """How many SELECTs of the custom fields the database received while the test runs."""
    from sqlalchemy import event

    seen: list[str] = []

    def count(conn, cursor, statement, params, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and "FROM custom_fields" in statement:
            seen.append(statement)

    event.listen(rt.db.engine, "before_cursor_execute", count)
    yield seen
    event.remove(rt.db.engine, "before_cursor_execute", count)


def test_a_write_reads_the_custom_fields_once_per_request(client, admin_headers, custom_field_reads):
    r = client.post("/api/v1/customers", json={"name": "杭州西湖茶业有限公司"}, headers=admin_headers)
    assert r.status_code == 201, r.json
    assert len(custom_field_reads) == 1  # validation, score and (after the commit) the answer
    client.get(f"/api/v1/customers/{r.json['id']}", headers=admin_headers)
    assert len(custom_field_reads) == 1  # unchanged since (the stamp read with the token): the process's copies


def _add_field(rt, name, **data):
    """A custom field added as another process would: its own session, no request."""
    from crmcore.services import custom_fields as svc

    other = rt.context(source="test")
    try:
        return svc.create_field(other, {"name": name, "label": name.title(), "type": "text", **data}).id
    finally:
        other.session.close()


def test_a_change_anywhere_moves_the_stamp_and_every_next_request_reads_again(client, rt, admin_headers,
                                                                            custom_field_reads):
    from crmcore.services import custom_fields as svc

    customer = client.post("/api/v1/customers", json={"name": "杭州西湖茶业有限公司"}, headers=admin_headers).json
    url = f"/api/v1/customers/{customer['id']}"
    assert client.get(url, headers=admin_headers).json["completeness_missing"][-1] == "credit limit"
    field_id = _add_field(rt, "budget")  # another session: not this process's request caches
    reads = len(custom_field_reads)
    assert client.get(url, headers=admin_headers).json["completeness_missing"][-1] == "Budget"
    assert len(custom_field_reads) == reads + 1
    client.get(url, headers=admin_headers)
    assert len(custom_field_reads) == reads + 1  # kept again
    other = rt.context(source="test")
    svc.update_field(other, field_id, {"label": "预算"})
    other.session.close()
    assert client.get(url, headers=admin_headers).json["completeness_missing"][-1] == "预算"
    other = rt.context(source="test")
    svc.update_field(other, field_id, {"active": False})
    other.session.close()
    assert client.get(url, headers=admin_headers).json["completeness_missing"][-1] == "credit limit"
    r = client.post("/api/v1/customers", json={"name": "宁波", "attributes": {"budget": "x"}}, headers=admin_headers)
    assert r.status_code == 422 and "budget" in r.json["errors"]["attributes"]


def test_a_change_rolled_back_leaves_the_kept_fields(client, rt, admin_headers, custom_field_reads):
    from crmcore.services import custom_fields as svc

    customer = client.post("/api/v1/customers", json={"name": "杭州西湖茶业有限公司"}, headers=admin_headers).json
    other = rt.context(source="test")
    other.session.add(svc.CustomField(entity="customer", name="draft", label="Draft", type="text"))
    other.session.flush()  # bumped in this transaction, then undone with it
    other.session.rollback()
    other.session.close()
    body = client.get(f"/api/v1/customers/{customer['id']}", headers=admin_headers).json
    assert "Draft" not in body["completeness_missing"]


def test_without_its_stamp_row_every_request_reads_the_fields(client, rt, admin_headers, custom_field_reads):
    from sqlalchemy import delete

    from crmcore.models import ChangeStamp

    with rt.db.engine.begin() as conn:
        conn.execute(delete(ChangeStamp))
    customer = client.post("/api/v1/customers", json={"name": "杭州西湖茶业有限公司"}, headers=admin_headers).json
    client.get(f"/api/v1/customers/{customer['id']}", headers=admin_headers)
    assert len(custom_field_reads) == 2
    _add_field(rt, "budget")
    body = client.get(f"/api/v1/customers/{customer['id']}", headers=admin_headers).json
    assert body["completeness_missing"][-1] == "Budget"


def test_a_custom_field_added_is_seen_by_the_next_request(client, admin_headers):
    r = client.post("/api/v1/customers", json={"name": "杭州西湖茶业有限公司"}, headers=admin_headers)
    assert "Budget" not in r.json["completeness_missing"]
    r2 = client.post("/api/v1/custom-fields", json={"entity": "customer", "name": "budget", "label": "Budget",
                                                    "type": "text"}, headers=admin_headers)
    assert r2.status_code == 201, r2.json
    got = client.get(f"/api/v1/customers/{r.json['id']}", headers=admin_headers).json
    assert "Budget" in got["completeness_missing"]
    r3 = client.post("/api/v1/customers", json={"name": "宁波港口物流", "attributes": {"budget": "high"}},
                     headers=admin_headers)
    assert r3.status_code == 201 and r3.json["attributes"] == {"budget": "high"}


def test_custom_fields_changed_in_a_transaction_are_seen_at_once(ctx):
    from crmcore.services import custom_fields as svc
    from crmcore.services.unit import unit_of_work

    with unit_of_work(ctx):
        assert svc.active_fields(ctx, "customer") == []
        field = svc.create_field(ctx, {"name": "tier", "label": "Tier", "type": "text"})
        assert [f.name for f in svc.active_fields(ctx, "customer")] == ["tier"]  # the flush forgot the old answer
        field.active = False
        ctx.session.flush()
        assert svc.active_fields(ctx, "customer") == []
    other = ctx.fresh()
    try:  # another session in another transaction
        field = svc.create_field(other, {"name": "region", "label": "Region", "type": "text"})
    finally:
        other.session.close()
    assert [f.name for f in svc.active_fields(ctx, "customer")] == ["region"]  # a new transaction reads again


@pytest.fixture
def statements(rt):
    """The SQL statements the database received while the test runs."""
    from sqlalchemy import event

    seen: list[str] = []

    def record(conn, cursor, statement, params, context, executemany):
        seen.append(" ".join(statement.split()))

    event.listen(rt.db.engine, "before_cursor_execute", record)
    yield seen
    event.remove(rt.db.engine, "before_cursor_execute", record)


def test_a_new_customer_is_answered_without_loading_its_tags(client, admin_headers, statements):
    """A customer just created has the tags it was given: the answer does not read them back."""
    r = client.post("/api/v1/customers", json={"name": "杭州西湖茶业有限公司"}, headers=admin_headers)
    assert r.status_code == 201 and r.json["tags"] == []
    assert [s for s in statements if s.startswith("SELECT") and "customer_tags" in s] == []
    statements.clear()
    r = client.post("/api/v1/customers", json={"name": "宁波港口物流", "tags": ["VIP"]}, headers=admin_headers)
    assert r.status_code == 201 and r.json["tags"] == ["VIP"]
    assert client.get(f"/api/v1/customers/{r.json['id']}", headers=admin_headers).json["tags"] == ["VIP"]


def test_missing_profile_facts_follow_each_readers_language(client, admin_headers):
    """The labels of what is missing are translated once per language, and each reader gets their own."""
    r = client.post("/api/v1/customers", json={"name": "杭州西湖茶业有限公司"}, headers=admin_headers)
    url = f"/api/v1/customers/{r.json['id']}"
    for _round in range(2):
        zh = client.get(url, headers={**admin_headers, "Accept-Language": "zh-CN"}).json["completeness_missing"]
        en = client.get(url, headers={**admin_headers, "Accept-Language": "en"}).json["completeness_missing"]
        assert "行业" in zh and "industry" not in zh
        assert "industry" in en and "行业" not in en


def test_a_request_parses_no_locale(client, admin_headers, monkeypatch):
    """The reader's language is parsed into Babel's ``Locale`` once per language, not on every request (the
    parse read the locale's data: a profile showed 4 % of a read); each answer is still in its reader's language."""
    from babel import Locale

    r = client.post("/api/v1/customers", json={"name": "杭州西湖茶业有限公司"}, headers=admin_headers)
    for lang in ("zh-CN", "en"):  # each language once, before counting
        client.get(f"/api/v1/customers/{r.json['id']}", headers={**admin_headers, "Accept-Language": lang})
    parsed: list[object] = []
    real = Locale.parse.__func__

    def counting(cls, *args, **kwargs):
        if args and isinstance(args[0], str):  # a Locale given back is returned as it is, nothing read
            parsed.append(args[0])
        return real(cls, *args, **kwargs)

    monkeypatch.setattr(Locale, "parse", classmethod(counting))
    zh = client.get(f"/api/v1/customers/{r.json['id']}", headers={**admin_headers, "Accept-Language": "zh-CN"}).json
    en = client.get(f"/api/v1/customers/{r.json['id']}", headers={**admin_headers, "Accept-Language": "en"}).json
    assert "e-mail" not in zh["completeness_missing"] and "行业" in zh["completeness_missing"]
    assert "e-mail" in en["completeness_missing"]
    assert parsed == []


def test_a_read_builds_no_token_or_custom_field_statement(client, admin_headers, monkeypatch):
    """The statements every request runs (the token, the custom fields) are built once, not per request."""
    from crmcore.services import custom_fields, users

    r = client.post("/api/v1/customers", json={"name": "杭州西湖茶业有限公司"}, headers=admin_headers)
    built: list[str] = []
    for module in (users, custom_fields):
        real = module.select
        monkeypatch.setattr(module, "select", lambda *a, _real=real, _m=module.__name__, **k: built.append(_m) or _real(*a, **k))
    got = client.get(f"/api/v1/customers/{r.json['id']}", headers=admin_headers)
    assert got.status_code == 200 and got.json["name"] == "杭州西湖茶业有限公司"
    assert built == []


def test_a_read_joins_neither_the_owner_nor_the_team(client, admin_headers, statements):
    """The access check needs only the owner's id: reading a customer does not join the owner's user row, and the
    token's statement brings the user and their role but not their team."""
    r = client.post("/api/v1/customers", json={"name": "杭州西湖茶业有限公司", "tags": ["VIP"]}, headers=admin_headers)
    statements.clear()
    got = client.get(f"/api/v1/customers/{r.json['id']}", headers=admin_headers)
    assert got.status_code == 200 and got.json["tags"] == ["VIP"] and got.json["name"] == "杭州西湖茶业有限公司"
    selects = [s for s in statements if s.startswith("SELECT")]
    customer = [s for s in selects if "FROM customers" in s]
    token = [s for s in selects if "FROM api_tokens" in s]
    assert len(customer) == 1 and " JOIN users" not in customer[0]
    assert len(token) == 1 and " JOIN users" in token[0] and " JOIN teams" not in token[0]

