"""Customers in the admin: the list (record rules, search, filters), the form, the 360 details page
with timeline, duplicates, merge and undo, and logging an interaction from the page."""
from __future__ import annotations

from typing import Any, TYPE_CHECKING

from flask import Response, abort, flash, g, redirect, request, stream_with_context, url_for
from flask_admin import expose
from flask_admin.contrib.sqla.filters import BaseSQLAFilter, FilterEqual, IntEqualFilter
from markupsafe import Markup
from sqlalchemy import false, select

from ..i18n import local_time
from ..errors import CRMError, NotFound, PermissionDenied
from ..i18n import gettext, lazy_gettext as _l
from ..entities import registered
from ..models import AuditLog, Customer, Tag, User
from ..services import access, customers as customer_svc, dedupe, exporter, interactions, search
from ..services.custom_fields import active_fields
from . import forms
from .largelists import LargeListMixin
from .views import SecureModelView, flash_crm_error, service_context, with_options
from ..schemas.common import SEARCH_MAX, db_id

if TYPE_CHECKING:
    from ..runtime import ServiceContext

STAGE_BADGES = {"lead": "info", "prospect": "warning", "customer": "success", "inactive": "secondary"}


class TagFilter(BaseSQLAFilter):
    """Customers carrying the tag (options are read per request)."""

    def apply(self, query: Any, value: Any, alias: Any = None) -> Any:
        return query.filter(Customer.tags.any(Tag.name == value))

    def operation(self) -> Any:
        return _l("is")


def _tag_options() -> list[tuple[str, str]]:
    names = service_context().session.scalars(select(Tag.name).order_by(Tag.name))
    return [(n, n) for n in names]


def _owner_options() -> list[tuple[str, str]]:
    users = forms.active_users()
    return [(str(u.id), forms.user_label(u)) for u in users]


def stage_badge(stage: str) -> Markup:
    label = dict(forms.STAGE_CHOICES).get(stage, stage)
    return Markup('<span class="badge badge-{}">{}</span>').format(STAGE_BADGES.get(stage, "secondary"), label)


def tag_badges(tags: Any) -> Markup:
    return Markup(" ").join(Markup('<span class="badge badge-pill badge-light crm-tag">{}</span>').format(t.name)
                            for t in tags)


def completeness_bar(score: int) -> Markup:
    kind = "success" if score >= 80 else "warning" if score >= 50 else "danger"
    return Markup('<div class="progress crm-progress" title="{0}%"><div class="progress-bar bg-{1}" '
                  'role="progressbar" style="width: {0}%" aria-valuenow="{0}" aria-valuemin="0" '
                  'aria-valuemax="100">{0}%</div></div>').format(int(score or 0), kind)


