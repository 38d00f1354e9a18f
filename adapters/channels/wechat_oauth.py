"""Link a WeChat follower to a customer from a page: OAuth 2 with ``snsapi_base`` (silent: the openid only).

A signed link (:func:`oauth_link`) names the customer; opened in WeChat it sends the follower to WeChat's
authorize page with a signed ``state``; WeChat comes back with a one-time ``code`` that the API exchanges for
the follower's openid (and unionid), recorded as the customer's identities. The return path is a local path
only (no open redirect); a state that is forged, expired or for another account changes nothing.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, abort, redirect, render_template, request, url_for
from itsdangerous import BadData, URLSafeTimedSerializer

from crmcore.errors import CRMError, ValidationError
from crmcore.i18n import _
from crmcore.runtime import ServiceContext
from crmcore.services import identities
from crmcore.services.customers import get_customer
from crmcore.services.unit import unit_of_work

from .accounts import find_account
from .wechat import Settings, WeChatAPI

bp = Blueprint("channel_oauth", __name__, url_prefix="/channels")
AUTHORIZE = "https://open.weixin.qq.com/connect/oauth2/authorize"
LINK_DAYS = 7
STATE_SECONDS = 600


def _serializer(ctx: ServiceContext, salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(str(ctx.settings["SECRET_KEY"]), salt=salt)


def safe_next(path: str | None) -> str | None:
    """``path`` when it is a path on this site (``/...``), else None: never another host."""
    if not path:
        return None
    parts = urlsplit(path)
    if parts.scheme or parts.netloc or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return None
    return path


def oauth_link(ctx: ServiceContext, app_id: str, customer_id: int, next_path: str | None = None) -> str:
    """The link (a path on this site) that links whoever opens it in WeChat to the customer; valid 7 days."""
    ctx.require("channels.manage")
    customer = get_customer(ctx, customer_id, permission="customer.write")
    if find_account(ctx, "wechat", app_id) is None:
        raise ValidationError(_("The OAuth link is not valid."), errors={"account": [_("No such WeChat account.")]})
    if next_path and safe_next(next_path) is None:
        raise ValidationError(_("The OAuth link is not valid."), errors={"next": [_("Give a path on this site.")]})
    token = _serializer(ctx, "channels-oauth-link").dumps({"a": app_id, "c": customer.id, "n": next_path or ""})
    return f"/channels/wechat/{app_id}/oauth?{urlencode({'t': token})}"


def _ctx() -> ServiceContext:
    from flask import current_app

    rt = current_app.extensions["crm"]
    ctx: ServiceContext = rt.context(source="channel:wechat-oauth", session=rt.db.new_session())
    return ctx


@bp.route("/wechat/<app_id>/oauth")
def oauth_start(app_id: str) -> Any:
    ctx = _ctx()
    try:
        row = find_account(ctx, "wechat", app_id)
        try:
            link = _serializer(ctx, "channels-oauth-link").loads(request.args.get("t", ""), max_age=LINK_DAYS * 86400)
        except BadData:
            abort(404)
        if row is None or link.get("a") != app_id:
            abort(404)
        state = _serializer(ctx, "channels-oauth-state").dumps([link["c"], link.get("n") or ""])
        if len(state) > 128:  # WeChat keeps at most 128 bytes of state: the return path is dropped
            state = _serializer(ctx, "channels-oauth-state").dumps([link["c"], ""])
        back = url_for("channel_oauth.oauth_back", app_id=app_id, _external=True)
        authorize = str((row.config or {}).get("oauth_url") or AUTHORIZE)
        query = urlencode({"appid": app_id, "redirect_uri": back, "response_type": "code", "scope": "snsapi_base",
                           "state": state})
        return redirect(f"{authorize}?{query}#wechat_redirect")
    finally:
        ctx.session.close()


@bp.route("/wechat/<app_id>/oauth/back")
def oauth_back(app_id: str) -> Any:
    ctx = _ctx()
    try:
        row = find_account(ctx, "wechat", app_id)
        try:
            customer_id, next_path = _serializer(ctx, "channels-oauth-state").loads(
                request.args.get("state", ""), max_age=STATE_SECONDS)
        except (BadData, ValueError, TypeError):
            customer_id = None
        code = request.args.get("code", "")
        if row is None or customer_id is None or not code or len(code) > 128:
            return render_template("channels/oauth.html", ok=False, message=_("This link is not valid any more.")), 400
        try:
            openid, unionid = WeChatAPI(Settings.of(row)).oauth_openid(code)
        except CRMError:
            return render_template("channels/oauth.html", ok=False, message=_("WeChat did not confirm who you are; open the link again.")), 400
        with unit_of_work(ctx):
            mine = identities.record(ctx, int(customer_id), "wechat_openid", openid, app_id, source="oauth")
            if unionid and mine is not None:
                identities.record(ctx, int(customer_id), "wechat_unionid", unionid, source="oauth")
        if mine is None:
            return render_template("channels/oauth.html", ok=False,
                                   message=_("This WeChat account is linked to someone else already.")), 409
        target = safe_next(next_path)
        if target:
            return redirect(target)
        return render_template("channels/oauth.html", ok=True, message=_("Your WeChat account is linked. You can close this page."))
    finally:
        ctx.session.close()
