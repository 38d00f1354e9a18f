"""Business-hours arithmetic: overnight, weekends, holiday spans, make-up Saturdays (调休), split
days, and a time zone without DST (Asia/Shanghai) against one with DST (Europe/Berlin)."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from crmcore.errors import ValidationError
from plugins.service.services.businesshours import ALWAYS, BusinessHours, parse_hours

SH = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
UTC = dt.timezone.utc
WEEK = {str(d): [["09:00", "18:00"]] for d in range(1, 6)}


def sh(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SH)


def china_2026() -> BusinessHours:
    """National Day 2026 as announced: 1-7 October off, Sunday 27 September and Saturday 10 October worked."""
    days = [(dt.date(2026, 10, d), "holiday", None) for d in range(1, 8)]
    days += [(dt.date(2026, 9, 27), "workday", None), (dt.date(2026, 10, 10), "workday", None)]
    return BusinessHours.from_data("Asia/Shanghai", WEEK, days)


def test_within_one_day():
    bh = BusinessHours.from_data("Asia/Shanghai", WEEK)
    assert bh.add(sh(2026, 3, 2, 10, 0), 120) == sh(2026, 3, 2, 12, 0).astimezone(UTC)


def test_overnight_carries_to_next_morning():
    bh = BusinessHours.from_data("Asia/Shanghai", WEEK)
    # Monday 17:00 + 4h: 1h on Monday, 3h on Tuesday from 09:00
    assert bh.add(sh(2026, 3, 2, 17, 0), 240) == sh(2026, 3, 3, 12, 0)
    # received at night: the clock starts at 09:00
    assert bh.add(sh(2026, 3, 2, 22, 30), 30) == sh(2026, 3, 3, 9, 30)


def test_weekend_is_skipped():
    bh = BusinessHours.from_data("Asia/Shanghai", WEEK)
    # Friday 2026-03-06 16:00 + 8h = 2h Friday + 6h Monday -> Monday 15:00
    assert bh.add(sh(2026, 3, 6, 16, 0), 480) == sh(2026, 3, 9, 15, 0)
    # Saturday submission counts from Monday 09:00
    assert bh.add(sh(2026, 3, 7, 11, 0), 60) == sh(2026, 3, 9, 10, 0)
    assert bh.minutes_between(sh(2026, 3, 6, 16, 0), sh(2026, 3, 9, 15, 0)) == 480


def test_holiday_span_and_make_up_workdays():
    bh = china_2026()
    # Wednesday 30 Sept 17:00, 4 business hours: 1h on the 30th, the 1st-7th off (the 8th is a Thursday)
    assert bh.add(sh(2026, 9, 30, 17, 0), 240) == sh(2026, 10, 8, 12, 0)
    # Friday 9 Oct 17:00 + 2h: the make-up Saturday the 10th counts
    assert bh.add(sh(2026, 10, 9, 17, 0), 120) == sh(2026, 10, 10, 10, 0)
    # and the make-up Sunday before the holiday
    assert bh.add(sh(2026, 9, 26, 12, 0), 60) == sh(2026, 9, 27, 10, 0)
    # a normal Saturday still does not
    assert bh.add(sh(2026, 10, 16, 17, 0), 120) == sh(2026, 10, 19, 10, 0)
    assert bh.hours_on(dt.date(2026, 10, 3)) == [] and bh.hours_on(dt.date(2026, 10, 10))


def test_minutes_between_inverts_add():
    bh = china_2026()
    start = sh(2026, 9, 29, 14, 20)
    for minutes in (1, 59, 540, 1000, 4321):
        end = bh.add(start, minutes)
        assert bh.minutes_between(start, end) == pytest.approx(minutes)
    assert bh.minutes_between(sh(2026, 10, 2, 9), sh(2026, 10, 5, 18)) == 0
    assert bh.minutes_between(sh(2026, 10, 9, 18), sh(2026, 10, 9, 9)) == -540


def test_split_days_lunch_break():
    bh = BusinessHours.from_data("Asia/Shanghai", {str(d): [["09:00", "12:00"], ["13:30", "18:00"]] for d in range(1, 6)})
    assert bh.add(sh(2026, 3, 2, 11, 0), 90) == sh(2026, 3, 2, 14, 0)
    assert not bh.is_open(sh(2026, 3, 2, 12, 30)) and bh.is_open(sh(2026, 3, 2, 13, 30))


def test_shanghai_has_no_dst_but_berlin_does():
    shanghai = BusinessHours.from_data("Asia/Shanghai", WEEK)
    berlin = BusinessHours.from_data("Europe/Berlin", WEEK)
    # Berlin springs forward on Sunday 2026-03-29: 09:00 is 08:00 UTC on Friday, 07:00 UTC on Monday
    assert berlin.add(dt.datetime(2026, 3, 27, 17, tzinfo=BERLIN), 120) == dt.datetime(2026, 3, 30, 8, tzinfo=UTC)
    assert berlin.add(dt.datetime(2026, 3, 27, 17, tzinfo=BERLIN), 120) == dt.datetime(2026, 3, 30, 10, tzinfo=BERLIN)
    # a week of business hours is 45h in both zones although Berlin's week is one hour shorter
    assert berlin.minutes_between(dt.datetime(2026, 3, 23, tzinfo=BERLIN), dt.datetime(2026, 3, 30, tzinfo=BERLIN)) == 45 * 60
    # Shanghai 09:00 is 01:00 UTC all year
    for month in (1, 4, 7, 10):
        assert shanghai.add(sh(2026, month, 5, 0, 0), 0.0001).astimezone(UTC).hour in (1,)
    # the autumn fall-back: Berlin 25 Oct 2026; Monday 26 Oct 09:00 CET = 08:00 UTC
    assert berlin.add(dt.datetime(2026, 10, 23, 17, 30, tzinfo=BERLIN), 60) == dt.datetime(2026, 10, 26, 8, 30, tzinfo=UTC)


def test_a_dst_day_has_23_or_25_hours():
    berlin = BusinessHours.from_data("Europe/Berlin", {str(d): [["00:00", "24:00"]] for d in range(1, 8)})
    spring = (dt.datetime(2026, 3, 29, tzinfo=BERLIN), dt.datetime(2026, 3, 30, tzinfo=BERLIN))
    autumn = (dt.datetime(2026, 10, 25, tzinfo=BERLIN), dt.datetime(2026, 10, 26, tzinfo=BERLIN))
    assert berlin.minutes_between(*spring) == 23 * 60
    assert berlin.minutes_between(*autumn) == 25 * 60
    shanghai = BusinessHours.from_data("Asia/Shanghai", {str(d): [["00:00", "24:00"]] for d in range(1, 8)})
    assert shanghai.minutes_between(sh(2026, 3, 29), sh(2026, 3, 30)) == 24 * 60


def test_round_the_clock_and_input_checks():
    start = dt.datetime(2026, 3, 7, 23, 0, tzinfo=UTC)
    assert ALWAYS.add(start, 120) == dt.datetime(2026, 3, 8, 1, 0, tzinfo=UTC)
    with pytest.raises(ValueError):
        ALWAYS.add(dt.datetime(2026, 3, 7), 10)
    with pytest.raises(ValueError):
        parse_hours([["18:00", "09:00"]])
    with pytest.raises(ValueError):
        parse_hours([["09:00", "12:00"], ["11:00", "13:00"]])
    with pytest.raises(ValidationError, match="time zone"):
        BusinessHours.from_data("Mars/Olympus", WEEK)
    closed = BusinessHours.from_data("Asia/Shanghai", {})
    with pytest.raises(ValueError, match="no business hours"):
        closed.add(sh(2026, 1, 1, 9), 10)
