"""One test per hook in crmcore/hookspecs.py, named ``test_hook_<hook name>`` (datasette style).

Each test registers a small one-test plugin through the ``make_app(plugins=[(name, obj)])``
fixture, so it lives only in that test's app, and checks what the hook really does.
tests/crmcore/test_docs.py fails when a hook has no test here.
"""
from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import click
import pytest
from flask import Blueprint, current_app, jsonify
from flask.views import MethodView
from flask_admin import expose
from flask_smorest import Blueprint as ApiBlueprint
from sqlalchemy import ForeignKey, String, func, inspect, select, update
from sqlalchemy.orm import Mapped, mapped_column

from crmcore import hookimpl, migrate
from crmcore.api import current_ctx
from crmcore.contracts import DuplicateCandidate, FieldType, Job, MovedRows, OutboxHandler, Panel, Permission
from crmcore.db import Base, intpk, utcnow
from crmcore.errors import Conflict, ValidationError
from crmcore.models import AuditLog, Customer, OutboxMessage, Tag
from crmcore.runtime import build_runtime
from crmcore.services import custom_fields as field_svc
from crmcore.services import customers as customer_svc
from crmcore.services import dedupe, jobs, outbox
from crmcore.services import users as user_svc
from crmcore.services.unit import unit_of_work

FIXTURES = Path(__file__).parent / "fixtures"


def forget_table(model: type, database: Any) -> None:
    """Drop a model a test declared and take its table off the shared metadata again."""
    database.session.remove()
    model.__table__.drop(database.engine, checkfirst=True)
    Base.metadata.remove(model.__table__)


def login(client: Any, user: Any) -> None:
    """Log ``user`` in to the admin the way Flask-Login remembers a login: in the session."""
    with client.session_transaction() as sess:
        sess["_user_id"] = user.get_id()
        sess["_fresh"] = True


# ---------------------------------------------------------------------------
# Entities: tables, migrations, permissions, custom field types
# ---------------------------------------------------------------------------


def test_hook_crm_register_models(make_app, database):
    class HookTestWidget(Base):
        __tablename__ = "hooktest_widgets"

        id: Mapped[intpk]
        customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
        label: Mapped[str] = mapped_column(String(40))

    class Plugin:
        @hookimpl
        def crm_register_models(self):
            return [HookTestWidget]

    try:
        app = make_app(plugins=[("hooktest", Plugin())])
        rt = app.extensions["crm"]
        assert rt.registry.models == [HookTestWidget]
        assert "hooktest_widgets" in Base.metadata.tables
        rt.db.create_all()
        assert inspect(rt.db.engine).has_table("hooktest_widgets")
        ctx = rt.context()
        customer = customer_svc.create_customer(ctx, {"name": "Widget Co"})
        ctx.session.add(HookTestWidget(customer_id=customer.id, label="blue"))
        ctx.session.commit()
        assert ctx.session.scalar(select(HookTestWidget.label).where(HookTestWidget.customer_id == customer.id)) == "blue"
    finally:
        forget_table(HookTestWidget, database)


def test_hook_crm_register_migrations(tmp_path):
    folder = str(FIXTURES / "hooktest_migrations")

    class Plugin:
        @hookimpl
        def crm_register_migrations(self):
            return [folder]

    url = f"sqlite:///{tmp_path / 'fresh.sqlite'}"
    rt = build_runtime({"DATABASE_URL": url, "INSTANCE_PATH": str(tmp_path), "PLUGINS_AUTOLOAD": False},
                       plugins=[("hooktest", Plugin())])
    try:
        assert rt.registry.migrations == [folder]
        migrate.upgrade(rt)
        tables = set(inspect(rt.db.engine).get_table_names())
        assert {"customers", "hooktest_migrated"} <= tables
        assert "0001_hooktest" in migrate.current_heads(rt)
        fks = inspect(rt.db.engine).get_foreign_keys("hooktest_migrated")
        assert [fk["referred_table"] for fk in fks] == ["customers"]
        migrate.upgrade(rt)  # a second run is a no-op
    finally:
        rt.db.dispose()


def test_hook_crm_register_permissions(make_app, make_user):
    class Plugin:
        @hookimpl
        def crm_register_permissions(self):
            return [Permission("hooktest.use", "Use the hook test page", default_roles=("sales",))]

        @hookimpl
        def crm_register_blueprints(self):
            bp = Blueprint("hooktest_perm", __name__, url_prefix="/api/v1/hooktest-perm")

            @bp.route("/")
            def use() -> Any:
                current_ctx().require("hooktest.use")
                return jsonify(ok=True)

            return [bp]

    app = make_app(plugins=[("hooktest", Plugin())])
    rt = app.extensions["crm"]
    assert rt.registry.permissions["hooktest.use"].default_roles == ("sales",)
    # the default role named in default_roles gets it when the roles are seeded
    assert "hooktest.use" in user_svc.get_role(rt.context(), "sales").permissions
    assert "hooktest.use" not in user_svc.get_role(rt.context(), "service").permissions
    # a role may be given the new permission; an unknown one is refused
    user_svc.check_role(rt.context(), ["hooktest.use"], "own")
    with pytest.raises(ValidationError):
        user_svc.check_role(rt.context(), ["hooktest.unknown"], "own")

    client = app.test_client()
    _, sales = make_user("sales")
    _, service = make_user("service")
    assert client.get("/api/v1/hooktest-perm/", headers=sales).json == {"ok": True}
    r = client.get("/api/v1/hooktest-perm/", headers=service)
    assert r.status_code == 403 and "hooktest.use" in r.json["message"]


def test_hook_crm_register_translations(make_app, tmp_path):
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import write_po

    from crmcore.errors import PluginError
    from crmcore.i18n import _

    folder = tmp_path / "catalogues"
    (folder / "zh_CN" / "LC_MESSAGES").mkdir(parents=True)
    catalog = Catalog(locale="zh_CN")
    catalog.add("Hook test greeting", "钩子测试问候")
    catalog.add("Customer", "顾客")  # a plugin cannot reword the core's strings
    with (folder / "zh_CN" / "LC_MESSAGES" / "messages.po").open("wb") as fh:
        write_po(fh, catalog)

    class Plugin:
        @hookimpl
        def crm_register_translations(self):
            return [str(folder)]

    app = make_app(plugins=[("hooktest", Plugin())])
    with app.test_request_context(headers={"Accept-Language": "zh-CN"}):
        assert str(_("Hook test greeting")) == "钩子测试问候"
        assert str(_("Customer")) == "客户"
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert str(_("Hook test greeting")) == "Hook test greeting"

    class Broken:
        @hookimpl
        def crm_register_translations(self):
            return [str(tmp_path / "missing")]

    with pytest.raises(PluginError, match="brokenplugin"):
        make_app(plugins=[("brokenplugin", Broken())])


