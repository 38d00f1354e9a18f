"""The ``sync`` object the plugins' sync hooks receive: links, field ownership, conflicts and issues."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from sqlalchemy import func, insert, select

from crmcore.db import utcnow
from crmcore.models import ExternalRef
from crmcore.runtime import ServiceContext

from .base import Record, SkippableRecordError
from .connections import erp_adapters
from .issues import open_issue, resolve_issues
from .models import DEFAULT_OWNERSHIP, ErpConnection, SyncIssue


class SyncHelper:
    """What ``crm_sync_apply`` / ``crm_sync_export`` implementations receive as ``sync``.

    ``system`` names the connection; ``resolve(entity, external_id)`` gives the CRM id linked to
    an ERP id (or None); ``erp_wins(entity, field)`` reads the field ownership;
    ``conflict(...)`` records a conflict the admin sees in the sync issues; ``pulls(stream)`` says
    whether the connection pulls that stream, ``payments_pulled`` whether payments come as records;
    ``raise sync.skip(message)`` refuses the record being stored (it becomes a sync issue).
    """

    def __init__(self, ctx: ServiceContext, connection: ErpConnection, stream: str | None = None) -> None:
        self.ctx = ctx
        self.system = connection.name
        self.stream = stream
        self.ownership = {k: {**v, **(connection.ownership or {}).get(k, {})} for k, v in DEFAULT_OWNERSHIP.items()}
        for entity, rules in (connection.ownership or {}).items():
            self.ownership.setdefault(entity, dict(rules))
        self._adapter, self._chosen = connection.adapter, tuple(connection.streams or ())
        self._pulls: frozenset[str] | None = None
        self._owner_name = (connection.settings or {}).get("default_owner")
        self._owner_id: int | None = None
        # ExternalRefs of the current page, read in one query per entity (``prefetch``); None: not linked.
        # Valid inside one transaction only: ``forget()`` after a commit or a rollback.
        self._refs: dict[tuple[str, str], ExternalRef | _Linked | None] = {}
        # The highest CRM id linked per entity (one query per page): a CRM id above it has no link yet.
        self._max_linked: dict[str, int] = {}
        self._waiting: dict[str, str] = {}  # what the record being stored points to and is not synced yet
        self._unlinked: set[str] | None = None  # ERP ids of the stream's open ``unlinked`` issues (read once)

    def pulls(self, stream: str) -> bool:
        """Whether this connection pulls ``stream``: its adapter offers it and the connection's choice of
        streams, if any, has it."""
        if self._pulls is None:
            self._pulls = frozenset(s for s in getattr(self._adapter_class, "streams", ())
                                    if not self._chosen or s in self._chosen)
        return stream in self._pulls

    @property
    def payments_pulled(self) -> bool:
        """True when the ``payments`` stream brings every payment of the invoices (the adapter says
        ``reads_payments``, e.g. Tryton's payment lines) and this connection pulls it; otherwise the
        owner of invoices derives the paid share from the invoice's amount due."""
        return bool(getattr(self._adapter_class, "reads_payments", False)) and self.pulls("payments")

    @property
    def _adapter_class(self) -> Any:
        return erp_adapters(self.ctx).get(self._adapter) if hasattr(self.ctx, "runtime") else None

    @staticmethod
    def skip(message: str) -> SkippableRecordError:
        """The error a ``crm_sync_apply`` implementation raises to refuse one record (``raise sync.skip(...)``):
        the record is kept as a sync issue with ``message`` and applied again on later runs."""
        return SkippableRecordError(message)

    def prefetch(self, entity: str, external_ids: Iterable[Any]) -> None:
        """Read the links of many ERP ids in one query, so ``resolve`` and ``link`` need none for them."""
        wanted = list(dict.fromkeys(str(i) for i in external_ids if i not in (None, "")
                                    and (entity, str(i)) not in self._refs))
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            for key in chunk:
                self._refs[(entity, key)] = None
            for ref in self.ctx.session.scalars(select(ExternalRef).where(
                    ExternalRef.system == self.system, ExternalRef.entity == entity,
                    ExternalRef.external_id.in_(chunk))):
                self._refs[(entity, ref.external_id)] = ref

    def _unlink_cached(self, ref: ExternalRef) -> None:
        for key, cached in self._refs.items():
            if cached is ref:
                self._refs[key] = None

    def forget(self) -> None:
        """Drop the prefetched links (after the page's commit, or a rollback that may have undone some)."""
        self._refs.clear()
        self._max_linked.clear()

    def _may_be_linked(self, entity: str, entity_id: int) -> bool:
        """Whether a link of this CRM id may exist: not when the id is above every linked one (a record
        created in this run), so linking new records needs no query each."""
        if entity not in self._max_linked:
            self._max_linked[entity] = self.ctx.session.scalar(select(func.max(ExternalRef.entity_id)).where(
                ExternalRef.system == self.system, ExternalRef.entity == entity)) or 0
        return entity_id <= self._max_linked[entity]

    def _linked(self, entity: str, entity_id: int) -> None:
        if entity in self._max_linked:
            self._max_linked[entity] = max(self._max_linked[entity], entity_id)

    @property
    def default_owner_id(self) -> int | None:
        """The user (setting ``default_owner``, a username) who owns customers the ERP brings in."""
        if self._owner_name and self._owner_id is None:
            from crmcore.models import User

            self._owner_id = self.ctx.session.scalar(select(User.id).where(User.username == self._owner_name))
        return self._owner_id

    def resolve(self, entity: str, external_id: Any) -> int | None:
        if external_id in (None, ""):
            return None
        key = (entity, str(external_id))
        if key in self._refs:
            ref = self._refs[key]
            return ref.entity_id if ref is not None else None
        return self.ctx.session.scalar(select(ExternalRef.entity_id).where(
            ExternalRef.system == self.system, ExternalRef.entity == entity,
            ExternalRef.external_id == str(external_id)))

    def external_id(self, entity: str, entity_id: int) -> str | None:
        return self.ctx.session.scalar(select(ExternalRef.external_id).where(
            ExternalRef.system == self.system, ExternalRef.entity == entity, ExternalRef.entity_id == entity_id))

    def erp_wins(self, entity: str, field_name: str) -> bool:
        rules = self.ownership.get(entity, {})
        return rules.get(field_name, rules.get("*", "erp")) == "erp"

    def conflict(self, entity: str, entity_id: int, field_name: str, crm_value: Any, erp_value: Any,
                 external_id: str | None = None, owner: str = "crm") -> None:
        """Record that the two sides disagree on a field; ``owner`` (``crm`` or ``erp``) is the side whose
        value was kept, the other one is in the issue (a person settles it)."""
        kept = ("the CRM owns it and keeps its value" if owner == "crm"
                else "the ERP owns it: the CRM's value was replaced by the ERP's")
        stream = self.stream or entity
        line = f"{entity}.{field_name}: the CRM has {crm_value!r}, the ERP {erp_value!r}; {kept}"
        earlier = self.ctx.session.scalar(select(SyncIssue).where(
            SyncIssue.connection == self.system, SyncIssue.stream == stream, SyncIssue.external_id == external_id,
            SyncIssue.kind == "conflict", SyncIssue.status == "open"))
        fields = dict((earlier.payload or {}).get("fields") or {}) if earlier is not None else {}
        fields[field_name] = {"crm": _text(crm_value), "erp": _text(erp_value), "kept": owner, "reason": line}
        # one open issue per record: the fields in conflict are kept side by side, none replaces another
        open_issue(self.ctx, self.system, stream, external_id, "conflict",
                   "\n".join(f["reason"] for f in fields.values()),
                   {"field": field_name, "crm": _text(crm_value), "erp": _text(erp_value), "kept": owner,
                    "fields": fields}, entity_id=entity_id)

    def waiting_for(self, entity: str, external_id: Any) -> None:
        """Say that the record being stored points to an ERP record not synced yet (an invoice's order): it is
        stored without that link, kept as an open ``unlinked`` issue and applied again at the end of each
        run of its stream until the link resolves (then the issue is resolved)."""
        self._waiting[entity] = str(external_id)

    def settle_links(self, stream: str, record: Record, entity_id: int) -> bool:
        """After ``record`` was stored: open its ``unlinked`` issue when it waits for a record, else resolve
        an earlier one; True when it waits (its link then keeps no fingerprint, so a re-read applies it)."""
        waiting, self._waiting = self._waiting, {}
        if waiting:
            what = ", ".join(f"{entity} {ext}" for entity, ext in waiting.items())
            open_issue(self.ctx, self.system, stream, record.external_id, "unlinked",
                       f"stored without its link to {what}, which is not synced yet; linked when it is",
                       record.to_dict(), entity_id=entity_id)
            return True
        if self._unlinked is None:
            self._unlinked = set(self.ctx.session.scalars(select(SyncIssue.external_id).where(
                SyncIssue.connection == self.system, SyncIssue.stream == stream, SyncIssue.kind == "unlinked",
                SyncIssue.status == "open")))
        if record.external_id in self._unlinked:
            resolve_issues(self.ctx, self.system, stream, record.external_id, kind="unlinked")
        return False

    def invalid(self, entity: str, entity_id: int | None, external_id: str, values: dict[str, Any]) -> None:
        """Record the ERP values the CRM cannot take (``{field: value}``, e.g. a phone that is no number) as
        one open ``invalid`` issue of the record, which is stored without them; none left: the issue of an
        earlier run is resolved (the ERP fixed them)."""
        if not values:
            resolve_issues(self.ctx, self.system, self.stream or entity, external_id, kind="invalid")
            return
        fields = "; ".join(f"{name} {value!r}" for name, value in values.items())
        open_issue(self.ctx, self.system, self.stream or entity, external_id, "invalid",
                   f"{entity} {external_id}: not valid, stored without it: {fields}",
                   {"fields": {k: _text(v) for k, v in values.items()}}, entity_id=entity_id)

    def link(self, entity: str, entity_id: int, external_id: str, fingerprint: str | None = None) -> ExternalRef:
        """Link a CRM record to its ERP id (insert or update the ``ExternalRef``)."""
        session = self.ctx.session
        key = (entity, str(external_id))
        if key in self._refs and not isinstance(self._refs[key], _Linked):
            ref = self._refs[key]
        else:
            ref = session.scalar(select(ExternalRef).where(ExternalRef.system == self.system,
                                                           ExternalRef.entity == entity,
                                                           ExternalRef.external_id == str(external_id)))
        if ref is None and self._may_be_linked(entity, entity_id):
            ref = session.scalar(select(ExternalRef).where(ExternalRef.system == self.system,
                                                           ExternalRef.entity == entity,
                                                           ExternalRef.entity_id == entity_id))
            if ref is not None:
                self._unlink_cached(ref)  # re-pointed below: its old ERP id is linked no more
        if ref is None:
            ref = ExternalRef(system=self.system, entity=entity, entity_id=entity_id, external_id=str(external_id))
            session.add(ref)
        ref.entity_id, ref.external_id = entity_id, str(external_id)
        ref.fingerprint = fingerprint
        ref.last_synced_at = utcnow()
        self._refs[key] = ref
        self._linked(entity, entity_id)
        return ref

    def link_new(self, entity: str, links: list[tuple[int, str, str | None]]) -> None:
        """Link records created in this transaction: ``(entity_id, external_id, fingerprint)`` each; two
        queries in all (links of those ERP ids, and stale links of those CRM ids, e.g. of a reused id)."""
        if not links:
            return
        self.prefetch(entity, [ext for _id, ext, _fp in links])
        by_local: dict[int, ExternalRef] = {}
        ids = [local for local, _ext, _fp in links]
        for start in range(0, len(ids), 500):
            for ref in self.ctx.session.scalars(select(ExternalRef).where(
                    ExternalRef.system == self.system, ExternalRef.entity == entity,
                    ExternalRef.entity_id.in_(ids[start:start + 500]))):
                by_local[ref.entity_id] = ref
        now = utcnow()
        rows = []
        for local, ext, fingerprint in links:
            ref = self._refs.get((entity, str(ext))) or by_local.get(local)
            if ref is None:  # the usual case: inserted in bulk below
                rows.append({"system": self.system, "entity": entity, "entity_id": local, "external_id": str(ext),
                             "fingerprint": fingerprint, "last_synced_at": now})
                self._refs[(entity, str(ext))] = _Linked(local)
                continue
            if ref.external_id != str(ext):
                self._unlink_cached(ref)
            ref.entity_id, ref.external_id = local, str(ext)
            ref.fingerprint, ref.last_synced_at = fingerprint, now
            self._refs[(entity, str(ext))] = ref
        if rows:
            self.ctx.session.execute(insert(ExternalRef.__table__), rows)  # Core: the ORM bulk path costs more
        for local, _ext, _fp in links:
            self._linked(entity, local)


@dataclass(frozen=True)
class _Linked:
    """A link inserted in bulk in this transaction (no ORM object): its CRM id is all ``resolve`` needs."""

    entity_id: int


def _text(value: Any) -> Any:
    return value if value is None or isinstance(value, (str, int, float, bool)) else str(value)
