"""The preference page's logic (a signed link in every marketing mail, no login): a customer's consents per
channel and purpose with their source, time and text, and the changes they make, recorded as consents."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select

from crmcore.i18n import _
from crmcore.runtime import ServiceContext

from ..labels import CHANNELS as CHANNEL_LABELS, PURPOSES as PURPOSE_LABELS
from ..models import CHANNELS, PURPOSES, Consent
from . import consent

SOURCE = "preference_page"


@dataclass
class Choice:
    """One channel and purpose as the page shows it: the statement that counts (or the pending one)."""

    channel: str
    purpose: str
    granted: bool
    status: str | None
    source: str | None
    at: dt.datetime | None
    text: str | None


def statement(channel: str, purpose: str, company: str) -> str:
    """The sentence a customer agrees to by ticking a box, in the reader's language (kept as the evidence)."""
    return str(_("I agree to receive %(purpose)s from %(company)s by %(channel)s.",
                 purpose=PURPOSE_LABELS[purpose], company=company or _("us"), channel=CHANNEL_LABELS[channel]))


def choices(ctx: ServiceContext, customer_id: int) -> list[Choice]:
    """Per channel and purpose, the statement that counts (a pending grant while nothing else was stated)."""
    rows = list(ctx.session.scalars(select(Consent).where(Consent.customer_id == customer_id)
                                    .order_by(Consent.id.desc())))
    out = []
    for channel in CHANNELS:
        for purpose in PURPOSES:
            mine = [r for r in rows if r.channel == channel and r.purpose == purpose]
            latest = next((r for r in mine if r.status != "pending"), mine[0] if mine else None)
            out.append(Choice(channel, purpose, bool(latest and latest.status == "granted"),
                              latest.status if latest else None, latest.source if latest else None,
                              latest.recorded_at if latest else None, latest.text if latest else None))
    return out


def change(ctx: ServiceContext, customer_id: int, wanted: set[tuple[str, str]]) -> list[Consent]:
    """Record what the customer changed on the page: a grant (with the sentence shown) for each box newly
    ticked, a withdrawal for each box cleared; boxes left as they were record nothing."""
    company = str(ctx.settings.get("COMPANY_NAME") or "")
    recorded = []
    for choice in choices(ctx, customer_id):
        want = (choice.channel, choice.purpose) in wanted
        if want == choice.granted:
            continue
        text = statement(choice.channel, choice.purpose, company) if want else str(_("Cleared on the preference page."))
        recorded.append(consent.record(ctx, customer_id, {
            "channel": choice.channel, "purpose": choice.purpose, "status": "granted" if want else "withdrawn",
            "source": SOURCE, "text": text}))
    return recorded
