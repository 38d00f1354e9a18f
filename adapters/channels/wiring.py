"""The SMS (Alibaba Cloud, Tencent Cloud) and WeCom callbacks wired to accounts, the pipeline and marketing."""
from __future__ import annotations

from typing import Any

from flask import jsonify, request
from sqlalchemy import select

from crmcore.errors import CRMError
from crmcore.models import CustomerIdentity
from crmcore.models import Customer
from crmcore.runtime import ServiceContext
from crmcore.services.unit import unit_of_work

from . import inbox, wechat
from .account_context import AccountContext
from .base import Inbound

SMS_VENDORS = ("aliyun", "tencent")


def wecom_address() -> Any:
    """SQL: a customer's newest WeCom external userid (the ``wecom`` channel's address)."""
    return (select(CustomerIdentity.value).where(CustomerIdentity.customer_id == Customer.id,
                                                 CustomerIdentity.platform == "wecom_external_userid")
            .order_by(CustomerIdentity.id.desc()).limit(1).scalar_subquery())


def wecom_settings(row: Any) -> dict[str, Any]:
    secrets, config = row.secrets or {}, row.config or {}
    return {"WECOM_CORP_ID": row.account, "WECOM_CALLBACK_TOKEN": secrets.get("token"),
            "WECOM_CALLBACK_AES_KEY": secrets.get("encoding_aes_key"), "WECOM_REPLAY_WINDOW": config.get("replay_window")}


def store(ctx: ServiceContext, items: list[Inbound]) -> int:
    """Every record through the pipeline; a new receipt or reply is handed to ``crm_channel_receipt`` (the
    marketing plugin marks its recipient, an opt-out withdraws consent). How many were new (a replay: 0)."""
    new = 0
    for item in items:
        message = inbox.receive(ctx, item)
        if message is not None:
            new += 1
            ctx.hook.crm_channel_receipt(ctx=ctx, message=message, inbound=item)
    return new


def _refused(exc: CRMError) -> wechat.Rejected:
    return wechat.Rejected(str(exc.message), exc.status if exc.status in (400, 401, 403, 404, 413) else 400)


def sms_callback(ctx: ServiceContext, row: Any) -> Any:
    """``/channels/sms/<sign name>/callback?token=``: Alibaba Cloud or Tencent Cloud pushes (the account's vendor)."""
    from .sms import sms_settings

    vendor, overlay = sms_settings(row)
    if vendor not in SMS_VENDORS or request.method != "POST":
        return jsonify({"error": "unknown account"}), 404
    if vendor == "aliyun":
        from .sms_aliyun import ACK, receive
    else:
        from .sms_tencent import ACK, receive  # type: ignore[assignment]
    try:
        with unit_of_work(ctx):
            store(ctx, receive(AccountContext(ctx, overlay, own=("SMS_",)), request.args, request.get_data(cache=True)))  # type: ignore[arg-type]
    except CRMError as exc:
        if exc.status == 422:  # the pipeline refused a record: the vendor's payload, not the caller
            raise
        raise _refused(exc) from None
    return jsonify(ACK)


def wecom_callback(ctx: ServiceContext, row: Any) -> Any:
    """``/channels/wecom/<corp id>/callback``: WeCom's URL check (GET) and customer-contact events (POST)."""
    from . import wecom_contact
    from .nonces import remember_nonce

    actx = AccountContext(ctx, wecom_settings(row), own=("WECOM_",))  # the account is the one place

    def nonces(nonce: str) -> bool:
        return remember_nonce(ctx, "wecom", row.account, nonce)

    try:
        if request.method == "GET":
            echo = wecom_contact.verify_url(actx, request.args, nonces)  # type: ignore[arg-type]
            ctx.session.commit()
            return echo, 200, {"Content-Type": "text/plain"}
        with unit_of_work(ctx):
            items = wecom_contact.receive(actx, request.args, request.get_data(cache=True), nonces)  # type: ignore[arg-type]
            store(ctx, [i for i in items if i.event != "change_external_tag"])
            # the corp's tag library changed (no customer sent it): the contacts are pulled again with their tags
            pull = [i for i in items if i.event == "change_external_tag"
                    and remember_nonce(ctx, "wecom-tag", row.account, i.msg_id, keep=7 * 86400)]
        if pull:
            from crmcore.services import job_runs

            job_runs.enqueue(ctx, "channels.wecom_contacts")
    except CRMError as exc:
        if exc.status == 422:
            raise
        raise _refused(exc) from None
    return wecom_contact.ACK, 200, {"Content-Type": "text/plain"}
