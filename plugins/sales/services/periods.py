"""Reporting periods: ``2026-03`` (month), ``2026-Q1`` (quarter), ``2026`` (year) or a date range.

A period is ``[start, end)`` in calendar days of the CRM's time zone (``DEFAULT_TIMEZONE``);
``start_utc`` / ``end_utc`` are the same instants in UTC for timestamp columns.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from crmcore.errors import ValidationError
from crmcore.i18n import _
from crmcore.runtime import ServiceContext

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$", re.I)
_YEAR = re.compile(r"^(\d{4})$")
_RANGE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})$")
FIRST_YEAR, LAST_YEAR = 1900, 2999  # reports compare with the period before: keep both far from the calendar's edges


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True)
class Period:
    """Calendar days ``[start, end)`` with a kind (month, quarter, year, range) and a label."""

    start: dt.date
    end: dt.date
    kind: str
    label: str
    tz: str = "UTC"

    @property
    def start_utc(self) -> dt.datetime:
        return dt.datetime.combine(self.start, dt.time(), ZoneInfo(self.tz)).astimezone(dt.timezone.utc)

    @property
    def end_utc(self) -> dt.datetime:
        return dt.datetime.combine(self.end, dt.time(), ZoneInfo(self.tz)).astimezone(dt.timezone.utc)

    def previous(self) -> "Period":
        """The period just before, of the same kind (a range: the same number of days)."""
        if self.kind == "month":
            start = _add_months(self.start, -1)
            return Period(start, self.start, "month", f"{start:%Y-%m}", self.tz)
        if self.kind == "quarter":
            start = _add_months(self.start, -3)
            return Period(start, self.start, "quarter", f"{start.year}-Q{(start.month - 1) // 3 + 1}", self.tz)
        if self.kind == "year":
            start = dt.date(self.start.year - 1, 1, 1)
            return Period(start, self.start, "year", str(start.year), self.tz)
        start = self.start - (self.end - self.start)
        last = self.start - dt.timedelta(days=1)
        return Period(start, self.start, "range", f"{start.isoformat()}..{last.isoformat()}", self.tz)

    def months(self) -> list[tuple[int, int]]:
        """The (year, month) pairs whose first day falls in the period (for monthly plans)."""
        out = []
        day = self.start if self.start.day == 1 else _add_months(self.start, 1)
        while day < self.end:
            out.append((day.year, day.month))
            day = _add_months(day, 1)
        return out

    def contains(self, day: dt.date) -> bool:
        return self.start <= day < self.end


def parse_period(text: str | None, ctx: ServiceContext | None = None, today: dt.date | None = None) -> Period:
    """Parse a period; None means the current month. Ranges are inclusive: ``2026-01-01..2026-01-31``."""
    tz = str((ctx.settings.get("DEFAULT_TIMEZONE") if ctx is not None else None) or "UTC")
    if not text:
        today = today or dt.datetime.now(ZoneInfo(tz)).date()
        start = today.replace(day=1)
        return Period(start, _add_months(start, 1), "month", f"{start:%Y-%m}", tz)
    text = text.strip()
    period = _parse(text, tz)
    if period.start.year < FIRST_YEAR or period.end > dt.date(LAST_YEAR + 1, 1, 1):
        raise ValidationError(_("The period is not valid."), errors={"period": [
            _("Give a period between %(first)s and %(last)s.", first=FIRST_YEAR, last=LAST_YEAR)]})
    return period


def _parse(text: str, tz: str) -> Period:
    try:
        if m := _MONTH.match(text):
            start = dt.date(int(m[1]), int(m[2]), 1)
            return Period(start, _add_months(start, 1), "month", text, tz)
        if m := _QUARTER.match(text):
            start = dt.date(int(m[1]), (int(m[2]) - 1) * 3 + 1, 1)
            return Period(start, _add_months(start, 3), "quarter", f"{m[1]}-Q{m[2]}", tz)
        if m := _YEAR.match(text):
            start = dt.date(int(m[1]), 1, 1)
            return Period(start, dt.date(start.year + 1, 1, 1), "year", text, tz)
        if m := _RANGE.match(text):
            start, last = dt.date.fromisoformat(m[1]), dt.date.fromisoformat(m[2])
            if last < start:
                raise ValidationError(_("The period is not valid."), errors={"period": [_("the range ends before it starts")]})
            return Period(start, last + dt.timedelta(days=1), "range", text, tz)
    except (ValueError, OverflowError):  # month 13, day 32, the year after 9999: no such date
        pass
    raise ValidationError(_("The period is not valid."), errors={
        "period": [_("Use 2026-03 (month), 2026-Q1 (quarter), 2026 (year) or 2026-01-01..2026-01-31.")]})
