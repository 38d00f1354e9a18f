"""Embed the CRM in an existing Flask app: the host keeps its own routes, the CRM answers under /crm.

The CRM is a complete Flask app built by ``crmcore.app.create_app``; werkzeug's
``DispatcherMiddleware`` mounts it beside the host's routes, so ``/crm/api/v1/...`` is the
CRM's REST API (token auth), ``/crm/admin/`` its admin (login), and everything else the host.
The host also

* shares its configuration: the CRM's settings come from the host's ``CRM_*`` config keys;
* calls the CRM's services directly, without HTTP (``/customers/count`` below);
* registers a plugin of its own to hear about CRM events (``crm_event``).

Run it::

    python examples/embed_in_flask.py            # http://127.0.0.1:8000/ and /crm/admin/
    crm init-db && crm create-user admin --role admin   # once, with the same CRM_DATABASE_URL
"""
from __future__ import annotations

import os
from typing import Any

from flask import Flask, jsonify
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from crmcore import hookimpl
from crmcore.app import create_app
from crmcore.services import customers as customer_svc

MOUNT = "/crm"


class HostPlugin:
    """The host's own plugin, registered only in this app: it hears of every new customer."""

    def __init__(self) -> None:
        self.new_customers: list[int] = []

    @hookimpl
    def crm_event(self, event: Any) -> None:
        if event.name == "customer.created":
            self.new_customers.append(event.entity_id)


def crm_settings(host: Flask) -> dict[str, Any]:
    """The CRM's settings from the host's config: every ``CRM_<KEY>`` becomes ``<KEY>``."""
    settings = {key[4:]: value for key, value in host.config.items() if key.startswith("CRM_")}
    settings.setdefault("SECRET_KEY", host.config["SECRET_KEY"])
    # Two apps on one domain: give the CRM its own session cookie so the logins do not collide.
    settings.setdefault("SESSION_COOKIE_NAME", "crm_session")
    settings.setdefault("SESSION_COOKIE_PATH", MOUNT)
    return settings


def make_host_app(config: dict[str, Any] | None = None) -> Flask:
    """The host application, with the CRM mounted at ``/crm``."""
    host = Flask(__name__)
    host.config.update(
        SECRET_KEY=os.environ.get("SHOP_SECRET_KEY", "change-me"),
        CRM_DATABASE_URL=os.environ.get("CRM_DATABASE_URL"),  # None: SQLite under ./instance
    )
    host.config.update(config or {})

    plugin = HostPlugin()
    crm = create_app(crm_settings(host), plugins=[("host", plugin)])
    host.extensions["crm_app"] = crm
    host.extensions["crm_host_plugin"] = plugin

    @host.route("/")
    def index() -> str:
        return f'<h1>The shop</h1><p><a href="{MOUNT}/admin/">CRM</a></p>'

    @host.route("/customers/count")
    def customer_count() -> Any:
        # The host's own code uses the CRM's services directly, acting as the system.
        rt = crm.extensions["crm"]
        ctx = rt.context(session=rt.db.new_session(), source="shop")
        try:
            _, total = customer_svc.list_customers(ctx, page_size=1)
        finally:
            ctx.session.close()
        return jsonify(customers=total)

    host.wsgi_app = DispatcherMiddleware(host.wsgi_app, {MOUNT: crm})  # type: ignore[method-assign]
    return host


if __name__ == "__main__":
    from werkzeug.serving import run_simple

    run_simple("127.0.0.1", 8000, make_host_app(), use_reloader=False, threaded=True)
