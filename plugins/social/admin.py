"""Admin pages of the social plugin: the referral programme as a form, referrals, rewards and top advocates
(names for ids, codes in words, a CSV of the advocates)."""
from __future__ import annotations

from typing import Any

from flask import flash, redirect, request, url_for
from flask_admin import expose

from crmcore.admin.views import SecureView
from crmcore.errors import CRMError
from crmcore.i18n import gettext, lazy_gettext as _l, local_money, local_time

from .labels import REFUSALS, REWARD_KINDS, REWARD_ROLES, REWARD_STATES, SOURCES, word

SOCIAL = _l("Social CRM")
PAGE = 50


def _page() -> int:
    try:
        return max(1, min(int(request.args.get("page") or 1), 100_000))
    except ValueError:
        return 1


def _errors(exc: CRMError) -> dict[str, list[str]]:
    return {k: [str(m) for m in (v if isinstance(v, (list, tuple)) else [v])] for k, v in (exc.errors or {}).items()}


class ProgrammeView(SecureView):
    """The referral programme's settings as a form."""

    permission = "social.read"
    write_permission = "social.manage"

    @expose("/", methods=["GET", "POST"])
    def index(self) -> Any:
        from crmcore.services.unit import unit_of_work

        from .services.programme import programme, update_programme

        ctx = self.ctx()
        errors: dict[str, list[str]] = {}
        form: dict[str, Any] = {}
        if request.method == "POST":
            if not self.can_write():
                return self.forbidden()
            form = {k: (request.form.get(k) or "").strip() for k in
                    ("reward_kind", "referrer_points", "referee_points", "coupon_programme_id",
                     "return_window_days", "decay", "version")}
            data: dict[str, Any] = {k: v for k, v in form.items() if k != "version"}
            data["active"] = bool(request.form.get("active"))
            data["coupon_programme_id"] = data["coupon_programme_id"] or None
            try:
                update_programme(ctx, data, expected_version=int(form["version"]) if form["version"].isdigit() else None)
                flash(gettext("Saved."), "success")
                return redirect(url_for(".index"))
            except CRMError as exc:
                ctx.session.rollback()
                flash(exc.message, "error")
                errors = _errors(exc)
        with unit_of_work(ctx):
            row = programme(ctx)
        values = {"active": row.active, "reward_kind": row.reward_kind, "referrer_points": row.referrer_points,
                  "referee_points": row.referee_points, "coupon_programme_id": row.coupon_programme_id or "",
                  "return_window_days": row.return_window_days, "decay": row.decay, "version": row.version}
        if form:
            values.update({k: v for k, v in form.items() if k != "version"})
            values["active"] = bool(request.form.get("active"))
        from .services.programme import coupon_programmes

        return self.render("social/admin/programme.html", values=values, errors=errors, can_write=self.can_write(),
                           kinds=[(k, str(v)) for k, v in REWARD_KINDS.items()],
                           coupon_programmes=[("", "—")] + [(str(i), n) for i, n in coupon_programmes(ctx)])


class ReferralsView(SecureView):
    """Referrals, newest first: referrer, new customer or lead, how it arrived."""

    permission = "social.read"

    @expose("/")
    def index(self) -> Any:
        from crmcore.models import Customer, User

        from plugins.sales.models import Lead

        from .services.referrals import list_referrals

        ctx = self.ctx()
        page = _page()
        items, total = list_referrals(ctx, page=page, page_size=PAGE)
        rows = []
        for r in items:
            referrer = ctx.session.get(Customer, r.referrer_customer_id) if r.referrer_customer_id else None
            user = ctx.session.get(User, r.referrer_user_id) if r.referrer_user_id else None
            referee = ctx.session.get(Customer, r.referee_customer_id) if r.referee_customer_id else None
            lead = ctx.session.get(Lead, r.lead_id) if r.lead_id else None
            rows.append({"referrer": referrer.name if referrer else ((user.full_name or user.username) if user else ""),
                         "rep": referrer is None and user is not None,
                         "referee": referee.name if referee else "", "lead": lead.name if lead else "",
                         "source": word(SOURCES, r.source), "at": local_time(r.created_at)})
        return self.render("social/admin/referrals.html", rows=rows, total=total, page=page,
                           pages=max(1, (total + PAGE - 1) // PAGE))


class RewardsView(SecureView):
    """Referral rewards: pending until the return window is over, granted, refused (with the reason) or cancelled."""

    permission = "social.read"

    @expose("/")
    def index(self) -> Any:
        from crmcore.models import Customer

        from .models import REWARD_STATES as CODES
        from .services.rewards import list_rewards

        ctx = self.ctx()
        status = request.args.get("status") or None
        status = status if status in CODES else None
        page = _page()
        items, total = list_rewards(ctx, status=status, page=page, page_size=PAGE)
        rows = []
        for r in items:
            customer = ctx.session.get(Customer, r.customer_id)
            rows.append({"customer": customer.name if customer else "", "role": word(REWARD_ROLES, r.role),
                         "kind": word(REWARD_KINDS, r.kind), "points": r.points, "status": word(REWARD_STATES, r.status),
                         "reason": word(REFUSALS, r.reason), "due": local_time(r.due_at) if r.due_at else "",
                         "decided": local_time(r.decided_at) if r.decided_at else ""})
        return self.render("social/admin/rewards.html", rows=rows, total=total, page=page, status=status,
                           pages=max(1, (total + PAGE - 1) // PAGE),
                           statuses=[(k, str(v)) for k, v in REWARD_STATES.items()])


class AdvocatesView(SecureView):
    """The customers with the highest social value, and their CSV."""

    permission = "social.read"

    @expose("/")
    def index(self) -> Any:
        from plugins.sales.services.money import base_currency

        from .services.value import top_advocates

        ctx = self.ctx()
        currency = base_currency(ctx)
        rows = [{**r, "value": local_money(r["social_value"], currency)} for r in top_advocates(ctx, limit=100)]
        return self.render("social/admin/advocates.html", rows=rows)

    @expose("/csv")
    def csv(self) -> Any:
        from .api import advocates_csv
        from .services.value import top_advocates

        return advocates_csv(top_advocates(self.ctx(), limit=1000))


def admin_views(db: Any) -> list[Any]:
    return [
        ProgrammeView(name=_l("Referral programme"), endpoint="social_programme", url="/admin/social/programme",
                      category=SOCIAL),
        ReferralsView(name=_l("Referrals"), endpoint="social_referrals", url="/admin/social/referrals",
                      category=SOCIAL),
        RewardsView(name=_l("Referral rewards"), endpoint="social_rewards", url="/admin/social/rewards",
                    category=SOCIAL),
        AdvocatesView(name=_l("Top advocates"), endpoint="social_advocates", url="/admin/social/advocates",
                      category=SOCIAL),
    ]
