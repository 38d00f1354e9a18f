"""The light app of the ``crm`` commands that need the runtime, the database and the translations, not the API or the admin."""
from __future__ import annotations

from flask import Flask

from .runtime import Runtime


def create_cli_app(runtime: Runtime) -> Flask:
    """A Flask app with the runtime, the database session and the translations (``crm token ...``,
    ``crm jobs list``, ``crm plugins``): no blueprints, admin views or plugin start-up, so it is built in
    a fraction of :func:`crmcore.app.create_app`'s time."""
    app = Flask("crmcore.app", instance_path=runtime.settings["INSTANCE_PATH"], instance_relative_config=True)
    app.extensions["crm"] = runtime
    runtime.db.init_app(app)
    from .i18n import init_i18n

    init_i18n(app)
    return app