def test_hook_crm_register_entities(make_app):
    from crmcore.entities import Entity
    from crmcore.errors import PluginError
    from crmcore.models import Tag

    class Plugin:
        @hookimpl
        def crm_register_entities(self):
            return [Entity("hooktag", Tag, "Hook tags", "customer.read", {"name": "Tag name"},
                           {"color": [("red", "Red")]})]

    app = make_app(plugins=[("hooktest", Plugin())])
    ctx = app.extensions["crm"].context()
    from crmcore import entities
    described = entities.describe(ctx, entities.get(ctx, "hooktag"))
    fields = {f["name"]: f for f in described["fields"]}
    assert described["label"] == "Hook tags" and fields["name"]["label"] == "Tag name"
    assert fields["color"]["choices"] == [{"value": "red", "label": "Red"}]
    assert fields["color"]["type"] == "str" and fields["name"]["max_length"] == Tag.__table__.c.name.type.length

    class Clash:
        @hookimpl
        def crm_register_entities(self):
            return [Entity("customer", Tag, "Mine", "customer.read")]

    clash = make_app(plugins=[("clash", Clash())]).extensions["crm"]
    with pytest.raises(PluginError) as err:
        entities.registered(clash.context())
    assert "customer" in str(err.value)


def test_hook_crm_register_computed_fields(make_app):
    from crmcore import conditions, entities
    from crmcore.entities import ComputedField
    from crmcore.models import customer_tags

    def tag_count(ctx):
        return (select(func.count()).select_from(customer_tags).where(customer_tags.c.customer_id == Customer.id)
                .correlate(Customer).scalar_subquery())

    class Plugin:
        @hookimpl
        def crm_register_computed_fields(self):
            return [ComputedField("customer", "tag_count", "int", "Tags held", tag_count)]

    ctx = make_app(plugins=[("hooktest", Plugin())]).extensions["crm"].context()
    tagged = customer_svc.create_customer(ctx, {"name": "Tagged", "tags": ["a", "b"]})
    customer_svc.create_customer(ctx, {"name": "Plain"})
    fields = entities.condition_fields(ctx, "customer")
    where = conditions.compile_sql({"field": "tag_count", "op": "gte", "value": 2}, fields)
    assert list(ctx.session.scalars(select(Customer.id).where(where))) == [tagged.id]
    described = {f["name"]: f for f in entities.describe(ctx, entities.get(ctx, "customer"))["fields"]}
    assert described["tag_count"]["source"] == "computed" and described["tag_count"]["label"] == "Tags held"
    with pytest.raises(conditions.ConditionError) as err:
        conditions.compile_sql({"field": "tag_cont", "op": "gte", "value": 2}, fields)
    assert "tag_count" in err.value.errors["conditions.field"][0]  # near names come from the metadata


def test_hook_crm_register_field_types(make_app):
    def even(value: Any, field: Any) -> int:
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ValueError("Must be a whole number.") from None
        if number % 2:
            raise ValueError(f"'{field.label}' must be even.")
        return number

    class Plugin:
        @hookimpl
        def crm_register_field_types(self):
            return [FieldType("even", even, "Even number")]

    app = make_app(plugins=[("hooktest", Plugin())])
    ctx = app.extensions["crm"].context()
    assert ctx.registry.field_types["even"].label == "Even number"
    field_svc.create_field(ctx, {"entity": "customer", "name": "lucky", "label": "Lucky number", "type": "even"})

    customer = customer_svc.create_customer(ctx, {"name": "Even Co", "attributes": {"lucky": "4"}})
    assert customer.attributes == {"lucky": 4}
    with pytest.raises(ValidationError) as err:
        customer_svc.update_customer(ctx, customer.id, {"attributes": {"lucky": 7}})
    assert err.value.errors == {"attributes": {"lucky": ["'Lucky number' must be even."]}}
    ctx.session.expire_all()
    assert ctx.session.get(Customer, customer.id).attributes == {"lucky": 4}

    # without the plugin the type is unknown
    with pytest.raises(ValidationError) as err:
        field_svc.create_field(_plain_ctx(app), {"name": "other", "type": "even"})
    assert "type" in err.value.errors


def _plain_ctx(app: Any) -> Any:
    """A context of an app built like ``app`` but without the test plugins."""
    rt = app.extensions["crm"]
    plain = build_runtime({**rt.settings}, db=rt.db)
    return plain.context()


# ---------------------------------------------------------------------------
# Web: API blueprints and admin views
# ---------------------------------------------------------------------------


def test_hook_crm_register_blueprints(make_app, make_user):
    plain = Blueprint("hooktest_plain", __name__, url_prefix="/api/v1/hooktest")

    @plain.route("/whoami")
    def whoami() -> Any:
        return jsonify(user=current_ctx().actor.username, source=current_ctx().source)

    documented = ApiBlueprint("hooktest_api", __name__, url_prefix="/api/v1/hooktest-api", description="Hook test")

    @documented.route("/ping")
    class Ping(MethodView):
        @documented.response(200)
        def get(self) -> Any:
            """Answer pong"""
            return {"pong": current_ctx().actor.username}

    class Plugin:
        @hookimpl
        def crm_register_blueprints(self):
            return [plain, documented]

    app = make_app(plugins=[("hooktest", Plugin())])
    client = app.test_client()
    for path in ("/api/v1/hooktest/whoami", "/api/v1/hooktest-api/ping"):
        r = client.get(path)
        assert r.status_code == 401, path
        assert r.json["status"] == "unauthenticated"
    user, headers = make_user("sales", username="rep")
    assert client.get("/api/v1/hooktest/whoami", headers=headers).json == {"user": "rep", "source": "api"}
    assert client.get("/api/v1/hooktest-api/ping", headers=headers).json == {"pong": "rep"}
    spec = client.get("/api/openapi.json", headers=headers).json
    assert "/api/v1/hooktest-api/ping" in spec["paths"]


