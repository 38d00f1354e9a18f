"""The ERP as an outbox destination, declared without importing the push, the sync engine or the adapters
(``push`` loads when a message is delivered): a web worker only asks, on each write, whether a connection takes
pushes."""
from __future__ import annotations

from sqlalchemy import select

from crmcore.contracts import OutboxHandler
from crmcore.models import OutboxMessage
from crmcore.runtime import ServiceContext
from crmcore.services import stamps

from .models import ErpConnection
from .ownership import DESTINATION, SOURCE

TOPICS = ("customer.created", "customer.updated", "contact.created", "contact.updated", "address.created",
          "sales.order.created")

# built once: asked on every write that emits an event (building the statement cost more than running it)
_PUSHING = (select(ErpConnection.id)
            .where(ErpConnection.enabled.is_(True), ErpConnection.push_enabled.is_(True)).limit(1))


def has_push_connection(ctx: ServiceContext) -> bool:
    """Whether the destination ``erp`` exists: an enabled connection that takes pushes (asked when writing; an API
    request takes what its process keeps while the connections have not changed: ``stamps.kept_value``)."""
    return stamps.kept_value(ctx.session, "erp_connections", lambda: ctx.session.scalar(_PUSHING) is not None)


def deliver(ctx: ServiceContext, msg: OutboxMessage) -> None:
    """Push the change of one outbox message to every connection that takes pushes (``push.deliver``)."""
    from .push import deliver as push

    push(ctx, msg)


def handler() -> OutboxHandler:
    return OutboxHandler(name=DESTINATION, topics=TOPICS, deliver=deliver, max_attempts=12, ignore_sources=(SOURCE,),
                         active=has_push_connection)
