"""Read-mostly system pages: the audit log, the loaded plugins and the outbox (with replay)."""
from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from flask import abort, flash, redirect, request, url_for
from flask_admin import expose
from flask_admin.actions import action
from flask_admin.contrib.sqla.filters import DateTimeBetweenFilter, FilterEqual, FilterLike
from flask_admin.helpers import get_redirect_target
from markupsafe import Markup
from sqlalchemy import select

from ..i18n import local_time
from ..errors import CRMError
from ..i18n import gettext, lazy_gettext as _l
from ..models import AuditLog, Contact, Customer, OutboxMessage, User
from ..plugins import plugin_summary
from ..services import audit_scope, outbox
from . import forms, labels
from .views import (SecureModelView, SecureView, flash_crm_error, record_name, row_post_button, service_context,
                    with_options)
from ..schemas.common import db_id


_STORED_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:\d{2}|Z)?")


def shown_value(value: Any) -> Any:
    """A recorded value as the reader sees it: a stored UTC time in their zone, to the minute; yes or no."""
    if isinstance(value, bool):
        return gettext("Yes") if value else gettext("No")
    if isinstance(value, str) and _STORED_TIME.fullmatch(value):
        try:
            return local_time(dt.datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            return value
    return value


def _short(value: Any, limit: int = 60) -> str:
    value = shown_value(value)
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# recorded ids of people and customers, shown by name (the record may be gone: then the id stays)
_NAMED_IDS = {"customer_id": Customer, "owner_id": User, "user_id": User, "assignee_id": User, "requester_id": User,
              "contact_id": Contact}


def _choice_words(entity: str | None) -> dict[str, dict[str, Any]]:
    """``{field: {code: label}}`` of the record type's declared choices (entity metadata), else the audit log's
    words for its coded values (``labels.VALUES``), for its audit entries."""
    from ..entities import registered

    declared = registered(service_context()).get(entity or "")
    words = {f: dict(options) for f, options in labels.VALUES.get(entity or "", {}).items()}
    return {**words, **{f: dict(options) for f, options in declared.choices.items()}} if declared is not None else words


def _named(name: str, value: Any, words: dict[str, dict[str, Any]] | None = None) -> Any:
    """A recorded value as words: a person's or customer's name for their id, a label for a code (the record
    type's declared choices first: a status or state of any plugin's record)."""
    label = (words or {}).get(name, {}).get(value) if isinstance(value, str) else None
    if label is not None:
        return str(label)
    if name == "role" and isinstance(value, str):
        return forms.role_label(value)
    if name in ("stage", "kind", "channel", "direction", "source_channel") and isinstance(value, str):
        return forms.code_label(value)
    model = _NAMED_IDS.get(name)
    if model is None or not isinstance(value, int) or isinstance(value, bool):
        return value
    record = service_context().session.get(model, value)
    return record_name(record) if record is not None else value


def changes_summary(changes: dict[str, Any], entity: str | None = None) -> Markup:
    """``field: before → after`` for each changed field (just the value when it was empty), shortened."""
    parts = []
    words = _choice_words(entity) if changes else {}
    for name, pair in (changes or {}).items():
        before, after = pair if isinstance(pair, (list, tuple)) and len(pair) == 2 else (None, pair)
        before, after = _named(name, before, words), _named(name, after, words)
        shown_after = _summary_value(after)
        if before is None:
            parts.append(Markup('<span class="crm-change"><b>{}</b>: <ins>{}</ins></span>').format(
                labels.field(name), shown_after))
        else:
            parts.append(Markup('<span class="crm-change"><b>{}</b>: <del>{}</del> → <ins>{}</ins></span>').format(
                labels.field(name), _summary_value(before), shown_after))
    return Markup("<br>").join(parts[:4]) + (Markup(" …") if len(parts) > 4 else "")


def _summary_value(value: Any) -> str:
    """A value in the list's one-line summary: a structured value (a condition, a list of settings) is named,
    not shown as JSON: the entry's page has it whole."""
    if value is None:
        return "∅"
    if isinstance(value, (dict, list, tuple)):
        return gettext("(set; see the entry)")
    return _short(value, 30)


def record_link(entry: AuditLog) -> Markup | str:
    if entry.entity == "customer" and entry.entity_id.isdigit():
        return Markup('<a href="{}">{}</a>').format(url_for("customer.details_view", id=entry.entity_id), entry.entity_id)
    return entry.entity_id


def changes_table(changes: dict[str, Any], entity: str | None = None) -> Markup:
    """The before and after of every field, as a table for the details page."""
    rows = []
    words = _choice_words(entity) if changes else {}
    for name, pair in (changes or {}).items():
        before, after = pair if isinstance(pair, (list, tuple)) and len(pair) == 2 else (None, pair)
        before, after = _named(name, before, words), _named(name, after, words)
        rows.append(Markup("<tr><th>{}</th><td><pre class=\"crm-pre\">{}</pre></td><td><pre class=\"crm-pre\">{}</pre>"
                           "</td></tr>").format(labels.field(name), _pretty(before), _pretty(after)))
    if not rows:
        return Markup('<span class="text-muted">{}</span>').format(gettext("No field changes recorded."))
    head = Markup("<thead><tr><th>{}</th><th>{}</th><th>{}</th></tr></thead>").format(
        gettext("Field"), gettext("Before"), gettext("After"))
    return Markup('<table class="table table-sm table-bordered crm-changes">{}<tbody>{}</tbody></table>').format(
        head, Markup("").join(rows))


def _pretty(value: Any) -> str:
    if value is None:
        return "∅"
    value = shown_value(value)
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, indent=1, default=str)