def test_hook_crm_register_admin_views(make_app, make_user):
    from crmcore.admin.views import SecureView

    seen: dict[str, Any] = {}

    class HookTestPage(SecureView):
        permission = "hooktest.admin"

        @expose("/")
        def index(self) -> str:
            return "hook test page"

    class Plugin:
        @hookimpl
        def crm_register_permissions(self):
            return [Permission("hooktest.admin", "See the hook test page", default_roles=("manager",))]

        @hookimpl
        def crm_register_admin_views(self, db):
            seen["db"] = db
            return [HookTestPage(name="Hook test", endpoint="hooktest", url="/admin/hooktest")]

    app = make_app(plugins=[("hooktest", Plugin())])
    assert seen["db"] is app.extensions["crm"].db
    admins = app.extensions["admin"]
    admins = admins if isinstance(admins, list) else [admins]
    assert any(isinstance(v, HookTestPage) for admin in admins for v in admin._views)

    client = app.test_client()
    r = client.get("/admin/hooktest/")
    assert r.status_code == 302 and "/admin/auth/login" in r.headers["Location"]
    manager, _ = make_user("manager")
    sales, _ = make_user("sales")
    login(client, sales)
    assert client.get("/admin/hooktest/").status_code == 403
    login(client, manager)
    r = client.get("/admin/hooktest/")
    assert r.status_code == 200 and r.get_data(as_text=True) == "hook test page"


def test_hook_crm_customer_panels(make_app, make_user):
    calls: list[Any] = []

    class Plugin:
        @hookimpl
        def crm_customer_panels(self, ctx, customer):
            calls.append(ctx.actor.username)
            return [Panel("hooktest", "Hook test", rows=[("Name", customer.name),
                                                          ("May merge", ctx.can("customer.merge"))], order=15)]

    app = make_app(plugins=[("hooktest", Plugin())])
    client = app.test_client()
    _, headers = make_user("sales", username="rep")
    cid = client.post("/api/v1/customers", json={"name": "Panel Co"}, headers=headers).json["id"]
    assert client.get(f"/api/v1/customers/{cid}/panels").status_code == 401
    r = client.get(f"/api/v1/customers/{cid}/panels", headers=headers)
    assert r.status_code == 200
    panels = {p["key"]: p for p in r.json}
    assert panels["hooktest"] == {"key": "hooktest", "title": "Hook test", "order": 15,
                                  "rows": [["Name", "Panel Co"], ["May merge", False]], "items": []}
    # sorted by order: the core's completeness (10) before ours (15) before recent interactions (20)
    keys = [p["key"] for p in r.json]
    assert keys.index("completeness") < keys.index("hooktest") < keys.index("recent")
    assert calls == ["rep"]


def test_hook_crm_home_panels(make_app, make_user):
    from crmcore.testing.admin import admin_login

    class Plugin:
        @hookimpl
        def crm_home_panels(self, ctx):
            return [Panel("hooktest", "Vouchers of %s" % ctx.actor.username, order=50, items=[
                {"text": "V-1 <b>", "url": "/admin/customer/", "note": "expires today", "warn": True}]),
                Panel("hookempty", "Empty one", order=5)]

    app = make_app(plugins=[("hooktest", Plugin())])
    make_user("sales", username="rep")
    page = admin_login(app.test_client(), "rep", lang="en").get("/admin/").text
    panel = page[page.index('data-panel="hooktest"'):]
    assert "Vouchers of rep" in panel and 'href="/admin/customer/">V-1 &lt;b&gt;</a>' in panel  # escaped
    assert "expires today" in panel and "crm-late" in panel.split("</li>")[0]
    # sorted by order: the empty one (5) before the core's approvals (10) before ours (50)
    assert page.index('data-panel="hookempty"') < page.index('data-panel="approvals"') < page.index(
        'data-panel="hooktest"')
    assert "Nothing for now." in page[page.index('data-panel="hookempty"'):page.index('data-panel="approvals"')]


# ---------------------------------------------------------------------------
# Events and entity lifecycle
# ---------------------------------------------------------------------------


def test_hook_crm_event(make_app):
    seen: list[tuple[str, Any, bool]] = []

    class Listener:
        @hookimpl
        def crm_event(self, ctx, event):
            # after commit: a fresh session already sees the committed row
            visible = ctx.session.get(Customer, event.entity_id) is not None if event.entity == "customer" else None
            seen.append((event.name, event.entity_id, visible))

    class HalfDone:
        @hookimpl
        def crm_event(self, ctx, event):
            ctx.session.add(Tag(name="half-done"))
            ctx.session.flush()
            raise RuntimeError("a broken listener must not stop the others")

    class Poisoning:
        @hookimpl
        def crm_event(self, ctx, event):
            ctx.session.add_all([Tag(name="twice"), Tag(name="twice")])
            ctx.session.flush()  # IntegrityError: the session needs a rollback

    # called last registered first: the broken listeners run before ours
    app = make_app(plugins=[("hooktest", Listener()), ("half", HalfDone()), ("poison", Poisoning())])
    ctx = app.extensions["crm"].context()
    customer = customer_svc.create_customer(ctx, {"name": "Event Co"})
    assert seen == [("customer.created", customer.id, True)]
    # the failing listeners' writes are rolled back, the customer stays
    assert ctx.session.scalars(select(Tag.name)).all() == []
    assert ctx.session.get(Customer, customer.id).name == "Event Co"

    # rolled back: no event, now or at the next commit
    seen.clear()
    with pytest.raises(RuntimeError):
        with unit_of_work(ctx):
            customer_svc.create_customer(ctx, {"name": "Ghost Co"})
            raise RuntimeError("changed my mind")
    assert seen == []
    assert ctx.session.scalar(select(func.count()).select_from(Customer).where(Customer.name == "Ghost Co")) == 0
    customer_svc.update_customer(ctx, customer.id, {"industry": "Retail"})
    assert seen == [("customer.updated", customer.id, True)]


