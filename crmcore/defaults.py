"""The core's own hook implementations, registered as the plugin ``core``.

Defaults that plugins may override or extend are ``trylast`` (datasette style).
"""
from __future__ import annotations

from typing import Any, TYPE_CHECKING

from sqlalchemy import select

from . import hookimpl
from .contracts import Job, Panel, Permission
from .field_types import BUILTIN
from .i18n import _
from .i18n import lazy_gettext as _l

if TYPE_CHECKING:
    from .runtime import ServiceContext

CRM_LABEL = _l("Core")  # the name on the admin's plugin page

ALL = ("admin",)
PERMISSIONS = [
    Permission("customer.read", _("See customers, contacts and addresses"), ("manager", "sales", "service", "analyst")),
    Permission("customer.write", _("Create and change customers, contacts and addresses"), ("manager", "sales")),
    Permission("customer.delete", _("Delete customers"), ("manager",)),
    Permission("customer.merge", _("Merge duplicate customers and undo merges"), ("manager",)),
    Permission("customer.import", _("Import customers in bulk"), ("manager",)),
    Permission("interaction.read", _("See the interaction timeline"), ("manager", "sales", "service", "analyst")),
    Permission("interaction.write", _("Log interactions"), ("manager", "sales", "service")),
    Permission("customfield.manage", _("Define custom fields"), ()),
    Permission("user.manage", _("Manage users, roles, teams and tokens"), ()),
    Permission("audit.read", _("Read the audit log"), ("manager", "analyst")),
    Permission("plugin.read", _("See loaded plugins and their hooks"), ()),
    Permission("outbox.manage", _("See and replay outbox messages"), ()),
    Permission("job.manage", _("See background jobs, their progress, and cancel them"), ()),
    Permission("workflow.read", _("See workflows and approval policies"), ("manager", "sales", "service", "analyst")),
    Permission("workflow.manage", _("Design workflows, approval policies and OA provider settings"), ()),
    Permission("approval.read", _("See own approvals and the inbox of pending decisions"), ("manager", "sales", "service")),
    Permission("approval.decide", _("Approve or reject what waits for one's decision"), ("manager", "sales", "service")),
    Permission("approval.manage", _("See every approval, revoke approvals, replay OA callbacks"), ()),
]


@hookimpl
def crm_register_permissions() -> list[Permission]:
    return PERMISSIONS


@hookimpl
def crm_register_field_types() -> list[Any]:
    return BUILTIN


def _deliver_outbox(ctx: ServiceContext) -> Any:
    from .services.outbox import deliver_due  # imported when the job runs, not when jobs are listed

    return deliver_due(ctx)


def _remind_approvers(ctx: ServiceContext) -> Any:
    from .services.approvals import remind_and_escalate

    return remind_and_escalate(ctx)


def _prune_job_history(ctx: ServiceContext) -> Any:
    from .services.jobs import prune_history

    return prune_history(ctx)


@hookimpl
def crm_register_jobs() -> list[Job]:
    return [Job("outbox.deliver", _deliver_outbox, 60, "Deliver pending outbox messages"),
            Job("approvals.remind", _remind_approvers, 300, "Remind approvers; escalate timed-out approvals"),
            Job("jobs.prune", _prune_job_history, 24 * 3600, "Forget finished job runs older than CRM_JOBS_HISTORY_DAYS")]


@hookimpl
def crm_register_import_kinds() -> list[Any]:
    from .imports.contacts import KIND as contacts
    from .imports.customers import KIND as customers
    from .imports.interactions import KIND as interactions

    return [customers, contacts, interactions]


@hookimpl
def crm_register_workflow_entities() -> list[Any]:
    from .contracts_workflow import RecordSummary, WorkflowEntity
    from .models import Customer
    from .services.customers import get_customer

    def describe(ctx: ServiceContext, customer: Any) -> RecordSummary:
        return RecordSummary(title=customer.name, customer=customer.name)

    return [WorkflowEntity("customer", Customer, get_customer, "owner_id", _("Customer"),
                           ("stage", "name", "kind", "owner_id", "attributes"), "customer.write",
                           describe=describe, admin_endpoint="customer")]


@hookimpl
def crm_before_save(ctx: ServiceContext, entity: str, obj: Any, changes: dict[str, Any], created: bool) -> None:
    if not created:
        from .services.approvals import restart_if_key_fields_changed

        restart_if_key_fields_changed(ctx, entity, obj, changes)


@hookimpl(trylast=True)
def crm_find_duplicates(ctx: ServiceContext, customer: Any, limit: int) -> list[Any]:
    from .services.dedupe import default_candidates

    return default_candidates(ctx, customer, limit)


@hookimpl(trylast=True)
def crm_customer_merge(ctx: ServiceContext, winner: Any, loser: Any) -> list[Any]:
    from .services.dedupe import default_merge

    return default_merge(ctx, winner, loser)


