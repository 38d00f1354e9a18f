"""Audiences in the admin: list with live sizes, a form with the condition builder over customers, exclusions
by name, static members from pasted codes or a CSV file, and the preview (size and sample) on the page."""
from __future__ import annotations

import csv
import io
import json
from typing import Any

from flask import flash, redirect, request, url_for
from flask_admin import expose

from crmcore.admin import policy_form
from crmcore.admin.views import SecureView
from crmcore.errors import CRMError, ValidationError
from crmcore.i18n import gettext
from crmcore.runtime import ServiceContext

from ..services import audiences as svc
from .builder import BuilderEndpoints, read_condition
from .common import field_errors

MAX_UPLOAD = 1024 * 1024  # under the request limit, so the page can say why (10,000 codes are ~150 KB)
CODE_HEADERS = ("code", "customer code", "客户编号", "编号", "客户代码")


def read_form(form: Any) -> dict[str, Any]:
    """The posted audience form as the service's data."""
    exclude = [int(v) for v in form.getlist("exclude") if str(v).isdigit()]
    return {"name": (form.get("name") or "").strip(), "description": (form.get("description") or "").strip() or None,
            "condition": read_condition(form.get("condition")), "exclude": exclude}


def read_codes(text: str | None, upload: Any) -> list[str]:
    """Customer codes from a pasted list (lines, commas or spaces) and/or a CSV file (a ``code``/``客户编号`` column, else
    the first column; UTF-8, else GB18030 as Excel saves it in China).

    :raises ValidationError: a file over 1 MB (nothing is added)."""
    codes = [c for c in (text or "").replace(",", "\n").split() if c.strip()]
    if upload is not None and upload.filename:
        data = upload.read(MAX_UPLOAD + 1)
        if len(data) > MAX_UPLOAD:
            raise ValidationError(gettext("The file is larger than %(mb)s MB; split it.", mb=MAX_UPLOAD // 2**20),
                                  errors={"file": [gettext("Too large.")]})
        try:
            raw = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raw = data.decode("gb18030", errors="replace")
        rows = list(csv.reader(io.StringIO(raw)))
        if rows:
            header = [h.strip().lower() for h in rows[0]]
            named = [i for i, h in enumerate(header) if h in CODE_HEADERS]
            col = named[0] if named else 0
            body = rows[1:] if named else rows
            codes += [r[col].strip() for r in body if len(r) > col and r[col].strip()]
    return codes


class AudiencesView(BuilderEndpoints, SecureView):
    """Audiences: list, form with the builder, static members, preview."""

    permission = "marketing.read"
    write_permission = "marketing.manage"

    @expose("/")
    def index(self) -> Any:
        ctx = self.ctx()
        rows = [(a, svc.preview(ctx, a.id)["count"]) for a in svc.list_audiences(ctx)]
        return self.render("marketing/admin/audiences.html", rows=rows, can_manage=ctx.can("marketing.manage"))

    @expose("/new", methods=["GET", "POST"])
    @expose("/<int:audience_id>", methods=["GET", "POST"])
    def edit(self, audience_id: int | None = None) -> Any:
        ctx = self.ctx()
        try:
            audience = svc.get_audience(ctx, audience_id) if audience_id else None
        except CRMError as exc:
            flash(exc.message, "error")
            return redirect(url_for(".index"))
        data = {"name": audience.name, "description": audience.description, "condition": audience.condition,
                "exclude": list(audience.exclude or [])} if audience else {"name": "", "condition": None, "exclude": []}
        errors: dict[str, list[str]] = {}
        if request.method == "POST":
            if not ctx.can("marketing.manage"):
                return self.forbidden()
            data = read_form(request.form)
            try:
                audience = svc.create_audience(ctx, data) if audience is None else \
                    svc.update_audience(ctx, audience.id, data)
                flash(gettext("Audience '%(name)s' saved.", name=audience.name), "success")
                return redirect(url_for(".edit", audience_id=audience.id))
            except CRMError as exc:
                ctx.session.rollback()
                flash(exc.message, "error")
                errors = field_errors(exc)
        others = [a for a in svc.list_audiences(ctx) if audience is None or a.id != audience.id]
        preview = svc.preview(ctx, audience.id) if audience is not None else None
        return self.render("marketing/admin/audience.html", audience=audience, data=data, errors=errors, others=others,
                           preview=preview, builder_text=policy_form.builder_text(),
                           condition_json=json.dumps(data["condition"], ensure_ascii=False)
                           if data.get("condition") is not None else "",
                           can_manage=ctx.can("marketing.manage"), unknown=request.args.getlist("unknown"))

    @expose("/<int:audience_id>/members", methods=["POST"])
    def members(self, audience_id: int) -> Any:
        ctx = self.ctx()
        if not ctx.can("marketing.manage"):
            return self.forbidden()
        unknown: list[str] = []
        try:
            codes = read_codes(request.form.get("codes"), request.files.get("file"))
        except CRMError as exc:
            flash(exc.message, "error")
            return redirect(url_for(".edit", audience_id=audience_id))
        if not codes:
            flash(gettext("Paste customer codes or choose a CSV file."), "error")
        else:
            try:
                result = svc.add_members(ctx, audience_id, codes)
                unknown = result["unknown"]
                flash(gettext("%(added)s customers added, %(already)s were already on the list.",
                              added=result["added"], already=result["already"]), "success")
            except CRMError as exc:
                ctx.session.rollback()
                flash(exc.message, "error")
        return redirect(url_for(".edit", audience_id=audience_id, unknown=unknown[:50]))

    def matches(self, ctx: ServiceContext, body: dict[str, Any]) -> dict[str, Any]:
        """The live size and a sample of the audience being edited, its exclusions taken out (nothing saved)."""
        exclude = [int(v) for v in request.args.getlist("exclude") if v.isdigit()]
        found = svc.preview(ctx, condition=body.get("condition"), exclude=exclude)
        return {"count": found["count"], "sample": [{"id": s["id"], "title": s["name"]} for s in found["sample"][:5]]}
