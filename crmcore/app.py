"""The Flask app factory: REST API at /api/v1, admin at /admin, plugins' blueprints and views."""
from __future__ import annotations

import datetime as dt
import logging
import re
from functools import partial
from typing import Any, Iterable, Literal

from flask import Flask, redirect, url_for
from flask.json.provider import DefaultJSONProvider
from flask_login import LoginManager
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from .config import secret_key
from .cookiesessions import CookieSessions
from .requestlimits import init_limits
from .schemas.common import MAX_ID
from .schemas.limits import install as install_limits
from .runtime import Runtime, build_runtime

log = logging.getLogger(__name__)


class BoundedInt(IntegerConverter):
    """``<int:...>`` limited to the database's INTEGER range (every id column is one)."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


class IsoJSONProvider(DefaultJSONProvider):
    """Flask's JSON with dates and times in ISO 8601 (``2026-12-06``, ``2026-12-06T08:00:00+00:00``): Flask's
    own writes HTTP dates (``Sun, 06 Dec 2026 00:00:00 GMT``) for any date a view returns in a plain dict."""

    @staticmethod
    def default(o: Any) -> Any:
        if isinstance(o, (dt.date, dt.time)):  # datetime is a date
            return o.isoformat()
        return DefaultJSONProvider.default(o)


def create_app(test_config: dict[str, Any] | None = None, *, plugins: Iterable[tuple[str, Any]] = (),
               runtime: Runtime | None = None, admin: bool | Literal["on_first_use"] = True) -> Flask:
    """Build the CRM app.

    :param test_config: settings overriding the environment and the TOML file
        (``DATABASE_URL``, ``PLUGINS_DISABLED``, ...) plus any Flask config keys.
    :param plugins: extra ``(name, plugin)`` pairs to register (embedding apps, tests).
    :param runtime: an existing runtime to share (the CLI passes its own).
    :param admin: False for a process that serves the API only (``crmcore.wsgi_api``): no admin pages,
        nothing of Flask-Admin or the plugins' admin views imported (~11 MiB less per web worker);
        ``"on_first_use"`` (``crmcore.wsgi``): mounted before the first request outside ``/api/`` (or the first
        link built to an admin page), so a worker that only answers the API stays as small as an API-only one.
    """
    rt = runtime or build_runtime(test_config, plugins=plugins)
    rt.registry.load_all()  # a runtime built lazily (the CLI's) too: a broken plugin fails at start-up
    install_limits()
    app = Flask(__name__, instance_path=rt.settings["INSTANCE_PATH"], instance_relative_config=True)
    secure = bool(rt.settings["SESSION_COOKIE_SECURE"])
    app.config.update(
        SECRET_KEY=secret_key(rt.settings),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=secure,
        WTF_CSRF_TIME_LIMIT=None,
        JSON_SORT_KEYS=False,
    )
    app.config.update({k: v for k, v in (test_config or {}).items() if k.isupper()})
    if rt.settings["TRUSTED_PROXIES"]:  # else X-Forwarded-* are ignored: a client cannot pick its address
        n = int(rt.settings["TRUSTED_PROXIES"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n)  # type: ignore[method-assign]
    app.json = IsoJSONProvider(app)
    app.session_interface = CookieSessions()
    init_limits(app, rt.settings)
    app.url_map.converters["int"] = BoundedInt  # /customers/<int:id>: ids past INTEGER are 404, not 500
    app.extensions["crm"] = rt
    rt.db.init_app(app)

    lazy = admin == "on_first_use" or not admin  # the admin (if any) and CSRF mounted on first use: lazyadmin.py
    csrf: Any
    if lazy:
        from .lazyadmin import DeferredCSRF

        csrf = DeferredCSRF(app)
    else:
        from flask_wtf.csrf import CSRFProtect

        csrf = CSRFProtect(app)
    login = LoginManager(app)
    login.login_view = "crm_auth.login"
    login.id_attribute = "get_login_id"  # a new session and remember-me value on every login

    @login.user_loader
    def load_user(session_id: str) -> Any:
        from .services.sessions import user_for_session

        return user_for_session(rt.db.session, session_id)

    from .i18n import init_i18n

    init_i18n(app)

    from .api import init_api

    from .plugins import plugin_items

    blueprints = plugin_items(rt.pm, "crm_register_blueprints")
    api = init_api(app, blueprints)
    for bp in app.blueprints.values():
        if bp.url_prefix and bp.url_prefix.startswith("/api/"):
            csrf.exempt(bp)
    app.extensions["crm_api"] = api

    if lazy:
        from .lazyadmin import LazyAdmin

        LazyAdmin(app, partial(_mount_admin, rt) if admin else (lambda _app: None))  # no admin: CSRF only
    else:
        _mount_admin(rt, app)

    from .branding import brand

    app.jinja_env.globals["crm_brand"] = brand
    _register_template_folders(app, rt)
    rt.pm.hook.crm_startup(app=app)
    return app


def _mount_admin(rt: Runtime, app: Flask) -> None:
    """The admin pages at /admin (the core's and the plugins' views) and ``/`` leading to them."""
    from .admin import init_admin
    from .plugins import plugin_items

    init_admin(app, rt, plugin_items(rt.pm, "crm_register_admin_views", db=rt.db))

    @app.route("/")
    def index() -> Any:
        return redirect(url_for("admin.index"))


def _register_template_folders(app: Flask, rt: Runtime) -> None:
    """A plugin package's ``templates/`` folder joins the app's template search path (by convention)."""
    from flask import Blueprint

    from .declarations import template_folders

    for name, folder in template_folders(rt.pm):
        safe = re.sub(r"\W", "_", name)
        app.register_blueprint(Blueprint(f"crm_templates_{safe}", __name__, template_folder=folder))
