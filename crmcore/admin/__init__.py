"""The Flask-Admin site at /admin (placeholder: login and the index; views come next)."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask
from flask_admin import Admin


def init_admin(app: Flask, rt: Any, extra_views: list[Any]) -> Admin:
    auth = Blueprint("crm_auth", __name__, url_prefix="/admin/auth")

    @auth.route("/login")
    def login() -> str:
        return "login"

    app.register_blueprint(auth)
    admin = Admin(app, name="CRM", url="/admin")
    for view in extra_views:
        admin.add_view(view)
    return admin
