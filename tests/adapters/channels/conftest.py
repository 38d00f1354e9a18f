"""Fixtures of the channel adapter tests: the app with the sales and service plugins and ``adapters.channels``."""
from __future__ import annotations

import datetime as dt
import itertools
from typing import Any, Callable

import pytest

from adapters.channels import models as channel_models  # noqa: F401 - the tables are on the metadata before the database fixture
from adapters.channels.base import Inbound
from plugins.sales import models as sales_models  # noqa: F401
from plugins.service import models as service_models  # noqa: F401

PLUGINS = ["plugins.sales", "plugins.service", "adapters.channels"]
_ids = itertools.count(1)


@pytest.fixture
def app(make_app: Callable[..., Any]) -> Any:
    return make_app(PLUGINS=PLUGINS)


def inbound(**kwargs: Any) -> Inbound:
    """An ``Inbound`` from the WeChat account ``wxAPP`` unless told otherwise."""
    values: dict[str, Any] = {"platform": "wechat", "account": "wxAPP", "sender": "oFOLLOWER", "msg_id": f"m{next(_ids)}",
                              "kind": "text", "text": "你好", "received_at": dt.datetime(2026, 12, 6, 8, 0, tzinfo=dt.timezone.utc)}
    values.update(kwargs)
    return Inbound(**values)


@pytest.fixture
def fake_wechat() -> Any:
    from .platforms import FakeWeChat

    fake = FakeWeChat()
    yield fake
    fake.stop()


@pytest.fixture
def wechat_account(ctx: Any, fake_wechat: Any) -> Callable[..., Any]:
    """``wechat_account(mode="safe", **config)`` -> the fake's Official Account set up in the CRM."""
    from adapters.channels import accounts

    def factory(mode: str = "plain", **config: Any) -> Any:
        return accounts.save_account(ctx, {
            "platform": "wechat", "account": fake_wechat.app_id, "name": "服务号",
            "config": {"mode": mode, "base_url": fake_wechat.url, **config},
            "secrets": {"app_secret": fake_wechat.app_secret, "token": fake_wechat.token,
                        "encoding_aes_key": fake_wechat.aes_key}})

    return factory