def _distinct(column: Any, word: Any = str) -> Any:
    """Filter options: the stored values in use, each shown by ``word`` (the reader's word for a code)."""
    def load() -> list[tuple[str, str]]:
        ctx = service_context()
        rows = ctx.session.scalars(audit_scope.scope_audit(ctx, select(column).distinct()).order_by(column).limit(200))
        return [(str(v), word(v)) for v in rows if v is not None]

    return load


class AuditLogView(SecureModelView):
    """Who changed what and when. Read only: there is no service that changes history."""

    permission = "audit.read"
    can_view_details = True
    can_export = False
    details_template = "admin/crm/audit_details.html"
    column_list = ("at", "actor_label", "source", "action", "entity", "entity_id", "changes")
    column_labels = {"at": _l("When"), "actor_label": _l("Who"), "source": _l("From"), "action": _l("Action"),
                     "entity": _l("Record type"), "entity_id": _l("Record"), "changes": _l("Changes"),
                     "data": _l("Details"), "event_id": _l("Event")}
    column_default_sort = ("id", True)
    column_sortable_list = ("at", "actor_label", "action", "entity")
    column_filters = (with_options(FilterEqual(AuditLog.entity, _l("Record type")), _distinct(AuditLog.entity, labels.record_type)),
                      with_options(FilterEqual(AuditLog.action, _l("Action")), _distinct(AuditLog.action, labels.action)),
                      with_options(FilterEqual(AuditLog.actor_label, _l("Who")), _distinct(AuditLog.actor_label)),
                      FilterEqual(AuditLog.entity_id, _l("Record")),
                      with_options(FilterEqual(AuditLog.source, _l("From")), _distinct(AuditLog.source, forms.source_label)),
                      DateTimeBetweenFilter(AuditLog.at, _l("When")),
                      FilterLike(AuditLog.event_id, _l("Event")))
    column_formatters = {"at": lambda v, c, m, n: local_time(m.at, seconds=True),
                         "changes": lambda v, c, m, n: changes_summary(m.changes, m.entity),
                         "entity": lambda v, c, m, n: labels.record_type(m.entity),
                         "action": lambda v, c, m, n: labels.action(m.action),
                         "source": lambda v, c, m, n: forms.source_label(m.source),
                         # the system acts under its source's name (``cli``, ``scheduler``): shown in words
                         "actor_label": lambda v, c, m, n: m.actor_label if m.actor_id else forms.source_label(m.actor_label),
                         "entity_id": lambda v, c, m, n: record_link(m)}
    page_size = 50

    # record rules: an entry is listed, counted and opened only when its record is visible to the reader
    def get_query(self) -> Any:
        return self._scoped(super().get_query())

    def get_count_query(self) -> Any:
        return self._scoped(super().get_count_query())

    def _scoped(self, query: Any) -> Any:
        cond = audit_scope.audit_condition(self.ctx())
        return query if cond is None else query.filter(cond)

    @expose("/details/")
    def details_view(self) -> Any:
        entry = self.get_one(request.args.get("id", ""))
        if entry is None:
            abort(404)
        return self.render(self.details_template, model=entry, changes=changes_table(entry.changes, entry.entity),
                           data=_pretty(entry.data) if entry.data else "", return_url=self.get_url(".index_view"))


