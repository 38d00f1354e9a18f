"""One test per hook in crmcore/hookspecs.py, named ``test_hook_<hook name>`` (datasette style).

Each test registers a small one-test plugin through the ``make_app(plugins=[(name, obj)])``
fixture, so it lives only in that test's app, and checks what the hook really does.
tests/crmcore/test_docs.py fails when a hook has no test here or in test_hooks_work.py (the CLI,
scheduled work, OA providers, workflow and approvals).
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from flask import Blueprint, jsonify
from flask.views import MethodView
from flask_admin import expose
from flask_smorest import Blueprint as ApiBlueprint
from sqlalchemy import ForeignKey, String, func, inspect, select, update
from sqlalchemy.orm import Mapped, mapped_column

from crmcore import hookimpl, migrate
from crmcore.api import current_ctx
from crmcore.contracts import DuplicateCandidate, FieldType, MovedRows, OutboxHandler, Panel, Permission
from crmcore.db import Base, intpk, utcnow
from crmcore.errors import Conflict, ValidationError
from crmcore.events import record_changes
from crmcore.models import AuditLog, Customer, OutboxMessage, Tag
from crmcore.runtime import build_runtime
from crmcore.services import custom_fields as field_svc
from crmcore.services import customers as customer_svc
from crmcore.services import dedupe, outbox
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


def test_hook_crm_convert_money(make_app):
    """The first plugin's conversion is the one a report sums; with none, amounts are added as they are."""
    from sqlalchemy import literal

    class Plugin:
        @hookimpl
        def crm_convert_money(self, ctx, amount, currency, target):
            return amount * 2 if target == "CNY" else None

    ctx = make_app(plugins=[("hooktest", Plugin())]).extensions["crm"].context()
    expr = ctx.hook.crm_convert_money(ctx=ctx, amount=literal(5), currency=literal("USD"), target="CNY")
    assert ctx.session.scalar(select(expr)) == 10
    assert ctx.hook.crm_convert_money(ctx=ctx, amount=literal(5), currency=literal("USD"), target="EUR") is None


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


def test_hook_crm_events(make_app):
    batches: list[list[tuple[str, Any]]] = []
    order: list[str] = []

    class Listener:
        @hookimpl
        def crm_event(self, ctx, event):
            order.append("one")

        @hookimpl
        def crm_events(self, ctx, events):
            order.append("all")
            batches.append([(e.name, e.entity_id) for e in events])

    app = make_app(plugins=[("hooktest", Listener())])
    rt = app.extensions["crm"]
    ctx = rt.context()
    with unit_of_work(ctx):  # one transaction, two changes: one call with both events
        record_changes(ctx, [("customer", "updated", 1, {"name": ["a", "b"]}, None),
                             ("customer", "updated", 2, {"name": ["c", "d"]}, None)])
    assert batches == [[("customer.updated", 1), ("customer.updated", 2)]] and order == ["one", "one", "all"]
    customer = customer_svc.create_customer(ctx, {"name": "Batch Co"})  # a service write: a batch of one
    assert batches[-1] == [("customer.created", customer.id)]
    record_changes(ctx, [("customer", "updated", 3, {}, None)])
    ctx.session.rollback()  # rolled back: nothing reaches the listeners
    ctx.session.commit()
    assert len(batches) == 2


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