def test_hook_crm_before_save(make_app, make_user):
    calls: list[tuple[str, bool, dict[str, Any]]] = []

    class Plugin:
        @hookimpl
        def crm_before_save(self, ctx, entity, obj, changes, created):
            calls.append((entity, created, dict(changes)))
            if entity == "customer" and "forbidden" in obj.name:
                raise ValidationError("This name is not allowed.", errors={"name": ["Choose another name."]})
            if entity == "customer" and created and not obj.industry:
                obj.industry = "Unknown"  # adjust the record before it is written

    app = make_app(plugins=[("hooktest", Plugin())])
    ctx = app.extensions["crm"].context()
    customer = customer_svc.create_customer(ctx, {"name": "Fine Co"})
    assert customer.industry == "Unknown"
    assert calls[0][0:2] == ("customer", True) and calls[0][2]["name"] == [None, "Fine Co"]

    counts_before = (ctx.session.scalar(select(func.count()).select_from(Customer)),
                     ctx.session.scalar(select(func.count()).select_from(AuditLog)))
    with pytest.raises(ValidationError) as err:
        customer_svc.create_customer(ctx, {"name": "forbidden Co"})
    assert err.value.errors == {"name": ["Choose another name."]}
    with pytest.raises(ValidationError):
        customer_svc.update_customer(ctx, customer.id, {"name": "forbidden now"})
    assert calls[-1] == ("customer", False, {"name": ["Fine Co", "forbidden now"]})
    ctx.session.expire_all()
    assert ctx.session.get(Customer, customer.id).name == "Fine Co"
    assert (ctx.session.scalar(select(func.count()).select_from(Customer)),
            ctx.session.scalar(select(func.count()).select_from(AuditLog))) == counts_before

    # through the API the refusal is a 422 with the plugin's message
    _, headers = make_user("sales")
    r = app.test_client().post("/api/v1/customers", json={"name": "forbidden Ltd"}, headers=headers)
    assert r.status_code == 422 and r.json["message"] == "This name is not allowed."


def test_hook_crm_after_commit(make_app):
    order: list[Any] = []

    class Plugin:
        @hookimpl
        def crm_after_commit(self, ctx, entity, action, entity_id, changes):
            order.append(("after_commit", entity, action, entity_id, changes))

        @hookimpl
        def crm_event(self, event):
            order.append(("event", event.name))

    app = make_app(plugins=[("hooktest", Plugin())])
    ctx = app.extensions["crm"].context()
    customer = customer_svc.create_customer(ctx, {"name": "Commit Co"})
    first = order[0]
    assert first[:4] == ("after_commit", "customer", "created", customer.id)
    assert first[4]["name"] == [None, "Commit Co"]
    assert order[1] == ("event", "customer.created")

    order.clear()
    customer_svc.update_customer(ctx, customer.id, {"industry": "Food"})
    customer_svc.delete_customer(ctx, customer.id)
    assert [o for o in order if o[0] == "after_commit"][0] == (
        "after_commit", "customer", "updated", customer.id, {"industry": [None, "Food"]})
    deleted = [o for o in order if o[0] == "after_commit"][1]
    assert deleted[1:4] == ("customer", "deleted", customer.id) and "deleted_at" in deleted[4]

    order.clear()
    with pytest.raises(RuntimeError):
        with unit_of_work(ctx):
            customer_svc.create_customer(ctx, {"name": "Rolled back Co"})
            raise RuntimeError("rolled back")
    assert order == []


def test_hook_crm_before_delete(make_app, make_user):
    class Plugin:
        @hookimpl
        def crm_before_delete(self, ctx, entity, obj):
            if entity == "customer" and obj.stage == "customer":
                raise Conflict("Customers with open orders cannot be deleted; close the orders first.")

    app = make_app(plugins=[("hooktest", Plugin())])
    ctx = app.extensions["crm"].context()
    keep = customer_svc.create_customer(ctx, {"name": "Keep Co", "stage": "customer"})
    drop = customer_svc.create_customer(ctx, {"name": "Drop Co"})
    with pytest.raises(Conflict):
        customer_svc.delete_customer(ctx, keep.id)
    ctx.session.expire_all()
    assert ctx.session.get(Customer, keep.id).deleted_at is None
    assert not ctx.session.scalars(select(AuditLog).where(AuditLog.action == "deleted")).all()
    customer_svc.delete_customer(ctx, drop.id)
    assert ctx.session.get(Customer, drop.id).deleted_at is not None

    _, headers = make_user("admin")
    r = app.test_client().delete(f"/api/v1/customers/{keep.id}", headers=headers)
    assert r.status_code == 409 and "open orders" in r.json["message"]


def test_hook_crm_register_outbox_handlers(make_app):
    delivered: list[dict[str, Any]] = []
    state = {"fail": False}

    def deliver(ctx: Any, message: Any) -> None:
        if state["fail"]:
            raise ConnectionError("receiver is down")
        delivered.append({"topic": message.topic, "key": message.idempotency_key, "payload": message.payload})

    class Plugin:
        @hookimpl
        def crm_register_outbox_handlers(self):
            return [OutboxHandler("hooktest", ("customer.*",), deliver, max_attempts=3)]

    app = make_app(plugins=[("hooktest", Plugin())])
    ctx = app.extensions["crm"].context()
    customer = customer_svc.create_customer(ctx, {"name": "Outbox Co"})
    msg = ctx.session.scalars(select(OutboxMessage)).one()
    assert (msg.topic, msg.destination, msg.status, msg.attempts) == ("customer.created", "hooktest", "pending", 0)
    event_id = ctx.session.scalar(select(AuditLog.event_id).where(AuditLog.entity_id == str(customer.id)))
    assert msg.event_id == event_id and msg.idempotency_key == f"{event_id}:hooktest"

    # written in the writer's transaction: a rollback leaves no outbox row
    with pytest.raises(RuntimeError):
        with unit_of_work(ctx):
            customer_svc.create_customer(ctx, {"name": "Ghost Co"})
            raise RuntimeError("rolled back")
    assert ctx.session.scalar(select(func.count()).select_from(OutboxMessage)) == 1

    assert outbox.deliver_due(ctx)["delivered"] == 1
    assert delivered == [{"topic": "customer.created", "key": msg.idempotency_key, "payload": msg.payload}]
    assert delivered[0]["payload"]["entity_id"] == customer.id
    assert ctx.session.get(OutboxMessage, msg.id).status == "delivered"
    assert outbox.deliver_due(ctx)["delivered"] == 0  # at least once, not again and again

    # failures: retried with growing backoff, then parked as dead after max_attempts
    state["fail"] = True
    customer_svc.update_customer(ctx, customer.id, {"industry": "Logistics"})
    failing = ctx.session.scalars(select(OutboxMessage).where(OutboxMessage.status == "pending")).one()
    t0 = utcnow()
    assert outbox.deliver_due(ctx, now=t0)["retry"] == 1
    failing = ctx.session.get(OutboxMessage, failing.id)
    assert failing.attempts == 1 and "receiver is down" in failing.last_error
    assert failing.next_attempt_at == t0 + outbox.backoff(1)
    assert outbox.deliver_due(ctx, now=t0 + dt.timedelta(seconds=1)) == {"delivered": 0, "retry": 0, "dead": 0,
                                                                          "unroutable": 0}
    t1 = t0 + outbox.backoff(1)
    assert outbox.deliver_due(ctx, now=t1)["retry"] == 1
    failing = ctx.session.get(OutboxMessage, failing.id)
    assert failing.attempts == 2 and failing.next_attempt_at == t1 + outbox.backoff(2)
    assert outbox.backoff(2) > outbox.backoff(1)
    assert outbox.deliver_due(ctx, now=t1 + outbox.backoff(2))["dead"] == 1
    failing = ctx.session.get(OutboxMessage, failing.id)
    assert (failing.status, failing.attempts) == ("dead", 3)
    assert outbox.deliver_due(ctx, now=t1 + dt.timedelta(days=1))["retry"] == 0
    assert len(delivered) == 1


