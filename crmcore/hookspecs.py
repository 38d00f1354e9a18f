"""Every hook specification of the CRM. Plugins implement these with ``@crmcore.hookimpl``.

Each spec says when it is called, what it receives and what it must return. A plugin may
accept any subset of the parameters, by name. ``crm_register_*`` hooks are collected once
at start-up, and duplicate names across plugins are an error that names both plugins.
"""
from __future__ import annotations

from typing import Any

from . import hookspec

# ---------------------------------------------------------------------------
# Entities: tables, migrations, permissions, custom field types
# ---------------------------------------------------------------------------


@hookspec
def crm_register_models() -> list[type]:
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
def crm_register_permissions() -> list[Any]:
    """Return the permissions the plugin checks, as ``crmcore.contracts.Permission`` objects.

    Called once at start-up; ``default_roles`` names the default roles that get each
    permission when ``crm init-db`` seeds the roles.

    :return: a list of ``Permission``.
    """


@hookspec
def crm_register_field_types() -> list[Any]:
    """Return custom field types admins may choose for a ``CustomField``.

    Called once at start-up. A ``FieldType.validate(value, field)`` returns the cleaned
    value or raises ``ValueError`` with a message for the user.

    :return: a list of ``crmcore.contracts.FieldType``.
    """


# ---------------------------------------------------------------------------
# Web: API blueprints and admin views
# ---------------------------------------------------------------------------


@hookspec
def crm_register_blueprints() -> list[Any]:
    """Return Flask blueprints to mount; flask-smorest blueprints appear in the OpenAPI.

    Called once by ``create_app``. Blueprints whose ``url_prefix`` starts with ``/api/`` are
    authenticated by API token like the core's own.

    :return: a list of ``flask.Blueprint`` or ``flask_smorest.Blueprint``.
    """


@hookspec
def crm_register_admin_views(db: Any) -> list[Any]:
    """Return Flask-Admin views to add to ``/admin``.

    Called once by ``create_app``. Subclass ``crmcore.admin.views.SecureModelView`` to
    inherit login, permissions and CSRF.

    :param db: the ``crmcore.db.Database``; pass it to model views as their session.
    :return: a list of ``flask_admin.BaseView`` instances.
    """


@hookspec
def crm_customer_panels(ctx: Any, customer: Any) -> list[Any]:
    """Return sections for the customer 360 view (admin page and ``/customers/<id>/panels``).

    Called each time a customer's 360 view is shown.

    :param ctx: the ``ServiceContext`` of the viewer (check ``ctx.can(...)`` for permissions).
    :param customer: the ``Customer``.
    :return: a list of ``crmcore.contracts.Panel``.
    """


# ---------------------------------------------------------------------------
# Events and entity lifecycle
# ---------------------------------------------------------------------------


@hookspec
def crm_event(ctx: Any, event: Any) -> None:
    """React to an event after its transaction committed.

    Called once per event (``customer.created``, ``customer.updated``, ``customer.merged``,
    ``interaction.created``, ...). An exception is logged and does not stop other
    listeners; work that must not be lost belongs in an outbox handler.

    :param ctx: a ``ServiceContext`` with a fresh session.
    :param event: the ``crmcore.contracts.Event``.
    """


@hookspec
def crm_before_save(ctx: Any, entity: str, obj: Any, changes: dict[str, Any], created: bool) -> None:
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
def crm_after_commit(ctx: Any, entity: str, action: str, entity_id: Any, changes: dict[str, Any]) -> None:
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
def crm_before_delete(ctx: Any, entity: str, obj: Any) -> None:
    """Check a record inside its transaction before it is deleted.

    Raise ``crmcore.errors.ValidationError`` or ``Conflict`` to refuse the deletion.

    :param ctx: the ``ServiceContext``.
    :param entity: the entity name.
    :param obj: the model instance.
    """


@hookspec
def crm_register_outbox_handlers() -> list[Any]:
    """Return outbox destinations: events for their topics are written to the outbox for them.

    Called once at start-up. Delivery is at least once; the message's ``idempotency_key``
    lets the receiver drop repeats.

    :return: a list of ``crmcore.contracts.OutboxHandler``.
    """


# ---------------------------------------------------------------------------
# Customers: identity resolution and merge
# ---------------------------------------------------------------------------


@hookspec
def crm_find_duplicates(ctx: Any, customer: Any, limit: int) -> list[Any]:
    """Return customers that are probably the same as ``customer``.

    Called by the duplicate finder. The core's default matches normalised phone and e-mail
    and similar names; candidates for the same customer from several implementations are
    combined (scores as independent evidence, ``1 - (1 - a)(1 - b)``; reasons joined).

    :param ctx: the ``ServiceContext``.
    :param customer: the ``Customer`` to match.
    :param limit: the most candidates wanted.
    :return: a list of ``crmcore.contracts.DuplicateCandidate``.
    """


@hookspec
def crm_customer_merge(ctx: Any, winner: Any, loser: Any) -> list[Any]:
    """Move the plugin's rows from ``loser`` to ``winner`` during a merge.

    Called inside the merge transaction. The core's default (called last) moves every row of
    any table with a foreign key to ``customers.id``; implement this only for data it cannot
    see. Return what you moved so the merge can be undone.

    :param ctx: the ``ServiceContext``.
    :param winner: the ``Customer`` kept.
    :param loser: the ``Customer`` merged away.
    :return: a list of ``crmcore.contracts.MovedRows``.
    """


# ---------------------------------------------------------------------------
# CLI and scheduled work
# ---------------------------------------------------------------------------


@hookspec
def crm_register_commands(cli: Any) -> None:
    """Add click commands or groups to the ``crm`` command.

    Called once when the ``crm`` command starts.

    :param cli: the ``crm`` click group; use ``@cli.command()`` or ``cli.add_command``.
    """


@hookspec
def crm_register_jobs() -> list[Any]:
    """Return scheduled jobs; ``crm jobs run-due`` and the in-process scheduler run them.

    :return: a list of ``crmcore.contracts.Job``.
    """


# ---------------------------------------------------------------------------
# Integration: ERP adapters and OA approval providers
# ---------------------------------------------------------------------------


@hookspec
def crm_register_erp_adapters() -> list[Any]:
    """Return ERP adapter classes, each with a unique ``name`` class attribute.

    Called once at start-up; a sync connection names its adapter by that ``name``.

    :return: a list of classes.
    """


@hookspec
def crm_register_oa_providers() -> list[Any]:
    """Return OA approval provider classes, each with a unique ``name`` class attribute.

    Called once at start-up; an approval policy names its provider by that ``name``.

    :return: a list of classes.
    """


@hookspec
def crm_startup(app: Any) -> None:
    """Finish setting up after the Flask app is built (read config, warm caches).

    Called once at the end of ``create_app``.

    :param app: the Flask app.
    """
