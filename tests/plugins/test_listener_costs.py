"""What every write costs the shipped plugins' listeners (issue 15): their statements are built once, and a
listener that names other events (``listens_to``) gets no call and no savepoint."""
from __future__ import annotations

import pytest

ALL = ["plugins.sales", "plugins.analysis", "adapters.oa", "adapters.channels", "adapters.erp", "plugins.service",
       "plugins.marketing", "plugins.member_events", "plugins.reports", "plugins.social"]


@pytest.fixture
def app(make_app):
    return make_app(PLUGINS=ALL)


def test_a_write_builds_no_listener_statement(client, admin_headers, monkeypatch):
    """The statements of what runs on every write (the ERP push check, the journeys waiting for an event, the kept
    forecasts) are built once, not per write."""
    import adapters.erp.destination as destination
    import plugins.analysis.services.forecast_cache as forecasts
    import plugins.marketing.services.triggers as triggers

    client.post("/api/v1/customers", json={"name": "预热"}, headers=admin_headers)
    built: list[str] = []
    for module in (destination, forecasts, triggers):
        real = module.select
        monkeypatch.setattr(module, "select", lambda *a, _real=real, _m=module.__name__, **k: built.append(_m) or _real(*a, **k))
    r = client.post("/api/v1/customers", json={"name": "杭州西湖茶业有限公司"}, headers=admin_headers)
    assert r.status_code == 201
    assert built == []


def test_a_write_calls_only_the_listeners_that_want_it_and_opens_no_savepoint(app, client, admin_headers,
                                                                              savepoints_of, monkeypatch):
    """After a customer is created, the listeners that name other events (``listens_to``) are not called; those
    that name nothing still get every event. None of those called writes for a new customer, so the dispatch opens
    no savepoint (one is taken only once the transaction holds a listener's writes)."""
    rt = app.extensions["crm"]
    hooks = [getattr(rt.pm.hook, name) for name in ("crm_after_commit", "crm_event", "crm_events")]
    impls = [impl for hook in hooks for impl in hook.get_hookimpls()]
    marked = [impl for impl in impls if hasattr(impl.function, "crm_listens_to")]
    assert marked, "the built-in plugins' listeners say what they listen to"
    wanting = {id(impl) for impl in impls if not (names := getattr(impl.function, "crm_listens_to", None))
               or "customer.created" in names or "customer." in names or "customer" in names}
    called: set[int] = set()
    for impl in impls:
        def counting(*args, _impl=impl, _real=impl.function):
            called.add(id(_impl))
            return _real(*args)

        counting.__dict__.update(impl.function.__dict__)  # its ``listens_to`` names
        monkeypatch.setattr(impl, "function", counting)
    with savepoints_of(rt) as savepoints:
        assert client.post("/api/v1/customers", json={"name": "杭州西湖茶业有限公司"}, headers=admin_headers).status_code == 201
    assert called == wanting and len(wanting) < len(impls)
    assert savepoints == []