class PluginsView(SecureView):
    """Every loaded plugin: where it came from, its version, what it requires and which hooks it implements."""

    permission = "plugin.read"

    @expose("/")
    def index(self) -> Any:
        rt = self.ctx().runtime
        return self.render("admin/crm/plugins.html", plugins=plugin_summary(rt.pm), sources=PLUGIN_SOURCES)


# where a plugin was loaded from, in words
PLUGIN_SOURCES = {"core": _l("Built in"), "entry point": _l("Installed package"), "config": _l("Configuration"),
                  "app": _l("Application code")}


def _replay_button(msg: OutboxMessage) -> Markup:
    if msg.status == "pending":
        return Markup("")
    return row_post_button("outbox.replay_view", msg.id, gettext("Replay"))


class OutboxView(SecureModelView):
    """Messages waiting for, delivered to or given up by each destination; replay after a fix."""

    permission = "outbox.manage"
    can_view_details = True
    column_list = ("id", "topic", "destination", "status", "attempts", "next_attempt_at", "last_error", "created_at",
                   "replay")
    column_labels = {"topic": _l("Event"), "destination": _l("Destination"), "status": _l("Status"),
                     "attempts": _l("Attempts"), "next_attempt_at": _l("Next attempt"), "last_error": _l("Last error"),
                     "created_at": _l("Created"), "payload": _l("Payload"), "delivered_at": _l("Delivered at"),
                     "claimed_by": _l("Delivered now by"), "claimed_until": _l("Claimed until"), "replay": ""}
    column_default_sort = ("id", True)
    column_filters = (FilterEqual(OutboxMessage.status, _l("Status"),
                                  options=[("pending", "pending"), ("delivered", "delivered"), ("dead", "dead")]),
                      FilterEqual(OutboxMessage.destination, _l("Destination")),
                      FilterLike(OutboxMessage.topic, _l("Event")))
    column_formatters = {
        "status": lambda v, c, m, n: Markup('<span class="badge badge-{}">{}</span>').format(
            {"pending": "warning", "delivered": "success", "dead": "danger"}.get(m.status, "secondary"), m.status),
        "last_error": lambda v, c, m, n: _short(m.last_error or "", 80),
        "next_attempt_at": lambda v, c, m, n: local_time(m.next_attempt_at, seconds=True)
        if m.status == "pending" else "",
        "created_at": lambda v, c, m, n: local_time(m.created_at, seconds=True),
        "replay": lambda v, c, m, n: _replay_button(m),
    }
    column_formatters_detail = {"payload": lambda v, c, m, n: Markup('<pre class="crm-pre">{}</pre>').format(
        _pretty(m.payload)),
        "claimed_until": lambda v, c, m, n: local_time(m.claimed_until, seconds=True) if m.claimed_until else ""}

    def is_action_allowed(self, name: str) -> bool:
        return name == "replay" and self.can("outbox.manage")

    @action("replay", _l("Replay"), _l("Send the selected messages again?"))
    def action_replay(self, ids: list[str]) -> None:
        done = 0
        for raw in ids:
            try:
                outbox.replay(self.ctx(), int(raw))
                done += 1
            except ValueError:
                continue
            except CRMError as exc:
                flash_crm_error(exc)
        flash(gettext("%(n)s message(s) queued again.", n=done), "success")

    @expose("/replay/", methods=("POST",))
    def replay_view(self) -> Any:
        form = forms.ConfirmForm()
        message_id = request.form.get("target", type=db_id)
        if not form.validate() or message_id is None:
            abort(400)
        try:
            outbox.replay(self.ctx(), message_id)
            flash(gettext("Message %(id)s is queued again.", id=message_id), "success")
        except CRMError as exc:
            flash_crm_error(exc)
        return redirect(get_redirect_target() or self.get_url(".index_view"))