class CustomerView(LargeListMixin, SecureModelView):
    permission = "customer.read"
    write_permission = "customer.write"
    delete_permission = "customer.delete"

    form = forms.CustomerForm
    can_view_details = True
    details_template = "admin/crm/customer_details.html"
    create_template = "admin/crm/customer_create.html"
    list_template = "admin/crm/customer_list.html"
    column_list = ("code", "name", "stage", "level", "owner", "tags", "completeness", "updated_at")
    column_labels = {"code": _l("Code"), "name": _l("Name"), "stage": _l("Stage"), "level": _l("Level"),
                     "owner": _l("Owner"), "tags": _l("Tags"), "completeness": _l("Complete"),
                     "updated_at": _l("Updated")}
    column_sortable_list = ("code", "name", "stage", "level", "completeness", "updated_at")
    column_default_sort = ("updated_at", True)
    column_searchable_list = ("name", "code", "email", "phone", "search_text")
    column_filters = (
        FilterEqual(Customer.stage, _l("Stage"), options=forms.STAGE_CHOICES),
        FilterEqual(Customer.level, _l("Level")),
        with_options(IntEqualFilter(Customer.owner_id, _l("Owner")), _owner_options),
        with_options(TagFilter(Customer.id, _l("Tag")), _tag_options),
    )
    column_formatters = {
        "name": lambda v, c, m, n: Markup('<a href="{}">{}</a>').format(
            url_for(".details_view", id=m.id), m.name),
        "stage": lambda v, c, m, n: stage_badge(m.stage),
        "tags": lambda v, c, m, n: tag_badges(m.tags),
        "completeness": lambda v, c, m, n: completeness_bar(m.completeness),
        "owner": lambda v, c, m, n: forms.user_label(m.owner) if m.owner else "",
        "updated_at": lambda v, c, m, n: local_time(m.updated_at, seconds=False) if m.updated_at else "",
    }

    def search_placeholder(self) -> str:
        return str(_l("Name, code, phone, e-mail or pinyin"))

    # ---- record rules --------------------------------------------------------------------
    def _visible(self, query: Any) -> Any:
        query = query.filter(Customer.deleted_at.is_(None), Customer.merged_into_id.is_(None))
        return access.scope_customers(self.ctx(), query)

    def get_query(self) -> Any:
        return self._visible(super().get_query())

    def get_count_query(self) -> Any:
        return self._visible(super().get_count_query())

    def _apply_search(self, query: Any, count_query: Any, joins: Any, count_joins: Any, term: str) -> Any:
        """The search of the API (indexed: names, codes, pinyin, phones, e-mails, contacts), not LIKE scans."""
        if len(term) > SEARCH_MAX:
            flash(gettext("The search is too long."), "error")
            ids: Any = select(Customer.id).where(false())
        else:
            try:
                ids = search.customer_ids(self.ctx(), term)
            except CRMError as exc:  # a NUL or a lone surrogate: said, nothing found
                flash(exc.message, "error")
                ids = select(Customer.id).where(false())
        count_query = count_query.filter(Customer.id.in_(ids)) if count_query is not None else None
        return query.filter(Customer.id.in_(ids)), count_query, joins, count_joins

    # ---- the form: tags and custom attributes ----------------------------------------------
    def _with_attributes(self, form_class: Any) -> Any:
        fields = active_fields(self.ctx(), "customer")
        extra = {f"attr__{f.name}": forms.attribute_field(f) for f in fields}
        return type("CustomerFormWithAttributes", (form_class,), extra) if extra else form_class

    def create_form(self, obj: Any = None) -> Any:
        from flask_admin.helpers import get_form_data

        form = self._with_attributes(self._create_form_class)(get_form_data(), obj=obj)
        if request.method == "GET" and self.ctx().actor is not None and form.owner.data is None:
            form.owner.data = self.ctx().actor
        return form

    def edit_form(self, obj: Any = None) -> Any:
        from flask_admin.helpers import get_form_data

        form = self._with_attributes(self._edit_form_class)(get_form_data(), obj=obj)
        if request.method == "GET" and obj is not None:
            form.tag_names.data = ", ".join(t.name for t in obj.tags)
            form.version.data = str(obj.version)
            for name, value in (obj.attributes or {}).items():
                field = getattr(form, f"attr__{name}", None)
                if field is not None:
                    field.data = forms.attribute_value(value)
        return form

    def form_to_data(self, form: Any, model: Any = None) -> dict[str, Any]:
        data = {name: forms.blank_to_none(getattr(form, name).data) for name in forms.CUSTOMER_FIELDS}
        data["name"] = data["name"] or ""
        if data["code"] is None:  # generated on create, kept on edit
            data.pop("code")
        if data["currency"] is None:
            data.pop("currency")
        data["owner_id"] = form.owner.data.id if form.owner.data is not None else None
        data["tags"] = forms.split_list(form.tag_names.data)
        attrs = {name[len("attr__"):]: field.data for name, field in form._fields.items() if name.startswith("attr__")}
        if attrs:
            data["attributes"] = {k: (v if v not in ("", []) else None) for k, v in attrs.items()}
        return data

    def service_create(self, ctx: ServiceContext, data: dict[str, Any]) -> Customer:
        return customer_svc.create_customer(ctx, data)

    def create_model(self, form: Any) -> Any:
        """Before saving a new customer, warn of probable duplicates (the form comes back with them
        listed); saving the form again creates it anyway."""
        if request.form.get("ignore_duplicates") != "1":
            ctx = self.ctx()
            try:
                found = dedupe.duplicates_of_new(ctx, self.form_to_data(form))
            except CRMError:
                ctx.session.rollback()
                found = []
            if found:
                g.crm_duplicates = [{"customer": ctx.session.get(Customer, c.customer_id),
                                     "score": round(c.score * 100), "reasons": c.reasons} for c in found]
                flash(gettext("This customer may already exist. Open a match, or save again to create it anyway."),
                      "warning")
                return None
        return super().create_model(form)

    def service_update(self, ctx: ServiceContext, model: Customer, data: dict[str, Any]) -> Customer:
        version = request.form.get("version")
        return customer_svc.update_customer(ctx, model.id, data,
                                            expected_version=int(version) if version and version.isdigit() else None)

    def service_delete(self, ctx: ServiceContext, model: Customer) -> None:
        customer_svc.delete_customer(ctx, model.id)

    def get_save_return_url(self, model: Any, is_created: bool = False) -> str:
        return str(self.get_url(".details_view", id=model.id))

    # ---- details: the customer 360 ------------------------------------------------------------
    def _customer_or_abort(self, customer_id: Any) -> Customer | Any:
        ctx = self.ctx()
        try:
            return customer_svc.get_customer(ctx, int(customer_id))
        except (TypeError, ValueError):
            abort(404)
        except PermissionDenied as exc:
            return self.forbidden(exc.message)
        except NotFound as exc:
            merged = ctx.session.get(Customer, int(customer_id))
            if merged is not None and merged.merged_into_id and merged.deleted_at is None:
                flash(exc.message, "info")
                return redirect(self.get_url(".details_view", id=merged.merged_into_id))
            flash(exc.message, "error")
            return redirect(self.get_url(".index_view"))

    @expose("/export.csv")
    def export_csv(self) -> Any:
        """The customers this user may see as CSV (UTF-8 with BOM or GB18030), streamed."""
        ctx = self.ctx()
        try:
            codec = exporter.check_encoding(request.args.get("encoding"))
            ctx.require("customer.read")
        except CRMError as exc:
            flash(exc.message, "error")
            return redirect(self.get_url(".index_view"))
        q = (request.args.get("q") or "").strip() or None
        body = stream_with_context(exporter.iter_customer_csv(ctx, codec, q=q))
        return Response(body, content_type=f"text/csv; charset={codec.replace('-sig', '')}",
                        headers={"Content-Disposition": "attachment; filename=customers.csv"})

    @expose("/details/")
    def details_view(self) -> Any:
        found = self._customer_or_abort(request.args.get("id"))
        if not isinstance(found, Customer):
            return found  # a redirect or the 403 page
        return self.render(self.details_template, model=found, return_url=self.get_url(".index_view"),
                           **self._details(found))

    def _details(self, customer: Customer) -> dict[str, Any]:
        ctx = self.ctx()
        score, missing = customer_svc.completeness_of(ctx, customer)
        can_merge = ctx.can("customer.merge") and ctx.can("customer.write")
        dupes = []
        for cand in dedupe.find_duplicates(ctx, customer.id):
            other = ctx.session.get(Customer, cand.customer_id)
            if other is not None:
                dupes.append({"customer": other, "score": round(cand.score * 100), "reasons": cand.reasons})
        defs = {f.name: f for f in active_fields(ctx, "customer")}
        attributes = [(defs[k].label if k in defs else k, v) for k, v in (customer.attributes or {}).items()]
        return {
            "ctx": ctx,
            "contacts": list(customer.contacts),
            "addresses": list(customer.addresses),
            "timeline": customer_svc.timeline(ctx, customer.id, limit=50) if ctx.can("interaction.read") else [],
            "panels": [p for p in customer_svc.panels(ctx, customer.id) if p["key"] not in ("completeness", "recent")],
            "score": score, "missing": missing, "duplicates": dupes, "attributes": attributes,
            "merges": self._merges(customer) if can_merge else [],
            "can_merge": can_merge, "can_write": ctx.can("customer.write"),
            "can_log": ctx.can("interaction.write"),
            "log_form": forms.QuickInteractionForm(), "button_form": forms.ConfirmForm(),
            "stage_badge": stage_badge, "tag_badges": tag_badges, "completeness_bar": completeness_bar,
        }

    def _merges(self, customer: Customer) -> list[dict[str, Any]]:
        """Merges into this customer that can still be undone, newest first."""
        ctx = self.ctx()
        entries = ctx.session.scalars(select(AuditLog).where(
            AuditLog.entity == "customer", AuditLog.action == "merged", AuditLog.entity_id == str(customer.id))
            .order_by(AuditLog.id.desc()).limit(20)).all()
        undone = {e.data.get("merge_audit_id") for e in ctx.session.scalars(select(AuditLog).where(
            AuditLog.entity == "customer", AuditLog.action == "unmerged", AuditLog.entity_id == str(customer.id)))}
        out = []
        for entry in entries:
            if entry.id in undone:
                continue
            loser = ctx.session.get(Customer, int(entry.data.get("loser_id", 0)))
            out.append({"entry": entry, "loser": loser})
        return out

    # ---- actions from the details page (POST + CSRF) ---------------------------------------------
    def _back(self, customer_id: Any) -> Any:
        return redirect(self.get_url(".details_view", id=customer_id))

    @expose("/compare/")
    def compare_view(self) -> Any:
        """Two customers side by side before a merge: for each field whose values differ, which to keep."""
        ctx = self.ctx()
        winner_id, loser_id = request.args.get("id", type=db_id), request.args.get("target", type=db_id)
        if winner_id is None or loser_id is None:
            abort(400)
        try:
            ctx.require("customer.merge")
            winner = customer_svc.get_customer(ctx, winner_id, permission="customer.write")
            loser = customer_svc.get_customer(ctx, loser_id, permission="customer.write")
        except PermissionDenied as exc:
            return self.forbidden(exc.message)
        except CRMError as exc:
            flash_crm_error(exc)
            return self._back(winner_id)
        labels = registered(ctx)["customer"].labels
        rows = []
        for name in dedupe.CHOOSABLE:
            mine, theirs = getattr(winner, name), getattr(loser, name)
            if mine == theirs:
                continue
            take = name in dedupe.FILL_FIELDS and mine in (None, "") and theirs not in (None, "")
            rows.append({"name": name, "label": str(labels.get(name, name)), "mine": self._shown(ctx, name, mine),
                         "theirs": self._shown(ctx, name, theirs), "take": take})
        return self.render("admin/crm/customer_merge.html", winner=winner, loser=loser, rows=rows,
                           button_form=forms.ConfirmForm(), return_url=self.get_url(".details_view", id=winner.id))

    @staticmethod
    def _shown(ctx: ServiceContext, name: str, value: Any) -> str:
        """A field's value as people read it: users by name, codes by their label."""
        if value in (None, ""):
            return "—"
        if name == "owner_id":
            user = ctx.session.get(User, value)
            return forms.user_label(user) if user is not None else "—"
        choices = registered(ctx)["customer"].choices.get(name)
        if choices:
            return str(dict(choices).get(value, value))
        if name == "source_channel":  # a code, in the words the details page shows
            return forms.code_label(value)
        return str(value)

    @expose("/merge/", methods=("POST",))
    def merge_view(self) -> Any:
        form = forms.ConfirmForm()
        winner_id, loser_id = request.args.get("id", type=db_id), request.form.get("target", type=db_id)
        if not form.validate() or winner_id is None or loser_id is None:
            abort(400)
        keep = [name for name in dedupe.CHOOSABLE if request.form.get(f"keep_{name}") == "other"]
        ctx = self.ctx()
        try:
            summary = dedupe.merge_customers(ctx, winner_id, loser_id, keep)
        except PermissionDenied as exc:
            return self.forbidden(exc.message)
        except CRMError as exc:
            flash_crm_error(exc)
            return self._back(winner_id)
        name = self._name(loser_id)
        flash(gettext("Customer %(loser)s was merged into this one; moved: %(moved)s. You can undo it below.",
                      loser=name, moved=self._counts(ctx, summary["moved"]) or gettext("nothing")), "success")
        labels = registered(ctx)["customer"].labels
        if summary["filled"]:
            flash(gettext("Taken from %(loser)s: %(fields)s.", loser=name,
                          fields=", ".join(str(labels.get(f, f)) for f in summary["filled"])), "info")
        if summary.get("removed"):
            flash(gettext("%(removed)s records of %(loser)s that clashed with this customer's were dropped "
                          "(%(tables)s), as their plugins declare; undoing the merge puts them back.",
                          removed=sum(summary["removed"].values()), loser=name,
                          tables=self._counts(ctx, summary["removed"])), "info")
        return self._back(winner_id)

    @staticmethod
    def _counts(ctx: ServiceContext, by_table: dict[str, int]) -> str:
        """``{"contacts": 2, ...}`` as people read it: ``Contacts 2, Interactions 3`` (tables by their entity's name)."""
        names = {e.model.__table__.name: str(e.label) for e in registered(ctx).values()}
        counts: dict[str, int] = {}
        for table, n in by_table.items():
            label = names.get(table) or gettext("Other records")
            counts[label] = counts.get(label, 0) + n
        return ", ".join(f"{label} {n}" for label, n in sorted(counts.items()) if n)

    def _name(self, customer_id: int) -> str:
        customer = self.ctx().session.get(Customer, customer_id)
        return customer.name if customer is not None else str(customer_id)

    @expose("/unmerge/", methods=("POST",))
    def unmerge_view(self) -> Any:
        form = forms.ConfirmForm()
        customer_id, audit_id = request.args.get("id", type=db_id), request.form.get("target", type=db_id)
        if not form.validate() or customer_id is None or audit_id is None:
            abort(400)
        try:
            result = dedupe.unmerge(self.ctx(), audit_id)
        except PermissionDenied as exc:
            return self.forbidden(exc.message)
        except CRMError as exc:
            flash_crm_error(exc)
            return self._back(customer_id)
        flash(gettext("The merge was undone; customer %(loser)s is separate again.",
                      loser=self._name(result["loser_id"])), "success")
        return self._back(customer_id)

    @expose("/log/", methods=("POST",))
    def log_view(self) -> Any:
        form = forms.QuickInteractionForm()
        customer_id = request.args.get("id", type=db_id)
        if customer_id is None:
            abort(400)
        if not form.validate():
            for name, errors in form.errors.items():
                flash(f"{getattr(form, name).label.text}: {' '.join(map(str, errors))}", "error")
            return self._back(customer_id)
        data = {"channel": form.channel.data, "direction": form.direction.data, "subject": form.subject.data.strip(),
                "body": forms.blank_to_none(form.body.data)}
        try:
            interactions.log_interaction(self.ctx(), customer_id, data)
        except PermissionDenied as exc:
            return self.forbidden(exc.message)
        except CRMError as exc:
            flash_crm_error(exc)
            return self._back(customer_id)
        flash(gettext("The interaction was added to the timeline."), "success")
        return self._back(customer_id)