def test_outbox_handler_ignores_changes_of_its_own_sources(make_app):
    """An integration's own writes (``ctx.source``) get no message for its handler, one by one and in
    a batch; other sources and other handlers still get theirs."""
    from crmcore.services.customer_batch import create_customers

    class Plugin:
        @hookimpl
        def crm_register_outbox_handlers(self):
            return [OutboxHandler("shop", ("customer.*",), lambda ctx, m: None, ignore_sources=("shop-sync",)),
                    OutboxHandler("audit-feed", ("customer.*",), lambda ctx, m: None)]

    app = make_app(plugins=[("hooktest", Plugin())])
    rt = app.extensions["crm"]
    admin = rt.context()
    customer_svc.create_customer(admin, {"name": "Typed In Co"})
    synced = rt.context(source="shop-sync", session=admin.session)
    customer_svc.create_customer(synced, {"name": "From The Shop Co"})
    create_customers(synced, [{"name": "Batch From The Shop Co"}])
    rows = admin.session.execute(select(OutboxMessage.destination, OutboxMessage.payload)).all()
    names = {(dest, admin.session.get(Customer, payload["entity_id"]).name) for dest, payload in rows}
    assert names == {("shop", "Typed In Co"), ("audit-feed", "Typed In Co"), ("audit-feed", "From The Shop Co"),
                     ("audit-feed", "Batch From The Shop Co")}


# ---------------------------------------------------------------------------
# Customers: identity resolution and merge
# ---------------------------------------------------------------------------


def test_hook_crm_find_duplicates(make_app):
    asked: list[int] = []

    class Plugin:
        @hookimpl
        def crm_find_duplicates(self, ctx, customer, limit):
            asked.append(limit)
            twin = ctx.session.scalar(select(Customer.id).where(Customer.name == "Tax Twin"))
            # the customer itself is dropped by the core
            return [DuplicateCandidate(twin, 0.95, ["same tax id"]), DuplicateCandidate(customer.id, 1.0, ["itself"])]

    app = make_app(plugins=[("hooktest", Plugin())])
    ctx = app.extensions["crm"].context()
    one = customer_svc.create_customer(ctx, {"name": "Original Trading"})
    twin = customer_svc.create_customer(ctx, {"name": "Tax Twin"})
    found = dedupe.find_duplicates(ctx, one.id, limit=5)
    assert asked == [5]
    assert [(c.customer_id, c.score, c.reasons) for c in found] == [(twin.id, 0.95, ["same tax id"])]


def test_hook_crm_customer_merge(make_app, database):
    class HookTestNote(Base):
        """Rows the core cannot see in a merge: ``customer_ref`` is no foreign key."""

        __tablename__ = "hooktest_notes"

        id: Mapped[intpk]
        customer_ref: Mapped[int]
        text: Mapped[str] = mapped_column(String(40))

    class Plugin:
        @hookimpl
        def crm_customer_merge(self, ctx, winner, loser):
            ids = list(ctx.session.scalars(select(HookTestNote.id).where(HookTestNote.customer_ref == loser.id)))
            ctx.session.execute(update(HookTestNote).where(HookTestNote.id.in_(ids)).values(customer_ref=winner.id))
            return [MovedRows("hooktest_notes", "customer_ref", ids)]

    try:
        app = make_app(plugins=[("hooktest", Plugin())])
        ctx = app.extensions["crm"].context()
        winner = customer_svc.create_customer(ctx, {"name": "Winner Co"})
        loser = customer_svc.create_customer(ctx, {"name": "Loser Co"})
        ctx.session.add_all([HookTestNote(customer_ref=loser.id, text="a"), HookTestNote(customer_ref=loser.id, text="b"),
                             HookTestNote(customer_ref=winner.id, text="c")])
        ctx.session.commit()

        def notes_of(cid: int) -> list[str]:
            ctx.session.expire_all()
            return sorted(ctx.session.scalars(select(HookTestNote.text).where(HookTestNote.customer_ref == cid)))

        summary = dedupe.merge_customers(ctx, winner.id, loser.id)
        assert summary["moved"]["hooktest_notes"] == 2
        assert notes_of(winner.id) == ["a", "b", "c"] and notes_of(loser.id) == []

        dedupe.unmerge(ctx, summary["audit_id"])
        assert notes_of(winner.id) == ["c"] and notes_of(loser.id) == ["a", "b"]
    finally:
        forget_table(HookTestNote, database)


# ---------------------------------------------------------------------------
# CLI and scheduled work
# ---------------------------------------------------------------------------


def test_hook_crm_register_commands(make_app, monkeypatch, capsys):
    from crmcore import cli as cli_mod

    class Plugin:
        @hookimpl
        def crm_register_commands(self, cli):
            @cli.command("hooktest-hello")
            @click.argument("name")
            def hello(name: str) -> None:
                """Say hello (from the hook test plugin)."""
                rt = current_app.extensions["crm"]
                click.echo(f"hello {name}, {len(rt.registry.permissions)} permissions")

    app = make_app(plugins=[("hooktest", Plugin())])
    rt = app.extensions["crm"]
    try:
        # the `crm` console script calls the hook before running the command
        monkeypatch.setattr(cli_mod, "_runtime", {"rt": rt})
        monkeypatch.setattr(sys, "argv", ["crm", "hooktest-hello", "world"])
        with pytest.raises(SystemExit) as exit_:
            cli_mod.main()
        assert exit_.value.code == 0
        assert f"hello world, {len(rt.registry.permissions)} permissions" in capsys.readouterr().out

        result = app.test_cli_runner().invoke(cli_mod.cli, ["hooktest-hello", "again"])
        assert result.exit_code == 0, result.output
        assert result.output.startswith("hello again")
        assert "hooktest-hello" in app.test_cli_runner().invoke(cli_mod.cli, ["--help"]).output
    finally:
        cli_mod.cli.commands.pop("hooktest-hello", None)


