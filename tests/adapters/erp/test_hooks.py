"""One test per hook the ERP adapter owns (adapters/erp/hookspecs.py), named ``test_hook_<hook name>``
as in tests/crmcore/test_hooks.py; each hook is also documented in docs/erp_sync.md."""
from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from adapters.erp import hookspecs
from adapters.erp.connections import erp_adapters
from crmcore import PROJECT_NAME, hookimpl
from crmcore.errors import PluginError
from crmcore.plugins import build_plugin_manager
from crmcore.services import customers as customer_svc

ROOT = Path(__file__).resolve().parents[3]
HOOKS = sorted(name for name, obj in vars(hookspecs).items() if callable(obj) and hasattr(obj, f"{PROJECT_NAME}_spec"))


@pytest.mark.parametrize("hook", HOOKS)
def test_erp_hook_is_documented_tested_and_described(hook):
    signature = f"{hook}({', '.join(inspect.signature(getattr(hookspecs, hook)).parameters)})"
    headings = re.findall(r"^###\s+`?(.+?)`?\s*$", (ROOT / "docs" / "erp_sync.md").read_text(encoding="utf-8"), re.M)
    assert signature in headings, f"add '### `{signature}`' to docs/erp_sync.md"
    tests = re.findall(r"^def (test_hook_\w+)\(", Path(__file__).read_text(encoding="utf-8"), re.M)
    assert f"test_hook_{hook}" in tests
    doc = inspect.getdoc(getattr(hookspecs, hook)) or ""
    for param in inspect.signature(getattr(hookspecs, hook)).parameters:
        assert f":param {param}:" in doc


def test_erp_hooks_belong_to_the_erp_plugin():
    """The hooks exist once the erp plugin is loaded; without it a plugin implementing them fails at start
    naming itself, unless its implementation is optional (as the sales plugin's are)."""
    assert set(HOOKS) == {"crm_register_erp_adapters", "crm_sync_apply", "crm_sync_export"}
    from crmcore import hookspecs as core_hookspecs

    assert not set(HOOKS) & set(vars(core_hookspecs))

    class Reader:
        @hookimpl
        def crm_sync_export(self, ctx, entity, entity_id, sync):
            return None

    pm = build_plugin_manager({"PLUGINS_AUTOLOAD": False, "PLUGINS": ["adapters.erp"]}, extra=[("reader", Reader())])
    assert pm.hook.crm_sync_apply.spec.opts["firstresult"] is True
    with pytest.raises(PluginError, match="reader"):
        build_plugin_manager({"PLUGINS_AUTOLOAD": False}, extra=[("reader", Reader())])
    pm = build_plugin_manager({"PLUGINS_AUTOLOAD": False, "PLUGINS": ["plugins.sales"]})  # sales without erp
    assert pm.get_plugin("sales") is not None and not pm.hook.crm_sync_apply.has_spec()


def test_two_erp_adapters_of_one_name_fail_at_start(make_app):
    class Twin:
        name = "tryton"

    class Plugin:
        @hookimpl
        def crm_register_erp_adapters(self):
            return [Twin]

    with pytest.raises(PluginError, match="ERP adapter 'tryton' is registered by both"):
        make_app(plugins=[("twin", Plugin())], PLUGINS=["adapters.erp"])


def test_hook_crm_register_erp_adapters(make_app):
    class HookTestERP:
        name = "hooktest-erp"

    class Plugin:
        @hookimpl
        def crm_register_erp_adapters(self):
            return [HookTestERP]

    rt = make_app(plugins=[("hooktest", Plugin())], PLUGINS=["adapters.erp"]).extensions["crm"]
    adapters = erp_adapters(rt.context())
    assert adapters["hooktest-erp"] is HookTestERP
    assert {"tryton", "odoo", "csv"} <= set(adapters)  # the erp plugin's own, declared with CRM_ERP_ADAPTERS


