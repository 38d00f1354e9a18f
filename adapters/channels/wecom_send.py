"""The ``wecom`` channel: messages as WeCom group-send tasks (``add_msg_template``) and their results.

A task reaches a customer only when the follow staff (or the account's ``sender``) confirms it in WeCom; the open
sends are remembered (``SyncState`` rows of :data:`GROUP_SENDS`) until ``get_groupmsg_send_result`` gave each
customer's final status, which :func:`group_send_results` returns once as a receipt. Everything comes from the
WeCom *channel account* (the one place its callbacks read too): the corp id, the customer-contact secret
(``contact_secret``), ``base_url`` and ``sender``; no ``CRM_WECOM_*`` setting is read.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from crmcore.channels import ChannelDown, Outcome, Outgoing
from crmcore.errors import ConfigError, RetriableAdapterError
from crmcore.i18n import _
from crmcore.models import SyncState
from crmcore.runtime import ServiceContext

from .base import Inbound
from .models import ChannelAccount
from .wecom_contact import BASE_URL, WeComContactClient, WeComError

GROUP_SENDS = "wecom-groupmsg"  # SyncState.connection of group sends waiting for their results
RESULT_DAYS = 7  # a group send's results are asked for this long
SEND_STATUS = {1: "delivered", 2: "failed", 3: "failed"}  # 1 sent, 2 not a contact, 3 quota reached
REASONS: dict[int, Any] = {
    40096: _("WeCom does not know this customer (external user id)."),
    84061: _("The customer is not a WeCom contact of the sender."),
    60111: _("WeCom does not know the sending staff member (the WeCom account's sender)."),
    41063: _("WeCom is still dispatching the group send; its results come later."),
    40068: _("WeCom does not know the tag."),
}
QUOTA = _("The customer already received as many group messages as WeCom allows.")


def reason(code: int, message: str = "") -> str:
    text = REASONS.get(code)
    if text is not None:
        return f"{text} ({code})"
    refused = _("WeCom refused the group send.")
    return f"{refused} ({code} {message})"[:255]



@dataclass
class WeComAccount:
    """What the sends and jobs need of a WeCom channel account."""

    corp_id: str
    secret: str
    base_url: str = BASE_URL
    sender: str | None = None


def wecom_account(ctx: ServiceContext, corp_id: str | None = None) -> WeComAccount | None:
    """The enabled WeCom channel account (of ``corp_id``, else the first) with its customer-contact secret; None
    without one."""
    stmt = select(ChannelAccount).where(ChannelAccount.platform == "wecom", ChannelAccount.enabled.is_(True))
    if corp_id:
        stmt = stmt.where(ChannelAccount.account == corp_id)
    for row in ctx.session.scalars(stmt.order_by(ChannelAccount.id)):
        secrets, config = row.secrets or {}, row.config or {}
        if secrets.get("contact_secret"):
            return WeComAccount(row.account, str(secrets["contact_secret"]),
                                str(config.get("base_url") or BASE_URL).rstrip("/"), str(config.get("sender") or "") or None)
    return None


@dataclass
class WeComChannel:
    """The ``wecom`` channel: a message becomes a WeCom group-send task (``add_msg_template``) that the
    customer's follow user (or the account's ``sender``) confirms in WeCom; the WeCom channel account
    (:func:`wecom_account`) says how. ``address_expr``: the SQL expression of a customer's external_userid
    (the identity service gives it; NULL until it is wired)."""

    address_expr: Any = None
    channel: str = field(default="wecom", init=False)

    def address(self) -> Any:
        from sqlalchemy import null

        return self.address_expr if self.address_expr is not None else null()

    def configured(self, ctx: ServiceContext) -> str | None:
        if wecom_account(ctx) is None:
            return str(_("Add a WeCom channel account with its customer-contact secret under Channels."))
        return None

    def client(self, ctx: ServiceContext, account: WeComAccount | None = None) -> WeComContactClient:
        account = account or wecom_account(ctx)
        if account is None:
            raise ConfigError(_("Add a WeCom channel account with its customer-contact secret under Channels."))
        return WeComContactClient(account.corp_id, account.secret, account.base_url)

    def send(self, ctx: ServiceContext, messages: list[Outgoing]) -> list[Outcome]:
        account = wecom_account(ctx)
        if account is None:
            problem = str(_("Add a WeCom channel account with its customer-contact secret under Channels."))
            return [Outcome(m.recipient_id, False, problem) for m in messages]
        client, sender = self.client(ctx, account), account.sender
        outcomes: dict[int, Outcome] = {}
        groups: dict[str, list[Outgoing]] = {}
        for m in messages:
            text = (m.text or "").strip()
            if not text:
                outcomes[m.recipient_id] = Outcome(m.recipient_id, False, str(_("The message has no text to send.")))
            else:
                groups.setdefault(text[:4000], []).append(m)
        answered = 0
        try:
            for text, group in groups.items():
                for start in range(0, len(group), 10000):  # add_msg_template takes 10,000 customers a task
                    for o in self._send_group(ctx, client, text, group[start:start + 10000], sender):
                        outcomes[o.recipient_id] = o
                        answered += 1
        except RetriableAdapterError as exc:
            if not answered:
                raise ChannelDown(str(exc)) from None
            outcomes.update({m.recipient_id: Outcome(m.recipient_id, False, "retry")
                             for m in messages if m.recipient_id not in outcomes})
        return [outcomes[m.recipient_id] for m in messages]

    def _send_group(self, ctx: ServiceContext, client: WeComContactClient, text: str, group: list[Outgoing],
                    sender: str | None) -> list[Outcome]:
        try:
            data = client.add_msg_template([m.address for m in group], text, sender)
        except WeComError as exc:
            return [Outcome(m.recipient_id, False, reason(exc.errcode, exc.errmsg)) for m in group]
        refused = {str(u) for u in data.get("fail_list") or []}
        msgid = str(data.get("msgid") or "")
        if msgid:  # remembered until its results are in (group_send_results)
            ctx.session.add(SyncState(connection=GROUP_SENDS, stream=msgid[:64], bookmark={
                "msgid": msgid, "created": dt.datetime.now(dt.timezone.utc).isoformat(), "corp_id": client.corp_id,
                "messages": {m.address: m.message_id for m in group if m.address not in refused}, "final": {}}))
        not_contact = str(REASONS[84061])
        return [Outcome(m.recipient_id, False, not_contact) if m.address in refused else Outcome(m.recipient_id, True)
                for m in group]


def group_send_results(ctx: ServiceContext, client: WeComContactClient | None = None,
                       now: dt.datetime | None = None) -> list[Inbound]:
    """Ask WeCom for the results of the group sends still open: each customer's final status once, as a
    receipt (delivered, or failed: not a contact / quota reached); a send is forgotten when every customer
    has one or after :data:`RESULT_DAYS`. The caller stores the receipts and commits."""
    now = now or dt.datetime.now(dt.timezone.utc)
    client = client or WeComChannel().client(ctx)
    out: list[Inbound] = []
    for state in ctx.session.scalars(select(SyncState).where(SyncState.connection == GROUP_SENDS)).all():
        book = dict(state.bookmark or {})
        waiting, final = dict(book.get("messages") or {}), dict(book.get("final") or {})
        msgid = str(book.get("msgid") or state.stream)
        created = dt.datetime.fromisoformat(str(book.get("created") or now.isoformat()))
        expired = now - created > dt.timedelta(days=RESULT_DAYS)
        try:
            rows = list(client.group_send_results(msgid))
        except WeComError:  # still being dispatched (41063), or gone: this send only, the others go on
            if expired:
                ctx.session.delete(state)
            continue
        for row in rows:
            external, status = str(row.get("external_userid") or ""), int(row.get("status") or 0)
            if external not in waiting or external in final or status not in SEND_STATUS:
                continue
            final[external] = status
            at = dt.datetime.fromtimestamp(int(row.get("send_time") or 0), dt.timezone.utc) if row.get("send_time") else now
            out.append(Inbound(platform="wecom", account=str(book.get("corp_id") or client.corp_id), sender=external,
                               msg_id=f"wecom:groupmsg:{msgid}:{external}:{status}", kind="receipt",
                               received_at=at, event=SEND_STATUS[status],
                               text=None if status == 1 else str(REASONS[84061] if status == 2 else QUOTA),
                               raw={"msgid": msgid, "userid": row.get("userid"), "status": status,
                                    "message_id": waiting[external]}))
        if len(final) >= len(waiting) or expired:
            ctx.session.delete(state)
        else:
            state.bookmark = {**book, "final": final}
    return out