def test_hook_crm_demo_data(make_app):
    from crmcore import cli as cli_mod

    seen: list[int] = []

    class Plugin:
        @hookimpl
        def crm_demo_data(self, ctx):
            # the core's demo customers exist already; report once per run, create once in all
            from crmcore.models import Customer

            count = ctx.session.scalar(select(func.count()).select_from(Customer))
            seen.append(count)
            return [f"hooktest: saw {count} customers"]

    app = make_app(plugins=[("hooktest", Plugin())])
    result = app.test_cli_runner().invoke(cli_mod.cli, ["demo"])
    assert result.exit_code == 0, result.output
    assert seen and seen[0] > 0
    assert f"\nhooktest: saw {seen[0]} customers\n" in result.output  # a line of its own, not a list
    again = app.test_cli_runner().invoke(cli_mod.cli, ["demo"])
    assert again.exit_code == 0 and seen[1] == seen[0]  # the core's demo is idempotent too


def test_hook_crm_register_checks(make_app):
    """A plugin's checks run after the core's; an error finding fails ``crm check``; a check that
    raises is reported by name and does not stop the others."""
    from crmcore.checks import run_checks
    from crmcore.contracts import Check, Finding

    def shop(ctx: Any) -> list[Finding]:
        return [Finding("error", "shop", "The shop cannot be reached.")]

    def broken(ctx: Any) -> list[Finding]:
        raise RuntimeError("no shop settings")

    class Plugin:
        @hookimpl
        def crm_register_checks(self):
            return [Check("hooktest.shop", shop), Check("hooktest.broken", broken)]

    app = make_app(plugins=[("hooktest", Plugin())])
    with app.app_context():
        findings = run_checks(app.extensions["crm"].context(source="cli"))
    topics = [f.topic for f in findings]
    assert topics.index("secret_key") < topics.index("shop")  # the core's first
    assert Finding("error", "shop", "The shop cannot be reached.") in findings
    [failed] = [f for f in findings if f.topic == "hooktest.broken"]
    assert failed.level == "error" and "hooktest.broken" in failed.message and "no shop settings" in failed.message
    assert [t for t in topics if t.startswith(("shop", "hooktest"))] == ["shop", "hooktest.broken"]


def test_hook_crm_register_import_kinds(make_app, make_user, tmp_path):
    """A plugin's kind (here: tags by name) is imported by `crm import <kind> FILE` and its bulk endpoint,
    through the core's driver: batches, per-row results, rejects with reasons, idempotent re-runs."""
    from sqlalchemy import insert as sql_insert

    from crmcore.errors import PluginError
    from crmcore.imports import CREATED, REJECTED, UNCHANGED, Column, ImportKind, RowResult
    from crmcore.imports.api import add_bulk_route
    from crmcore.imports.driver import record

    def load(ctx, rows, options):
        names = [raw.get("name", "") for _line, raw in rows]
        have = {t.name: t.id for t in ctx.session.scalars(select(Tag).where(Tag.name.in_(names)))}
        out, new = [], []
        for line, raw in rows:
            name = raw.get("name", "")
            if not name or len(name) > 120:
                out.append(RowResult(line, REJECTED, key=name, errors={"name": ["1 to 120 characters."]}))
            elif name in have:
                out.append(RowResult(line, UNCHANGED, have[name], name))
            else:
                new.append(len(out))
                out.append(RowResult(line, CREATED, None, name))
        if new:
            ids = ctx.session.execute(sql_insert(Tag.__table__).returning(Tag.__table__.c.id, sort_by_parameter_order=True),
                                      [{"name": out[i].key} for i in new]).scalars().all()
            for i, tag_id in zip(new, ids, strict=True):
                out[i].id = tag_id
            record(ctx, options, [("tag", "created", out[i].id, {"name": [None, out[i].key]}, None) for i in new])
        return out

    kind = ImportKind("hooktags", "Tags", "customer.import", "name", (Column("name", "Tag name", required=True),),
                      load, "tag", batch_size=2, api_max_rows=3)
    blp = ApiBlueprint("hooktest_tags", __name__, url_prefix="/api/v1/hooktest-tags", description="Hook test")
    add_bulk_route(blp, "hooktags")

    class Plugin:
        @hookimpl
        def crm_register_import_kinds(self):
            return [kind]

        @hookimpl
        def crm_register_blueprints(self):
            return [blp]

    app = make_app(plugins=[("hooktest", Plugin())])
    from crmcore.cli import cli

    path = tmp_path / "tags.csv"
    path.write_text("name\nalpha\nbeta\n\ngamma\nalpha\n" + "x" * 121 + "\n", encoding="utf-8")
    runner = app.test_cli_runner()
    assert "hooktags" in runner.invoke(cli, ["import", "--help"]).output
    r = runner.invoke(cli, ["import", "hooktags", str(path)])
    assert r.exit_code == 0, r.output
    assert "5 rows read: created 3, updated 0, unchanged 1, rejected 1" in r.output
    assert "line 7" not in r.output and "1 to 120" in (tmp_path / "tags.rejected.csv").read_text(encoding="utf-8-sig")
    r = runner.invoke(cli, ["import", "hooktags", str(path), "--audit", "summary"])
    assert "created 0, updated 0, unchanged 4, rejected 1" in r.output
    s = app.extensions["crm"].db.new_session()
    assert sorted(s.scalars(select(Tag.name))) == ["alpha", "beta", "gamma"]
    assert s.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.entity == "tag",
                                                                    AuditLog.action == "created")) == 3
    summaries = s.scalars(select(AuditLog).where(AuditLog.entity == "tag", AuditLog.action == "imported")).all()
    assert [a.data["rows"] for a in summaries] == [2, 2, 1]  # one entry per batch of two rows
    s.close()
    assert runner.invoke(cli, ["import", "nothing", str(path)]).exit_code != 0

    client = app.test_client()
    _user, headers = make_user("manager", username="boss")
    r = client.post("/api/v1/hooktest-tags/bulk", json={"hooktags": [{"name": "delta"}, {"name": "alpha"}, {"nam": "x"}]},
                    headers=headers)
    assert r.status_code == 200, r.json
    assert r.json["summary"] == {"created": 1, "unchanged": 1, "rejected": 1}
    assert [(x["index"], x["status"], x["name"]) for x in r.json["results"]] == [
        (1, "created", "delta"), (2, "unchanged", "alpha"), (3, "rejected", None)]
    assert r.json["results"][2]["errors"] == {"nam": ["Unknown field."]}
    r = client.post("/api/v1/hooktest-tags/bulk", json={"hooktags": [{"name": str(i)} for i in range(4)]}, headers=headers)
    assert r.status_code == 413 and "At most 3 rows" in r.json["message"]
    _rep, rep_headers = make_user("sales", username="rep")
    assert client.post("/api/v1/hooktest-tags/bulk", json={"hooktags": [{"name": "x"}]},
                       headers=rep_headers).status_code == 403

    class Twin:
        @hookimpl
        def crm_register_import_kinds(self):
            return [kind]

    twin = make_app(plugins=[("hooktest", Plugin()), ("twin", Twin())])
    from crmcore.imports.driver import registered_kinds

    with pytest.raises(PluginError, match="hooktags"):
        registered_kinds(twin.extensions["crm"].context())


