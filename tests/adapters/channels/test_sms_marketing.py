"""Marketing sends on the ``sms`` channel through Alibaba Cloud (its fake): the audience snapshotted with the
customers' phone numbers (the provider's address expression), consent for SMS, one message per customer with
the vendor template, and a vendor that is down leaving the batch for later."""
from __future__ import annotations

from typing import Any

import pytest

from adapters.channels.sms import SmsChannel
from crmcore.channels import ChannelDown
from crmcore import hookimpl
from plugins.marketing import models  # noqa: F401 - the tables are on the metadata before the database fixture
from plugins.marketing.services import audiences, campaigns, consent, templates
from plugins.sales import models as sales_models  # noqa: F401

from .sms_fakes import FakeAliyun
from .test_sms_aliyun import sms_account


class SmsPlugin:
    @hookimpl
    def crm_channels(self) -> list[Any]:
        return [SmsChannel()]


@pytest.fixture
def fake() -> Any:
    vendor = FakeAliyun()
    yield vendor
    vendor.stop()


@pytest.fixture
def app(make_app: Any, fake: FakeAliyun) -> Any:
    return make_app(plugins=[("sms-test", SmsPlugin())], PLUGINS=["plugins.sales", "plugins.marketing"])


@pytest.fixture(autouse=True)
def account(ctx: Any, fake: FakeAliyun) -> Any:
    return sms_account(ctx, fake.url)


def test_a_campaign_sends_sms_through_the_vendor(ctx, fake, make_customer):
    people = [make_customer("王芳", phone="138 0013 8000", stage="customer"),
              make_customer("李雷", phone="+86 139-0013-9000", stage="customer"),
              make_customer("没号码", stage="customer"),
              make_customer("未同意", phone="13700137000", stage="customer")]
    for person in people[:3]:
        consent.record(ctx, person.id, {"channel": "sms", "status": "granted", "source": "form",
                                        "text": "我愿意接收短信优惠信息"})
    audience = audiences.create_audience(ctx, {"name": "SMS audience", "condition": {
        "field": "stage", "op": "eq", "value": "customer"}})
    template = templates.create_template(ctx, {"name": "会员日短信", "channel": "sms", "subject": "SMS_200000001",
                                               "text": '{"name": "{{ customer.name }}", "coupon": "VIP88"}'})
    campaign = campaigns.create_campaign(ctx, {"name": "会员日", "audience_id": audience.id,
                                               "template_id": template.id, "channel": "sms"})
    assert campaigns.readiness(ctx, campaign)["reachable"] == 2
    campaigns.start(ctx, campaign.id)
    fake.down = True
    with pytest.raises(ChannelDown):
        campaigns.send_campaign(ctx, campaign.id)
    assert fake.sent == []
    fake.down = False
    assert campaigns.send_campaign(ctx, campaign.id) == {"sent": 2}
    assert sorted((s["phone"], s["params"]["name"], s["template"]) for s in fake.sent) == [
        ("13800138000", "王芳", "SMS_200000001"), ("13900139000", "李雷", "SMS_200000001")]
