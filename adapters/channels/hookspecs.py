"""Hook specifications the channels plugin owns: scenes of QR codes, leads and tickets from inbound messages.

Added to the plugin manager when the ``channels`` plugin registers (its ``CRM_HOOKSPECS``). A plugin that
implements one of these without requiring ``channels`` marks the impl ``optionalhook=True``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crmcore import hookspec

if TYPE_CHECKING:  # real types for readers, not imported at run time
    from crmcore.models import Customer
    from crmcore.runtime import ServiceContext

    from .base import Inbound
    from .models import ChannelMessage


@hookspec
def crm_channel_scene(ctx: ServiceContext, inbound: Inbound, customer: Customer | None,
                      lead_id: int | None) -> str | None:
    """Act on the scene of a QR code a follower scanned (WeChat ``subscribe`` or ``SCAN`` with a scene, a WeCom
    "contact me" ``state`` on ``add_external_contact``), and say what was done.

    Called by ``adapters.channels.inbox.receive`` inside its unit of work, once per stored message (a
    replayed callback does not call it again), after the sender was matched. A referral QR code carries
    the scene ``ref_<code>``: the referrals plugin records who referred whom; a member event's QR code
    ``evt_<token>``: the member events plugin records the RSVP. Other scenes are free for other plugins;
    ignore those that are not yours (return None).

    :param ctx: the ``ServiceContext`` of the pipeline (the system).
    :param inbound: the ``adapters.channels.base.Inbound``; ``inbound.scene`` is the scene without WeChat's
        ``qrscene_`` prefix.
    :param customer: the matched ``Customer``, or None when the follower is not known yet (the message is in
        the unmatched queue). When an agent links the queued message to a customer, the hook is called again
        with that customer; when the agent turns it into a lead, with ``customer`` None and ``lead_id``.
    :param lead_id: the lead the queued follower became (make a lead), else None.
    :return: a text for the follower, already in their language (WeChat: the passive reply to the scan), or
        None. Texts returned when an agent links or makes a lead are not sent.
    """


@hookspec(firstresult=True)
def crm_channel_scene_qrcode(ctx: ServiceContext, scene: str, expires_in: int) -> str | None:
    """The content of a parametric QR code carrying ``scene`` (what to draw), or None when no channel makes one.
    Stops at first non-None result.

    Called by plugins that show QR codes for followers to scan (a member event's RSVP code). The channels plugin
    asks the first enabled WeChat Official Account with its AppSecret for a temporary QR code (``QR_STR_SCENE``,
    kept until five minutes before it expires); a scan comes back as ``crm_channel_scene`` with that scene. A
    plugin calls it only when the hook exists (``getattr(ctx.hook, "crm_channel_scene_qrcode", None)``).

    :param ctx: the ``ServiceContext`` of the caller.
    :param scene: the scene, at most 64 characters (WeChat's limit).
    :param expires_in: seconds the code should stay valid (WeChat keeps a temporary code 30 days at most).
    :return: the URL the QR code holds, or None (no WeChat account, WeChat refused: logged).
    """


@hookspec(firstresult=True)
def crm_channel_lead(ctx: ServiceContext, message: ChannelMessage, data: dict[str, Any]) -> int | None:
    """Turn an unmatched inbound message into a lead; return the lead's id. Stops at first non-None result.

    Called when an agent chooses "make a lead" in the unmatched queue. The sales plugin implements it with
    its lead service (its validation and permissions apply to ``ctx``'s actor).

    :param ctx: the ``ServiceContext`` of the agent.
    :param message: the ``ChannelMessage``.
    :param data: the lead's fields the agent gave (``name``, ``phone``, ``email``, ...), and
        ``source_channel`` set to the message's platform.
    :return: the new lead's id, or None when the plugin does not make leads.
    """


@hookspec(firstresult=True)
def crm_channel_ticket(ctx: ServiceContext, message: ChannelMessage, customer: Customer) -> int | None:
    """Open a service ticket for a matched inbound message, or add it to the customer's open ticket on the
    same channel; return the ticket's id. Stops at first non-None result.

    Called by ``receive`` for accounts set to open tickets, for text messages of matched senders.

    :param ctx: the ``ServiceContext`` of the pipeline.
    :param message: the stored ``ChannelMessage`` (``platform`` is the ticket's channel).
    :param customer: the matched ``Customer``.
    :return: the ticket's id, or None when no plugin handles tickets.
    """


@hookspec
def crm_channel_receipt(ctx: ServiceContext, message: ChannelMessage, inbound: Inbound) -> None:
    """Act on a delivery receipt or a reply a channel stored (SMS receipts and replies, WeCom group-send results).

    Called once per stored record by the SMS and WeCom callbacks and the WeCom group-result job, inside the
    callback's unit of work, after ``inbox.receive`` stored it (a replayed callback stores nothing and calls
    nothing). The marketing plugin marks the recipient whose Message-ID the receipt carries, and withdraws SMS
    marketing consent on an opt-out reply; a plugin that sends through the channels does the same for its own.

    :param ctx: the ``ServiceContext`` of the callback (the system).
    :param message: the stored ``adapters.channels.models.ChannelMessage`` (its ``customer_id`` when matched).
    :param inbound: the ``adapters.channels.base.Inbound``: ``kind`` ``receipt`` with ``event`` ``delivered`` or
        ``failed`` and our message id in ``raw`` (``out_id``, ``ext`` or ``message_id``), or a reply whose
        ``event`` is ``unsubscribe`` for an opt-out.
    """
