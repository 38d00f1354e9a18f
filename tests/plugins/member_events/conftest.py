"""Fixtures of the member events tests: the app with marketing and member events loaded like third parties."""
from __future__ import annotations

import datetime as dt
from typing import Any, Callable

import pytest

from plugins.marketing import models as marketing_models  # noqa: F401 - tables on the metadata before the database
from plugins.member_events import models  # noqa: F401


@pytest.fixture
def app(make_app: Callable[..., Any]) -> Any:
    return make_app(PLUGINS=["plugins.marketing", "plugins.member_events"], MARKETING_PUBLIC_URL="https://crm.example.cn")


@pytest.fixture
def make_event(ctx: Any) -> Callable[..., Any]:
    """``make_event(days=3, capacity=2)`` -> an event at 19:00 Shanghai time ``days`` from today."""
    from plugins.member_events.services import events

    def factory(name: str = "会员答谢会", days: int = 3, **data: Any) -> Any:
        day = (dt.datetime.now(dt.timezone(dt.timedelta(hours=8))) + dt.timedelta(days=days)).date()
        return events.save_event(ctx, {"name": name, "place": "西湖国宾馆", "starts_at": f"{day.isoformat()}T19:00",
                                       "timezone": "Asia/Shanghai", **data})

    return factory