def test_hook_crm_register_jobs(make_app):
    runs: list[str] = []

    def tick(ctx: Any) -> None:
        runs.append(ctx.source)

    def boom(ctx: Any) -> None:
        raise RuntimeError("the nightly export failed")

    class Plugin:
        @hookimpl
        def crm_register_jobs(self):
            return [Job("hooktest.tick", tick, 60, "Tick every minute"), Job("hooktest.boom", boom, 3600)]

    app = make_app(plugins=[("hooktest", Plugin())])
    ctx = app.extensions["crm"].context(source="scheduler")
    assert {"hooktest.tick", "hooktest.boom", "outbox.deliver"} <= set(ctx.registry.jobs)

    statuses = jobs.run_due(ctx)
    assert statuses["hooktest.tick"] == "ok" and statuses["hooktest.boom"] == "failed"
    assert runs == ["scheduler"]
    # not due again before its interval has passed, due after
    assert "hooktest.tick" not in jobs.run_due(ctx, now=utcnow() + dt.timedelta(seconds=30))
    assert jobs.run_due(ctx, now=utcnow() + dt.timedelta(seconds=61))["hooktest.tick"] == "ok"
    assert runs == ["scheduler", "scheduler"]

    state = jobs.run_job(ctx, "hooktest.boom")
    assert state.last_status == "failed" and "the nightly export failed" in state.last_error
    assert jobs.run_job(ctx, "hooktest.tick").last_status == "ok"


def test_the_scheduler_thread_runs_jobs_in_the_apps_context(make_app):
    """``crm serve``'s scheduler: jobs see the app (current_app, translations) as under ``crm jobs``."""
    import threading

    from flask import current_app, has_app_context

    seen: list[Any] = []
    ran = threading.Event()

    def job(ctx: Any) -> None:
        seen.append((has_app_context() and current_app.name, ctx.source))
        ran.set()

    class Plugin:
        @hookimpl
        def crm_register_jobs(self):
            return [Job("hooktest.context", job, 3600)]

    app = make_app(plugins=[("hooktest", Plugin())])
    stop = jobs.start_scheduler(app.extensions["crm"], tick=0.05, app=app)
    try:
        assert ran.wait(10)
    finally:
        stop.set()
        for thread in threading.enumerate():  # let its tick end before the database is wiped
            if thread.name == "crm-scheduler":
                thread.join(10)
    assert seen[0] == (app.name, "scheduler")


# ---------------------------------------------------------------------------
# Integration: OA approval providers (the ERP adapter's hooks: tests/adapters/erp/test_hooks.py)
# ---------------------------------------------------------------------------


def test_hook_crm_register_oa_providers(make_app):
    class HookTestOA:
        name = "hooktest-oa"

    plugin = SimpleNamespace(crm_register_oa_providers=hookimpl(lambda: [HookTestOA]))
    rt = make_app(plugins=[("hooktest", plugin)]).extensions["crm"]
    assert rt.registry.oa_providers["hooktest-oa"] is HookTestOA


def test_hook_crm_startup(make_app):
    seen: list[Any] = []

    class Plugin:
        @hookimpl
        def crm_startup(self, app):
            # called at the end of create_app: the runtime and the API are in place
            seen.append((app, app.extensions["crm"].pm.get_plugin("hooktest") is self,
                         any(r.rule == "/api/v1/customers" for r in app.url_map.iter_rules())))

    plugin = Plugin()
    app = make_app(plugins=[("hooktest", plugin)])
    assert seen == [(app, True, True)]


# ---------------------------------------------------------------------------
# Workflow and approvals
# ---------------------------------------------------------------------------


def _lifecycle(actions_on_customer: list[Any] | None = None, entity: str = "customer", policy: str | None = None) -> dict:
    return {"name": f"hooktest-{entity}", "entity": entity, "state_field": "stage",
            "states": [{"name": "lead"}, {"name": "customer", "actions": actions_on_customer or []}],
            "transitions": [{"action": "win", "from_state": "lead", "to_state": "customer", "policy": policy}]}


def test_hook_crm_register_condition_predicates(make_app):
    from crmcore.contracts_workflow import Predicate
    from crmcore.errors import PluginError
    from crmcore import conditions

    class Plugin:
        @hookimpl
        def crm_register_condition_predicates(self):
            return [Predicate("hooktest.vip", lambda ctx, rec, args: rec.name.startswith(args["prefix"]), "VIP",
                              lambda args: [] if "prefix" in args else ["give 'prefix'"])]

    rt = make_app(plugins=[("hooktest", Plugin())]).extensions["crm"]
    ctx = rt.context()
    vip = customer_svc.create_customer(ctx, {"name": "VIP Acme"})
    plain = customer_svc.create_customer(ctx, {"name": "Plain"})
    condition = {"predicate": "hooktest.vip", "args": {"prefix": "VIP"}}
    assert conditions.evaluate(condition, vip, ctx) and not conditions.evaluate(condition, plain, ctx)
    assert conditions.validate({"predicate": "hooktest.vip"}, ctx) == ["condition.args: give 'prefix'"]

    class Twin:
        @hookimpl
        def crm_register_condition_predicates(self):
            return [Predicate("hooktest.vip", lambda ctx, rec, args: True)]

    rt2 = make_app(plugins=[("hooktest", Plugin()), ("twin", Twin())]).extensions["crm"]
    with pytest.raises(PluginError, match="condition predicate 'hooktest.vip' is registered by both plugin"):
        conditions.validate(condition, rt2.context())


