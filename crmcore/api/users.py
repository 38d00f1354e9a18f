"""/api/v1/users: who am I, and the plugins loaded."""
from __future__ import annotations

from typing import Any

from ..plugins import plugin_summary
from ..schemas.admin import UserSchema
from .blueprint import Blueprint
from .http import current_ctx

blp = Blueprint("users", __name__, url_prefix="/api/v1", description="Users and the system")


@blp.route("/users/me")
@blp.response(200, UserSchema)
def me() -> Any:
    """The user this token belongs to, with role, scope and permissions"""
    return current_ctx().actor


@blp.route("/plugins")
def plugins() -> Any:
    """Loaded plugins and the hooks each implements (needs plugin.read)"""
    ctx = current_ctx()
    ctx.require("plugin.read")
    return plugin_summary(ctx.pm), 200
