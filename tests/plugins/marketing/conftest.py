"""Fixtures of the marketing plugin's tests: the app with sales and marketing loaded like third parties, and
customers with e-mail addresses and consents; the SMTP server comes from the testing kit (``smtp_server``)."""
from __future__ import annotations

from typing import Any, Callable

import pytest

from plugins.marketing import models  # noqa: F401 - the tables are on the metadata before the database fixture
from plugins.sales import models as sales_models  # noqa: F401


@pytest.fixture
def app(make_app: Callable[..., Any], smtp_server: Any) -> Any:
    _inbox, port = smtp_server
    return make_app(PLUGINS=["plugins.sales", "plugins.marketing"], MARKETING_SMTP_HOST="127.0.0.1",
                    MARKETING_SMTP_PORT=str(port), MARKETING_FROM="news@shop.example",
                    MARKETING_PUBLIC_URL="https://crm.shop.example", COMPANY_NAME="星河家居")


@pytest.fixture
def inbox(smtp_server: Any) -> Any:
    return smtp_server[0]


@pytest.fixture
def subscriber(ctx: Any, make_customer: Callable[..., Any]) -> Callable[..., Any]:
    """``subscriber("王芳", "wang@example.cn", consent=True, stage="customer")`` -> a customer who agreed (or not)."""
    from plugins.marketing.services import consent

    def factory(name: str, email: str | None, consent_given: bool = True, **data: Any) -> Any:
        customer = make_customer(name, email=email, **data)
        if consent_given:
            consent.record(ctx, customer.id, {"channel": "email", "status": "granted", "source": "form",
                                              "text": "我愿意接收星河家居的优惠信息"})
        return customer

    return factory