def test_hook_crm_register_workflow_actions(make_app):
    from crmcore.contracts_workflow import WorkflowAction
    from crmcore.services import workflow as wf_svc

    seen: list[Any] = []

    def welcome(ctx, record, params):
        if params.get("fail"):
            raise ValidationError("the welcome pack is out of stock")
        seen.append((record.name, record.stage, params))

    class Plugin:
        @hookimpl
        def crm_register_workflow_actions(self):
            return [WorkflowAction("hooktest.welcome", welcome, "Send a welcome pack")]

    rt = make_app(plugins=[("hooktest", Plugin())]).extensions["crm"]
    ctx = rt.context()
    wf = wf_svc.create_workflow(ctx, _lifecycle([{"name": "hooktest.welcome", "params": {"size": "L"}}]))
    acme = customer_svc.create_customer(ctx, {"name": "Acme"})
    wf_svc.fire(ctx, "customer", acme.id, "win")
    assert seen == [("Acme", "customer", {"size": "L"})]  # runs after the state moved, in the same transaction
    # an action that raises rolls the transition back
    wf_svc.update_workflow(ctx, wf.id, _lifecycle([{"name": "hooktest.welcome", "params": {"fail": True}}]))
    beta = customer_svc.create_customer(ctx, {"name": "Beta"})
    with pytest.raises(ValidationError, match="out of stock"):
        wf_svc.fire(ctx, "customer", beta.id, "win")
    check = rt.db.new_session()
    assert check.get(Customer, beta.id).stage == "lead"
    check.close()
    with pytest.raises(ValidationError) as err:
        wf_svc.create_workflow(ctx, {**_lifecycle(["hooktest.unknown"]), "name": "other"})
    assert "states.1.actions.0" in err.value.errors


def test_hook_crm_register_workflow_entities(make_app):
    from crmcore.contracts_workflow import WorkflowEntity
    from crmcore.errors import NotFound
    from crmcore.services import workflow as wf_svc

    loads: list[int] = []

    def load(ctx, record_id):
        loads.append(record_id)
        record = ctx.session.get(Customer, record_id)
        if record is None or record.kind != "organization":
            raise NotFound("no such account")
        return record

    class Plugin:
        @hookimpl
        def crm_register_workflow_entities(self):
            return [WorkflowEntity("hooktest_account", Customer, load, "owner_id", "Account", ("stage",))]

    rt = make_app(plugins=[("hooktest", Plugin())]).extensions["crm"]
    ctx = rt.context()
    wf_svc.create_workflow(ctx, _lifecycle(entity="hooktest_account"))
    org = customer_svc.create_customer(ctx, {"name": "Org", "kind": "organization"})
    person = customer_svc.create_customer(ctx, {"name": "Person", "kind": "person"})
    assert wf_svc.fire(ctx, "hooktest_account", org.id, "win") == {"status": "done", "state": "customer"}
    with pytest.raises(NotFound):
        wf_svc.fire(ctx, "hooktest_account", person.id, "win")
    assert loads == [org.id, person.id]
    with pytest.raises(ValidationError):  # without the plugin the entity is unknown
        wf_svc.create_workflow(make_app().extensions["crm"].context(), _lifecycle(entity="hooktest_account"))


def test_hook_crm_approval_completed(make_app):
    from crmcore.models import ApprovalRequest
    from crmcore.services import approvals
    from crmcore.services import workflow as wf_svc

    seen: list[Any] = []

    class Plugin:
        fail = False

        @hookimpl
        def crm_approval_completed(self, ctx, request, record):
            if self.fail:
                raise ValidationError("the ERP refuses the new customer")
            seen.append((request.status, request.action, record.name, record.stage))

    plugin = Plugin()
    rt = make_app(plugins=[("hooktest", plugin)]).extensions["crm"]
    ctx = rt.context()
    boss = user_svc.create_user(ctx, "boss", None, "manager")
    approvals.create_policy(ctx, {"name": "hooktest-policy", "entity": "customer",
                                  "tiers": [{"reviewers": [{"kind": "user", "value": "boss"}]}]})
    wf_svc.create_workflow(ctx, _lifecycle(policy="hooktest-policy"))
    acme = customer_svc.create_customer(ctx, {"name": "Acme"})
    request_id = wf_svc.fire(ctx, "customer", acme.id, "win")["request_id"]
    assert seen == []
    as_boss = rt.context(actor=boss, source="api", session=rt.db.new_session())
    plugin.fail = True
    with pytest.raises(ValidationError, match="ERP refuses"):
        approvals.decide(as_boss, request_id, True)
    check = rt.db.new_session()
    assert check.get(ApprovalRequest, request_id).status == "pending"  # rolled back with the hook
    assert check.get(Customer, acme.id).stage == "lead"
    check.close()
    plugin.fail = False
    as_boss.session.close()
    as_boss = rt.context(actor=boss, source="api", session=rt.db.new_session())
    approvals.decide(as_boss, request_id, True)
    assert seen == [("approved", "win", "Acme", "customer")]  # after the transition was applied
    as_boss.session.close()


def test_hook_crm_register_audit_entities(make_app, make_user):
    """A plugin's audit entries: hidden from everyone but administrators until it registers the
    entity type; then shown to who holds its permission and sees the entry's customer."""
    from crmcore.contracts import AuditEntity
    from crmcore.events import audit
    from crmcore.services import audit_scope

    class Plugin:
        @hookimpl
        def crm_register_audit_entities(self):
            return [AuditEntity("hooktest_points", "customer.read", audit_scope.customer_in)]

    rep, _ = make_user("sales")
    other, _ = make_user("sales")
    for plugins, expected in (((), set()), ([("hooktest", Plugin())], {"mine"})):
        app = make_app(plugins=plugins)
        rt = app.extensions["crm"]
        ctx = rt.context(source="test")
        if not ctx.session.scalar(select(AuditLog.id).where(AuditLog.entity == "hooktest_points")):
            mine = customer_svc.create_customer(ctx, {"name": "Mine", "owner_id": rep.id})
            theirs = customer_svc.create_customer(ctx, {"name": "Theirs", "owner_id": other.id})
            audit(ctx, "created", "hooktest_points", 1, data={"customer_id": mine.id, "tag": "mine"})
            audit(ctx, "created", "hooktest_points", 2, data={"customer_id": theirs.id, "tag": "theirs"})
            ctx.session.commit()
        as_rep = rt.context(actor=ctx.session.get(type(rep), rep.id), source="test")
        seen = as_rep.session.scalars(audit_scope.scope_audit(as_rep, select(AuditLog).where(
            AuditLog.entity == "hooktest_points"))).all()
        assert {e.data["tag"] for e in seen} == expected
        assert len(ctx.session.scalars(audit_scope.scope_audit(ctx, select(AuditLog).where(
            AuditLog.entity == "hooktest_points"))).all()) == 2  # the system context (an administrator) sees all
        ctx.session.close()
