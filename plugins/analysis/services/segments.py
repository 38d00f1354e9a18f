"""The RFM segment table: named score ranges (on the 1-5 scale), seeded with the usual map of
champions, loyal customers, at risk, can't lose, hibernating, lost and the rest; editable data."""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from crmcore.events import record_change
from crmcore.i18n import _, gettext
from crmcore.runtime import ServiceContext
from crmcore.services.unit import apply_changes, unit_of_work
from crmcore.services.validation import load

from ..models import SegmentRule
from ..schemas import SegmentRuleSchema

FIELDS = ("name", "label", "priority", "r_min", "r_max", "f_min", "f_max", "m_min", "m_max", "action", "active")
_SCHEMA = SegmentRuleSchema()

# name, label, priority, (r_min, r_max), (f_min, f_max), (m_min, m_max), suggested action
DEFAULT_SEGMENTS: tuple[tuple[str, str, int, tuple[int, int], tuple[int, int], tuple[int, int], str], ...] = (
    ("champions", "Champions", 10, (4, 5), (4, 5), (4, 5), "Reward them; ask for reviews and referrals."),
    ("loyal", "Loyal customers", 20, (3, 5), (4, 5), (1, 5), "Up-sell; invite to the loyalty programme."),
    ("cant_lose", "Can't lose them", 30, (1, 2), (4, 5), (1, 5), "Win them back personally; call them."),
    ("at_risk", "At risk", 40, (1, 2), (2, 3), (1, 5), "Send a personal offer before they go."),
    ("potential_loyalists", "Potential loyalists", 50, (4, 5), (2, 3), (1, 5), "Offer membership and bundles."),
    ("new", "New customers", 60, (5, 5), (1, 1), (1, 5), "Onboard them; make the second order easy."),
    ("promising", "Promising", 70, (4, 4), (1, 1), (1, 5), "Build the relationship; free shipping."),
    ("need_attention", "Need attention", 80, (3, 3), (2, 3), (1, 5), "Limited-time offers based on history."),
    ("about_to_sleep", "About to sleep", 90, (3, 3), (1, 1), (1, 5), "Recommend popular products; reconnect."),
    ("hibernating", "Hibernating", 100, (2, 2), (1, 1), (1, 5), "Offer other categories; low-cost reminders."),
    ("lost", "Lost customers", 110, (1, 1), (1, 1), (1, 5), "Revive only with a strong reason; else let go."),
)


# The default labels, marked for the catalogue: stored in English, shown in the reader's language
# as long as an admin has not renamed them (a renamed label is shown as written).
DEFAULT_LABELS = [
    _("Champions"),
    _("Loyal customers"),
    _("Can't lose them"),
    _("At risk"),
    _("Potential loyalists"),
    _("New customers"),
    _("Promising"),
    _("Need attention"),
    _("About to sleep"),
    _("Hibernating"),
    _("Lost customers"),
]


# the default suggested actions, marked for the catalogue and shown like the labels
DEFAULT_ACTIONS = [
    _("Reward them; ask for reviews and referrals."),
    _("Up-sell; invite to the loyalty programme."),
    _("Win them back personally; call them."),
    _("Send a personal offer before they go."),
    _("Offer membership and bundles."),
    _("Onboard them; make the second order easy."),
    _("Build the relationship; free shipping."),
    _("Limited-time offers based on history."),
    _("Recommend popular products; reconnect."),
    _("Offer other categories; low-cost reminders."),
    _("Revive only with a strong reason; else let go."),
]


def ensure_segments(ctx: ServiceContext) -> int:
    """Insert the default segments when the table is empty; return how many were added."""
    if ctx.session.scalar(select(func.count()).select_from(SegmentRule)):
        return 0
    for name, label, priority, (r0, r1), (f0, f1), (m0, m1), action in DEFAULT_SEGMENTS:
        ctx.session.add(SegmentRule(name=name, label=label, priority=priority, r_min=r0, r_max=r1, f_min=f0,
                                    f_max=f1, m_min=m0, m_max=m1, action=action))
    ctx.session.flush()
    return len(DEFAULT_SEGMENTS)


def segment_labels(ctx: ServiceContext) -> dict[str, str]:
    """``{name: label}`` of every segment, in priority order, in the reader's language."""
    rows = ctx.session.execute(select(SegmentRule.name, SegmentRule.label).order_by(SegmentRule.priority)).all()
    return {name: gettext(label) for name, label in rows}


def validate_segment(ctx: ServiceContext, data: dict[str, Any], existing: SegmentRule | None) -> dict[str, Any]:
    """A segment rule's input checked by ``SegmentRuleSchema`` (lengths from the model, scores from 1 to 10)
    and, with the values it keeps from ``existing``, each minimum at most its maximum: the one validation."""
    def check(values: dict[str, Any]) -> dict[str, list[Any]]:
        errors: dict[str, list[Any]] = {}
        for dim in "rfm":
            low, high = (values.get(k, getattr(existing, k, None)) for k in (f"{dim}_min", f"{dim}_max"))
            if low is not None and high is not None and low > high:
                errors[f"{dim}_min"] = [_("Scores run from 1 to 10 and the minimum may not exceed the maximum.")]
        return errors

    return load(_SCHEMA, data, partial=existing is not None, message=_("The segment is not valid."), check=check)


def save_segment(ctx: ServiceContext, data: dict[str, Any], segment: SegmentRule | None = None) -> SegmentRule:
    """Create a segment rule, or change ``segment``."""
    ctx.require("analysis.manage")
    data = validate_segment(ctx, data, segment)
    with unit_of_work(ctx):
        rule = segment or SegmentRule()
        changes = apply_changes(rule, data, FIELDS)
        if segment is None:
            ctx.session.add(rule)
        ctx.session.flush()
        record_change(ctx, "analysis_segment_rule", "updated" if segment else "created", rule.id, changes)
    return rule


def delete_segment(ctx: ServiceContext, segment: SegmentRule) -> None:
    ctx.require("analysis.manage")
    with unit_of_work(ctx):
        ctx.session.delete(segment)
        record_change(ctx, "analysis_segment_rule", "deleted", segment.id, {"name": [segment.name, None]})
