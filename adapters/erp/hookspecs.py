"""Hook specifications the ERP adapter owns: its adapter classes and the records it pulls and pushes.

Added to the plugin manager when the ``erp`` plugin registers (its ``CRM_HOOKSPECS``). A plugin that
implements one of these without requiring ``erp`` marks the impl ``optionalhook=True``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crmcore import hookspec

if TYPE_CHECKING:  # real types for readers, not imported at run time
    from crmcore.runtime import ServiceContext

    from .base import ErpAdapter, Record
    from .helper import SyncHelper


@hookspec
def crm_register_erp_adapters() -> list[type[ErpAdapter]]:
    """Return ERP adapter classes, each with a unique ``name`` class attribute.

    Collected once per runtime (checked when the app starts; duplicate names are an error naming
    both plugins); a sync connection names its adapter by that ``name``. The erp plugin declares its
    own with ``CRM_ERP_ADAPTERS``; another plugin may declare ``CRM_ERP_ADAPTERS`` too.

    :return: a list of classes.
    """


# ---------------------------------------------------------------------------
# Sync: canonical ERP records
# ---------------------------------------------------------------------------


@hookspec(firstresult=True)
def crm_sync_apply(ctx: ServiceContext, stream: str, record: Record, sync: SyncHelper) -> tuple[str, int, str] | None:
    """Store one canonical record pulled from an ERP in the plugin that owns its kind.

    Called by the sync engine for each new or changed record of the streams ``products``,
    ``prices``, ``orders``, ``invoices``, ``payments`` and ``credit_limits``, and for the
    ``customers`` the ERP plugin does not create itself (customers already linked or known by
    their CRM code, unusual records, every record of a page whose batch was refused), inside the transaction of its page and a savepoint of its
    own. New customers of a page are created in a batch by the ERP plugin itself
    (``adapters/erp/customers.py`` ``create_new_customers``) without this hook: observe them
    through ``crm_event`` / ``crm_after_commit`` (``customer.created``, ``contact.created``,
    ...), whose ``ctx.source`` is ``erp-sync``. Must be idempotent: the same record
    may arrive again after an interrupted run. Raise ``sync.skip(message)`` (an
    ``adapters.erp.base.SkippableRecordError``) or ``crmcore.errors.ValidationError`` to refuse the record; it is kept as a sync issue with your message and
    applied again on later runs. Stops at first non-None result.

    :param ctx: the ``ServiceContext`` of the sync (the system, source ``erp-sync``).
    :param stream: the stream's name.
    :param record: the canonical record (attributes as in ``adapters.erp.base``, e.g.
        ``external_id``, ``number``, ``customer_ref``, ``lines``).
    :param sync: resolves ERP ids: ``sync.resolve(entity, external_id)`` gives the CRM id or
        None; ``sync.system`` names the connection; ``sync.erp_wins(entity, field)`` reads the
        field ownership; ``sync.conflict(...)`` records a conflict; ``sync.payments_pulled`` is
        True when payments come as their own records (then derive none from invoices);
        ``sync.skip(message)`` is the error to raise to refuse the record.
    :return: ``(entity, entity_id, action)`` with action ``created``, ``updated`` or
        ``unchanged``, or None when the plugin does not store this stream.
    """


@hookspec(firstresult=True)
def crm_sync_export(ctx: ServiceContext, entity: str, entity_id: int, sync: SyncHelper) -> dict[str, Any] | None:
    """Describe a CRM record the ERP push needs (a confirmed order) as a canonical dict.

    Called by the ERP push when an outbox message names a record of ``entity`` that another
    plugin owns. Stops at first non-None result.

    :param ctx: the ``ServiceContext`` of the push.
    :param entity: the entity name (``order``).
    :param entity_id: the record's id.
    :param sync: as for ``crm_sync_apply`` (``sync.external_id(entity, id)`` gives the ERP id).
    :return: a dict of the canonical fields (for an order: ``number``, ``customer_id``,
        ``order_date``, ``currency``, ``total``, ``lines`` of ``product_id``, ``description``,
        ``quantity``, ``unit_price``, ``line_total``), or None to push nothing.
    """
