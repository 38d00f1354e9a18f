"""Business-hours arithmetic: add business minutes to a time and count business minutes between
two times, across weekends, holidays and make-up workdays (调休), in any IANA time zone (DST too).

Pure functions over a :class:`BusinessHours` value; no database. Times in and out are
timezone-aware (results in UTC).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, Iterator
from zoneinfo import ZoneInfo

from crmcore.timezones import zone

UTC = dt.timezone.utc
MAX_DAYS = 3 * 366  # a target further than this in business time is a configuration error
DEFAULT_WEEKLY = {str(d): [["09:00", "18:00"]] for d in range(1, 6)}

Interval = tuple[dt.time, dt.time]


def parse_hours(spans: Any) -> list[Interval]:
    """``[["09:00", "12:00"], ["13:00", "18:00"]]`` -> sorted time pairs; ``"24:00"`` ends a day."""
    out: list[Interval] = []
    for span in spans or []:
        start, end = (str(x) for x in span)
        t_start = dt.time.fromisoformat(start)
        t_end = dt.time.max if end in ("24:00", "24:00:00") else dt.time.fromisoformat(end)
        if t_end <= t_start:
            raise ValueError(f"{start}-{end}: the end must be after the start")
        out.append((t_start, t_end))
    out.sort()
    for (_, a_end), (b_start, _) in pairwise(out):
        if b_start < a_end:
            raise ValueError("business hours overlap")
    return out


@dataclass
class BusinessHours:
    """Weekly hours (ISO weekday 1=Monday .. 7) in ``timezone``, with dated exceptions.

    ``holidays``: dates with no business hours. ``workdays``: dates that are business days even
    on a weekend (make-up workdays), with their own hours or, when None, ``default_hours``.
    """

    timezone: str = "Asia/Shanghai"
    weekly: dict[int, list[Interval]] = field(default_factory=dict)
    holidays: set[dt.date] = field(default_factory=set)
    workdays: dict[dt.date, list[Interval] | None] = field(default_factory=dict)
    default_hours: list[Interval] = field(default_factory=lambda: parse_hours([["09:00", "18:00"]]))

    @classmethod
    def from_data(cls, timezone: str, weekly: dict[str, Any] | None, days: list[tuple[dt.date, str, Any]] = ()) -> "BusinessHours":
        """Build from stored data: ``weekly`` ``{"1": [["09:00","18:00"]], ...}`` and ``(day, kind, hours)`` rows."""
        zone(timezone)  # unknown zones fail here, as a ValidationError
        week = {int(k): parse_hours(v) for k, v in (weekly if weekly is not None else DEFAULT_WEEKLY).items()}
        default = next((h for _, h in sorted(week.items()) if h), parse_hours([["09:00", "18:00"]]))
        holidays: set[dt.date] = set()
        workdays: dict[dt.date, list[Interval] | None] = {}
        for day, kind, hours in days:
            if kind == "holiday":
                holidays.add(day)
            else:
                workdays[day] = parse_hours(hours) if hours else None
        return cls(timezone=timezone, weekly=week, holidays=holidays, workdays=workdays, default_hours=default)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def hours_on(self, day: dt.date) -> list[Interval]:
        """The business intervals of a local date."""
        if day in self.workdays:
            return self.workdays[day] or self.default_hours
        if day in self.holidays:
            return []
        return self.weekly.get(day.isoweekday(), [])

    def spans(self, day: dt.date) -> Iterator[tuple[dt.datetime, dt.datetime]]:
        """The business intervals of a local date as UTC datetimes (a DST gap or fold is resolved by zoneinfo)."""
        tz = self.tz
        for start, end in self.hours_on(day):
            a = dt.datetime.combine(day, start, tzinfo=tz).astimezone(UTC)
            if end == dt.time.max:
                b = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=tz).astimezone(UTC)
            else:
                b = dt.datetime.combine(day, end, tzinfo=tz).astimezone(UTC)
            if b > a:
                yield a, b

    def _days_from(self, moment: dt.datetime) -> Iterator[dt.date]:
        day = moment.astimezone(self.tz).date() - dt.timedelta(days=1)  # spans of the eve may reach past midnight
        for _ in range(MAX_DAYS + 2):
            yield day
            day += dt.timedelta(days=1)
        raise ValueError("no business hours within three years; check the calendar")

    def add(self, start: dt.datetime, minutes: float) -> dt.datetime:
        """The moment ``minutes`` business minutes after ``start`` (UTC)."""
        _aware(start)
        start = start.astimezone(UTC)
        remaining = dt.timedelta(minutes=minutes)
        if remaining <= dt.timedelta(0):
            return start
        for day in self._days_from(start):
            for a, b in self.spans(day):
                if b <= start:
                    continue
                a = max(a, start)
                if b - a >= remaining:
                    return a + remaining
                remaining -= b - a
        raise AssertionError("unreachable")

    def minutes_between(self, start: dt.datetime, end: dt.datetime) -> float:
        """Business minutes from ``start`` to ``end`` (negative when ``end`` is earlier)."""
        _aware(start)
        _aware(end)
        if end < start:
            return -self.minutes_between(end, start)
        start, end = start.astimezone(UTC), end.astimezone(UTC)
        total = dt.timedelta(0)
        for day in self._days_from(start):
            if dt.datetime.combine(day, dt.time(0), tzinfo=self.tz) > end:
                break
            for a, b in self.spans(day):
                a, b = max(a, start), min(b, end)
                if b > a:
                    total += b - a
        return total.total_seconds() / 60

    def is_open(self, moment: dt.datetime) -> bool:
        _aware(moment)
        day = moment.astimezone(self.tz).date()
        return any(a <= moment < b for d in (day - dt.timedelta(days=1), day) for a, b in self.spans(d))


def _aware(moment: dt.datetime) -> None:
    if moment.tzinfo is None:
        raise ValueError("naive datetime given; use timezone-aware times")


ALWAYS = BusinessHours(timezone="UTC", weekly={d: parse_hours([["00:00", "24:00"]]) for d in range(1, 8)})
"""Round-the-clock hours: what a policy without a calendar uses."""
