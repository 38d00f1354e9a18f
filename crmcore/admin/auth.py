"""Log in and out of the admin: the ``crm_auth`` blueprint at /admin/auth (session + CSRF)."""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

from ..errors import AuthenticationRequired, TooManyRequests
from ..i18n import gettext, lazy_gettext


class LoginForm(FlaskForm):
    username = StringField(lazy_gettext("Username"), validators=[DataRequired(), Length(max=64)],
                           render_kw={"autofocus": True, "autocomplete": "username"})
    password = PasswordField(lazy_gettext("Password"), validators=[DataRequired()],
                             render_kw={"autocomplete": "current-password"})
    remember = BooleanField(lazy_gettext("Keep me logged in"))


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a path on this site (no scheme, no host, no ``//``), else None."""
    if not target:
        return None
    target = target.strip()
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target


def create_blueprint() -> Blueprint:
    """The ``crm_auth`` blueprint with the ``login`` and ``logout`` endpoints."""
    bp = Blueprint("crm_auth", __name__, url_prefix="/admin/auth")

    @bp.route("/login", methods=["GET", "POST"])
    def login() -> Any:
        next_url = safe_next(request.args.get("next")) or url_for("admin.index")
        if current_user.is_authenticated:
            return redirect(next_url)
        form = LoginForm()
        error, status, headers = None, 200, {}
        if form.validate_on_submit():
            from ..services.users import authenticate

            rt = current_app.extensions["crm"]
            try:
                user = authenticate(rt.context(source="admin"), form.username.data.strip(), form.password.data,
                                    client=request.remote_addr)
            except TooManyRequests as exc:
                error, status, headers = exc.message, 429, {"Retry-After": str(exc.retry_after)}
            except AuthenticationRequired:
                error, status = gettext("Wrong username or password."), 401
            else:
                session.clear()  # nothing from before the login carries over into the new session
                login_user(user, remember=bool(form.remember.data))
                return redirect(next_url)
        elif request.method == "POST":
            error, status = gettext("Enter your username and password."), 401
        from ..demo import demo_login_hint

        hint = demo_login_hint(current_app.extensions["crm"].context()) if request.method == "GET" else None
        return render_template("crm_auth/login.html", form=form, error=error, hint=hint), status, headers

    @bp.route("/logout", methods=["GET", "POST"])
    def logout() -> Any:
        """GET asks for confirmation; the POST (with its CSRF token) logs out: every session of the user ends."""
        if request.method == "GET" and current_user.is_authenticated:
            return render_template("crm_auth/logout.html", form=FlaskForm())
        if current_user.is_authenticated:
            from ..services.sessions import end_sessions
            from ..services.unit import unit_of_work

            ctx = current_app.extensions["crm"].context(actor=current_user._get_current_object(), source="admin")
            with unit_of_work(ctx):
                end_sessions(ctx.actor)  # this session, its remember-me cookie and any copy of them
        logout_user()
        flash(gettext("You are logged out."), "info")
        return redirect(url_for("crm_auth.login"))

    return bp
