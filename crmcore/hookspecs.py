"""Every hook specification of the CRM. Plugins implement these with ``@crmcore.hookimpl``.

Each spec says when it is called, what it receives and what it must return. A plugin may
accept any subset of the parameters, by name. ``crm_register_*`` hooks are collected once
at start-up, and duplicate names across plugins are an error that names both plugins.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import hookspec

if TYPE_CHECKING:  # real types for readers and mypy, without importing them at run time (as pytest's hookspec.py)
    import click
    from flask import Blueprint, Flask
    from flask_admin import BaseView

    from .contracts import (AuditEntity, DuplicateCandidate, Event, FieldType, Job, MovedRows, OutboxHandler, Panel,
                            Permission, RemovedRows)
    from .channels import ChannelProvider
    from .contracts_workflow import ApprovalProvider, Predicate, WorkflowAction, WorkflowEntity
    from .db import Base, Database
    from .entities import ComputedField, Entity
    from .models import ApprovalRequest, Customer
    from .runtime import ServiceContext

# ---------------------------------------------------------------------------
# Entities: tables, migrations, permissions, custom field types
# ---------------------------------------------------------------------------


@hookspec
def crm_register_models() -> list[type[Base]]:
    """Return the SQLAlchemy model classes (subclasses of ``crmcore.db.Base``) the plugin adds.

    Called once when the plugin manager is built; importing the classes puts their tables on
    ``Base.metadata`` so ``crm init-db`` and the tests create them.

    :return: a list of model classes.
    """


@hookspec
def crm_register_migrations() -> list[str]:
    """Return folders of Alembic revision files for the plugin's own tables.

    Called by ``crm init-db`` and ``crm db upgrade``. Each plugin's first revision carries a
    ``branch_labels`` of the plugin's name and ``depends_on`` the core's first revision, so
    plugins migrate independently of each other.

    :return: a list of absolute folder paths.
    """


@hookspec
def crm_register_permissions() -> list[Permission]:
    """Return the permissions the plugin checks, as ``crmcore.contracts.Permission`` objects.

    Called once at start-up; ``default_roles`` names the default roles that get each
    permission when ``crm init-db`` seeds the roles.

    :return: a list of ``Permission``.
    """


@hookspec
def crm_register_translations() -> list[str]:
    """Return folders of the plugin's gettext catalogues, laid out as ``<folder>/<lang>/LC_MESSAGES/messages.po``.

    Called once by ``create_app``; each ``.po`` is compiled into the instance folder and merged
    with the core's catalogue, so ``_()`` in the plugin's code and templates finds its strings.
    The core's own messages always win over a plugin's.

    :return: a list of absolute folder paths.
    """


@hookspec
def crm_register_audit_entities() -> list[AuditEntity]:
    """Return how the audit log shows the entries of the entity types the plugin audits.

    Called once per runtime, when the audit log is first read. An entry is shown to a reader
    who has the entity's ``permission`` and, under record rules, sees its record; entries of an
    entity type nobody registered are shown only to administrators (permission ``*``).

    :return: a list of ``crmcore.contracts.AuditEntity``.
    """


@hookspec
def crm_register_entities() -> list[Entity]:
    """Return the record types tools may read (condition builders, audiences, exports).

    Called once per runtime, the first time entity metadata is read (``GET /api/v1/meta/entities``).
    Fields are derived from the model's columns (type, length, required, foreign keys to other
    registered entities); the declaration adds labels, choices with labels and hidden columns;
    ``crm_register_computed_fields`` adds computed fields. Active custom fields of the entity are
    added by the core. Duplicate names across plugins are an error naming both.

    :return: a list of ``crmcore.entities.Entity``.
    """


@hookspec
def crm_register_computed_fields() -> list[ComputedField]:
    """Return fields your plugin computes for an entity, usable in conditions and listed in its metadata.

    Called once per runtime, the first time an entity's fields are read. ``expr(ctx)`` returns a
    SQL expression correlated to the entity's model (a scalar subquery such as "the segment of
    the latest RFM run"), which :func:`crmcore.conditions.compile_sql` filters on. A field named
    twice for one entity is an error naming both plugins.

    :return: a list of ``crmcore.entities.ComputedField(entity, field, kind, label, expr)``.
    """


@hookspec(firstresult=True)
def crm_convert_money(ctx: ServiceContext, amount: Any, currency: Any, target: str) -> Any:
    """Return a SQL expression of ``amount`` (in the row's ``currency``) converted to ``target``.

    Called by tools that add money of several currencies in one query (the reports plugin), once per
    query. NULL for a row whose currency has no rate. Stops at first non-None result; with no answer
    the amounts are added as they are (a single-currency company needs no rates).

    :param ctx: the ``ServiceContext`` of the reader.
    :param amount: the SQL expression of the amount.
    :param currency: the SQL expression of the row's currency code.
    :param target: the currency to convert to, such as ``CNY``.
    :return: a SQL expression, or None when your plugin keeps no exchange rates.
    """


@hookspec
def crm_register_field_types() -> list[FieldType]:
    """Return custom field types admins may choose for a ``CustomField``.

    Called once at start-up. A ``FieldType.validate(value, field)`` returns the cleaned
    value or raises ``ValueError`` with a message for the user.

    :return: a list of ``crmcore.contracts.FieldType``.
    """


# ---------------------------------------------------------------------------
# Web: API blueprints and admin views
# ---------------------------------------------------------------------------


@hookspec
def crm_register_blueprints() -> list[Blueprint]:
    """Return Flask blueprints to mount; flask-smorest blueprints appear in the OpenAPI.

    Called once by ``create_app``. Blueprints whose ``url_prefix`` starts with ``/api/`` are
    authenticated by API token like the core's own.

    :return: a list of ``flask.Blueprint`` or ``flask_smorest.Blueprint``.
    """


@hookspec
def crm_register_admin_views(db: Database) -> list[BaseView]:
    """Return Flask-Admin views to add to ``/admin``.

    Called once by ``create_app``. Subclass ``crmcore.admin.views.SecureModelView`` to
    inherit login, permissions and CSRF.

    :param db: the ``crmcore.db.Database``; pass it to model views as their session.
    :return: a list of ``flask_admin.BaseView`` instances.
    """


@hookspec
def crm_customer_panels(ctx: ServiceContext, customer: Customer) -> list[Panel]:
    """Return sections for the customer 360 view (admin page and ``/customers/<id>/panels``).

    Called each time a customer's 360 view is shown.

    :param ctx: the ``ServiceContext`` of the viewer (check ``ctx.can(...)`` for permissions).
    :param customer: the ``Customer``.
    :return: a list of ``crmcore.contracts.Panel``.
    """


@hookspec
def crm_home_panels(ctx: ServiceContext) -> list[Panel]:
    """Return short lists for the viewer's admin home page (``/admin``): what is theirs to do.

    Called each time the home page is shown, inside its request (``url_for`` works).

    :param ctx: the ``ServiceContext`` of the viewer (check ``ctx.can(...)``; list the viewer's own work).
    :return: a list of ``crmcore.contracts.Panel`` whose ``items`` are dicts ``text``, ``url``, ``note``
        and ``warn`` (True: overdue or late).
    """


# ---------------------------------------------------------------------------
# Events and entity lifecycle
# ---------------------------------------------------------------------------


@hookspec
def crm_event(ctx: ServiceContext, event: Event) -> None:
    """React to an event after its transaction committed.

    Called once per event (``customer.created``, ``customer.updated``, ``customer.merged``,
    ``interaction.created``, ...). An exception is logged and does not stop other
    listeners; work that must not be lost belongs in an outbox handler.

    :param ctx: a ``ServiceContext`` with a fresh session.
    :param event: the ``crmcore.contracts.Event``.
    """


@hookspec
def crm_events(ctx: ServiceContext, events: list[Event]) -> None:
    """React to all the events of one committed transaction at once.

    Called once per commit that made events, after ``crm_event`` of each of them. A bulk import
    commits thousands of events at a time: a listener that looks records up implements this
    hook and looks the whole batch up with one query, instead of one query per ``crm_event``.
    An exception is logged and does not stop other listeners.

    :param ctx: a ``ServiceContext`` with a fresh session.
    :param events: the transaction's ``crmcore.contracts.Event`` objects, in the order they were made.
    """


@hookspec
def crm_before_save(ctx: ServiceContext, entity: str, obj: Base, changes: dict[str, Any], created: bool) -> None:
    """Check or adjust a record inside its transaction, before it is written.

    Called by every service write. Raise ``crmcore.errors.ValidationError`` to refuse the
    write; nothing of it is then stored.

    :param ctx: the ``ServiceContext`` of the write.
    :param entity: the entity name (``customer``, ``contact``, ...).
    :param obj: the model instance with the new values applied.
    :param changes: ``{field: [before, after]}``.
    :param created: True for a new record.
    """


@hookspec
def crm_after_commit(ctx: ServiceContext, entity: str, action: str, entity_id: int | str, changes: dict[str, Any]) -> None:
    """React to a committed create, update or delete of a record.

    Called after commit for every entity write, before ``crm_event`` of the same write.

    :param ctx: a ``ServiceContext`` with a fresh session.
    :param entity: the entity name.
    :param action: ``created``, ``updated`` or ``deleted`` (also ``merged`` / ``unmerged`` for
        customers, ``revoked`` for API tokens).
    :param entity_id: the record's id.
    :param changes: ``{field: [before, after]}``.
    """


@hookspec
def crm_before_delete(ctx: ServiceContext, entity: str, obj: Base) -> None:
    """Check a record inside its transaction before it is deleted.

    Raise ``crmcore.errors.ValidationError`` or ``Conflict`` to refuse the deletion.

    :param ctx: the ``ServiceContext``.
    :param entity: the entity name.
    :param obj: the model instance.
    """


@hookspec
def crm_register_outbox_handlers() -> list[OutboxHandler]:
    """Return outbox destinations: events for their topics are written to the outbox for them.

    Called once at start-up. Delivery is at least once; the message's ``idempotency_key``
    lets the receiver drop repeats. A handler's ``ignore_sources`` leaves out changes made
    with those ``ctx.source`` values (an integration's own writes, which must not echo back).

    :return: a list of ``crmcore.contracts.OutboxHandler``.
    """


# ---------------------------------------------------------------------------
# Customers: identity resolution and merge
# ---------------------------------------------------------------------------


@hookspec
def crm_find_duplicates(ctx: ServiceContext, customer: Customer, limit: int) -> list[DuplicateCandidate]:
    """Return customers that are probably the same as ``customer``.

    Called by the duplicate finder. The core's default matches normalised phone and e-mail
    and similar names; candidates for the same customer from several implementations are
    combined (scores as independent evidence, ``1 - (1 - a)(1 - b)``; reasons joined).

    :param ctx: the ``ServiceContext``.
    :param customer: the ``Customer`` to match; an unsaved draft (``id`` None, no contacts) when the
        admin's create form warns before saving.
    :param limit: the most candidates wanted.
    :return: a list of ``crmcore.contracts.DuplicateCandidate``.
    """


@hookspec
def crm_customer_merge(ctx: ServiceContext, winner: Customer, loser: Customer) -> list[MovedRows | RemovedRows]:
    """Move the plugin's rows from ``loser`` to ``winner`` during a merge.

    Called inside the merge transaction. The core's default (called last) moves every row of
    any table with a foreign key to ``customers.id``, applying each table's declared
    ``merge_policy`` where a unique key includes the customer; implement this only for data it
    cannot see. Return what you moved (and removed) so the merge can be undone.

    :param ctx: the ``ServiceContext``.
    :param winner: the ``Customer`` kept.
    :param loser: the ``Customer`` merged away.
    :return: a list of ``crmcore.contracts.MovedRows`` (and ``RemovedRows`` for deleted rows).
    """


# ---------------------------------------------------------------------------
# CLI and scheduled work
# ---------------------------------------------------------------------------


@hookspec
def crm_register_commands(cli: click.Group) -> None:
    """Add click commands or groups to the ``crm`` command.

    Called once when the ``crm`` command starts.

    :param cli: the ``crm`` click group; use ``@cli.command()`` or ``cli.add_command``.
    """


@hookspec
def crm_register_jobs() -> list[Job]:
    """Return scheduled jobs; ``crm jobs run-due`` and the in-process scheduler run them.

    :return: a list of ``crmcore.contracts.Job``.
    """


@hookspec
def crm_register_checks() -> list[Any]:
    """Return deployment checks that ``crm check`` runs after the core's (settings, database, jobs).

    Called once when ``crm check`` runs. A check tries what it checks (connects to the mail server,
    asks each ERP connection) and reports each problem in the reader's language, never a secret.

    :return: a list of ``crmcore.contracts.Check``; each ``func(ctx)`` returns ``Finding`` items.
    """


@hookspec
def crm_register_import_kinds() -> list[Any]:
    """Return the record types ``crm import <name> FILE`` and the bulk API load in batches.

    Collected once per runtime, the first time an import runs (``crm import``, a ``.../bulk`` call).
    The driver (``crmcore.imports``) reads the CSV file or the request, checks ``permission`` and
    the columns, cuts the rows into batches and calls ``load(ctx, rows, options)`` once per batch
    in one transaction; the loader validates with the entity's own service validation and writes
    the batch with set-based SQL, returning one ``RowResult`` per row. A plugin may declare
    ``CRM_IMPORT_KINDS`` instead.

    :return: a list of ``crmcore.imports.ImportKind``, each with a unique ``name``.
    """


@hookspec
def crm_demo_data(ctx: ServiceContext) -> list[str]:
    """Add the plugin's demo records, after the core's demo users and customers exist.

    Called by ``crm demo`` (and so by ``make run``). Must be idempotent: running it twice
    creates nothing the second time. Commit your own work.

    :param ctx: a ``ServiceContext`` acting as the system.
    :return: one-line summaries of what was created, printed after the core's.
    """


# ---------------------------------------------------------------------------
# Integration: OA approval providers (the ERP adapter's hooks are in adapters.erp.hookspecs)
# ---------------------------------------------------------------------------


@hookspec
def crm_register_oa_providers() -> list[type[ApprovalProvider]]:
    """Return OA approval provider classes, each with a unique ``name`` class attribute.

    Called once at start-up; an approval policy names its provider by that ``name``.

    :return: a list of classes.
    """


@hookspec
def crm_channels() -> list[ChannelProvider]:
    """Return the channel providers the plugin adds: how messages leave for customers.

    One provider per channel name (``email``, ``sms``, ``wechat``...), each implementing
    :class:`crmcore.channels.ChannelProvider`; a later plugin's provider for a channel replaces an earlier
    one. Called when a send starts and for each batch (marketing campaigns, notifications), so a provider
    should be cheap to build.

    :return: a list of provider objects.
    """


@hookspec
def crm_startup(app: Flask) -> None:
    """Finish setting up after the Flask app is built (read config, warm caches).

    Called once at the end of ``create_app``.

    :param app: the Flask app.
    """


# ---------------------------------------------------------------------------
# Workflow and approvals
# ---------------------------------------------------------------------------


@hookspec
def crm_register_condition_predicates() -> list[Predicate]:
    """Return named predicates that workflow and approval conditions may use.

    Called once per runtime, the first time a condition is validated or evaluated. A condition
    uses one as ``{"predicate": "<name>", "args": {...}}``; the interpreter calls
    ``func(ctx, record, args)`` and never evaluates text.

    :return: a list of ``crmcore.contracts_workflow.Predicate``.
    """


@hookspec
def crm_register_workflow_actions() -> list[WorkflowAction]:
    """Return named actions a workflow runs on entering a state or to compensate an approval.

    Called once per runtime. A state's ``actions`` list and an approval policy's
    ``compensation`` name them; ``func(ctx, record, params)`` runs inside the transaction of
    the change, so raising rolls the change back.

    :return: a list of ``crmcore.contracts_workflow.WorkflowAction``.
    """


@hookspec
def crm_register_workflow_entities() -> list[WorkflowEntity]:
    """Return the entities workflows and approval policies can drive.

    Called once per runtime. ``load(ctx, id)`` returns the record, checking the reader's
    access; the engine reads and writes the workflow's state field on it.

    :return: a list of ``crmcore.contracts_workflow.WorkflowEntity``.
    """


@hookspec
def crm_approval_completed(ctx: ServiceContext, request: ApprovalRequest, record: Base | None) -> None:
    """Apply the outcome of an approval to the record, inside the decision's transaction.

    Called once when an approval request reaches ``approved``, ``rejected``, ``withdrawn``,
    ``terminated`` or ``revoked``, after the engine applied a workflow transition (if the
    request has one) and before the commit. Plugins whose state machine is code (a quote's
    ``pending_approval``) move their record here; raising rolls the decision back.

    :param ctx: the ``ServiceContext`` of the decision (the system acting for the approver).
    :param request: the ``crmcore.models.ApprovalRequest`` with its new ``status``.
    :param record: the record the request is about, or None if it was deleted.
    """