def test_hook_crm_sync_apply(make_app):
    from decimal import Decimal

    from adapters.erp.base import ErpAdapter, Page, PriceRecord
    from adapters.erp.connections import save_connection
    from adapters.erp.models import SyncIssue
    from adapters.erp.sync import run_connection
    from crmcore.models import ExternalRef

    stored: list[tuple[str, str, Any]] = []

    class MemoryAdapter(ErpAdapter):
        name = "hooktest-memory"
        streams = ("prices",)
        rows = [PriceRecord(external_id="p1", price_list="Retail", product_ref="x", price=Decimal("9.90")),
                PriceRecord(external_id="p2", price_list="Retail", product_ref="missing", price=Decimal("1.00"))]

        def read(self, stream, since, cursor=None):
            yield Page(records=list(self.rows), cursor=2)

    class Plugin:
        @hookimpl
        def crm_register_erp_adapters(self):
            return [MemoryAdapter]

        @hookimpl
        def crm_sync_apply(self, ctx, stream, record, sync):
            if record.product_ref == "missing":
                raise sync.skip("product missing is not synced yet")
            stored.append((stream, record.external_id, record.price, sync.system))
            return "price", 7, "created"

    rt = make_app(plugins=[("hooktest", Plugin())], PLUGINS=["adapters.erp"]).extensions["crm"]
    ctx = rt.context(source="erp-sync")
    conn = save_connection(ctx, {"name": "mem", "adapter": "hooktest-memory"})
    result = run_connection(ctx, conn, MemoryAdapter({}), None)
    assert stored == [("prices", "p1", Decimal("9.90"), "mem")]
    assert (result.streams["prices"].created, result.streams["prices"].failed) == (1, 1)
    ref = ctx.session.scalar(select(ExternalRef).where(ExternalRef.system == "mem"))
    assert (ref.entity, ref.entity_id, ref.external_id) == ("price", 7, "p1")
    issue = ctx.session.scalar(select(SyncIssue))
    assert (issue.external_id, issue.status, issue.reason) == ("p2", "open", "product missing is not synced yet")
    again = run_connection(ctx, conn, MemoryAdapter({}), None)
    assert len(stored) == 1 and again.streams["prices"].skipped == 1  # unchanged: the hook is not called again


def test_hook_crm_sync_export(make_app):
    from decimal import Decimal

    from adapters.erp.base import ErpAdapter
    from adapters.erp.connections import save_connection
    from adapters.erp.push import push_order
    from crmcore.models import ExternalRef

    written: list[Any] = []

    class MemoryAdapter(ErpAdapter):
        name = "hooktest-memory"
        writes = ("orders",)

        def write(self, kind, record, external_id=None):
            written.append((kind, record))
            return "SO-1"

    class Plugin:
        @hookimpl
        def crm_register_erp_adapters(self):
            return [MemoryAdapter]

        @hookimpl
        def crm_sync_export(self, ctx, entity, entity_id, sync):
            if entity != "order" or entity_id != 41:
                return None
            return {"number": "CRM-41", "customer_id": customer.id, "currency": "CNY", "total": Decimal("30.00"),
                    "lines": [{"product_id": None, "description": "Tea", "quantity": Decimal("3"),
                               "unit_price": Decimal("10.00")}]}

    rt = make_app(plugins=[("hooktest", Plugin())], PLUGINS=["adapters.erp"]).extensions["crm"]
    ctx = rt.context()
    customer = customer_svc.create_customer(ctx, {"name": "Acme"})
    conn = save_connection(ctx, {"name": "mem", "adapter": "hooktest-memory"})
    ctx.session.add(ExternalRef(system="mem", entity="customer", entity_id=customer.id, external_id="P9"))
    ctx.session.commit()
    assert push_order(ctx, conn, MemoryAdapter({}), 41) == "SO-1"
    [(kind, record)] = written
    assert (kind, record.crm_ref, record.customer_ref, record.lines[0].description) == ("orders", "CRM-41", "P9", "Tea")
    assert ctx.session.scalar(select(ExternalRef.external_id).where(ExternalRef.entity == "order",
                                                                     ExternalRef.entity_id == 41)) == "SO-1"
    assert push_order(ctx, conn, MemoryAdapter({}), 41) is None and len(written) == 1  # linked: not pushed twice
    assert push_order(ctx, conn, MemoryAdapter({}), 42) is None  # nobody exports it