@hookimpl
def crm_customer_panels(ctx: ServiceContext, customer: Any) -> list[Panel]:
    from .models import CustomerIdentity, ExternalRef, Interaction
    from .services import identities
    from .services.customers import completeness_of

    score, missing = completeness_of(ctx, customer)
    panels = [Panel("completeness", _("Profile completeness"), rows=[
        (_("Score"), f"{score}%"), (_("Missing"), ", ".join(missing) or str(_("nothing")))], order=10)]
    refs = ctx.session.scalars(select(ExternalRef).where(ExternalRef.entity == "customer",
                                                         ExternalRef.entity_id == customer.id)).all()
    ids = ctx.session.scalars(select(CustomerIdentity).where(CustomerIdentity.customer_id == customer.id)
                              .order_by(CustomerIdentity.platform, CustomerIdentity.id)).all()
    if ids:
        panels.append(Panel("identities", _("Identities"), rows=[
            (identities.label(i.platform), f"{i.value} ({i.account})" if i.account else i.value) for i in ids], order=15))
    if refs:
        panels.append(Panel("external", _("In other systems"), rows=[(r.system, r.external_id) for r in refs], order=90))
    if ctx.can("interaction.read"):
        recent = ctx.session.scalars(select(Interaction).where(Interaction.customer_id == customer.id)
                                     .order_by(Interaction.occurred_at.desc()).limit(5)).all()
        panels.append(Panel("recent", _("Recent interactions"), items=[
            {"when": i.occurred_at.isoformat(), "channel": i.channel, "subject": i.subject} for i in recent], order=20))
    return panels


def _visible_approvals(ctx: ServiceContext) -> Any:
    """Approvals the reader requested or reviews; every one with ``approval.manage``."""
    from sqlalchemy import or_

    from .models import ApprovalRequest, ApprovalTask
    from .services.audit_scope import ids_in

    if ctx.actor is None or ctx.can("approval.manage"):
        return None
    mine = select(ApprovalTask.request_id).where(ApprovalTask.approver_id == ctx.actor.id)
    return ids_in(select(ApprovalRequest.id).where(or_(ApprovalRequest.requester_id == ctx.actor.id,
                                                       ApprovalRequest.id.in_(mine))))


@hookimpl
def crm_register_audit_entities() -> list[Any]:
    from .contracts import AuditEntity
    from .services.audit_scope import customer_ids_in, customer_in

    return [AuditEntity("customer", "customer.read", customer_ids_in),
            AuditEntity("contact", "customer.read", customer_in),
            AuditEntity("address", "customer.read", customer_in),
            AuditEntity("interaction", "interaction.read", customer_in),
            AuditEntity("custom_field", "customer.read"),
            *(AuditEntity(name, "user.manage") for name in ("user", "role", "team", "api_token")),
            AuditEntity("workflow", "workflow.read"),
            AuditEntity("approval_policy", "workflow.read"),
            AuditEntity("approval", "approval.read", _visible_approvals)]


@hookimpl
def crm_register_entities() -> list[Any]:
    from .admin.forms import CHANNEL_CHOICES, DIRECTION_CHOICES, KIND_CHOICES, STAGE_CHOICES
    from .entities import Entity
    from .models import Contact, Customer, Interaction, User

    common = {"id": _("ID"), "name": _("Name"), "phone": _("Phone"), "email": _("E-mail"),
              "created_at": _("Created"), "updated_at": _("Updated"), "customer_id": _("Customer")}
    return [
        Entity("customer", Customer, _("Customers"), "customer.read", {
            **common, "code": _("Code"), "kind": _("Kind"), "stage": _("Stage"), "level": _("Level"),
            "source_channel": _("Source"), "industry": _("Industry"), "website": _("Website"),
            "credit_limit": _("Credit limit"), "currency": _("Currency"), "notes": _("Notes"),
            "attributes": _("Custom fields"), "owner_id": _("Owner"), "completeness": _("Complete")},
            {"stage": STAGE_CHOICES, "kind": KIND_CHOICES},
            hidden=("phone_normalized", "email_normalized", "search_text", "name_key", "merged_into_id", "deleted_at",
                    "version")),
        Entity("contact", Contact, _("Contacts"), "customer.read", {
            **common, "title": _("Title"), "mobile": _("Mobile"), "wechat": _("WeChat"), "qq": _("QQ"),
            "is_primary": _("Primary")}, hidden=("version",)),
        Entity("interaction", Interaction, _("Interactions"), "interaction.read", {
            **common, "occurred_at": _("When"), "channel": _("Channel"), "direction": _("Direction"),
            "subject": _("Subject"), "body": _("Notes"), "user_id": _("By"), "source": _("Source"),
            "contact_id": _("Contact")}, {"channel": CHANNEL_CHOICES, "direction": DIRECTION_CHOICES},
            hidden=("entity_type", "entity_id", "data")),
        Entity("user", User, _("Users"), "user.manage", {
            **common, "username": _("Username"), "full_name": _("Full name"), "role_id": _("Role"), "team_id": _("Team"),
            "active": _("Active"), "locale": _("Language"), "timezone": _("Time zone"),
            "last_login_at": _("Last login")}, hidden=("auth_version",)),
    ]
