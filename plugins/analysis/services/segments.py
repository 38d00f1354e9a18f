"""The RFM segment table: named score ranges (on the 1-5 scale), seeded with the usual map of
champions, loyal customers, at risk, can't lose, hibernating, lost and the rest; editable data."""
from __future__ import annotations


from sqlalchemy import func, select

from crmcore.i18n import _, gettext
from crmcore.runtime import ServiceContext

from ..models import SegmentRule

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
