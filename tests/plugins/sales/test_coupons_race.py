"""Two orders taking a single-use code's last use at the same moment: one gets it, the other is refused
(the code and its programme are locked and the uses counted again when the use is written)."""
from __future__ import annotations

import datetime as dt
import threading
from typing import Any

from crmcore import hookimpl
from crmcore.errors import CRMError
from plugins.sales.services import catalog, coupons, orders


class BothValidated:
    """Holds each order before it is written until both were validated (both saw the code unused)."""

    def __init__(self) -> None:
        self.barrier = threading.Barrier(2, timeout=30)

    @hookimpl
    def crm_before_save(self, ctx: Any, entity: str, obj: Any, changes: Any, created: bool) -> None:
        if entity == "order" and created:
            self.barrier.wait()


def test_two_orders_cannot_both_take_the_last_use(rt, ctx, make_customer):
    acme = make_customer("Acme")
    product = catalog.create_product(ctx, {"code": "P1", "name": "Printer", "list_price": "100"})
    programme = coupons.save_programme(ctx, {"name": "Once", "amount": "10"})
    [coupon] = coupons.generate_codes(ctx, programme.id, {"count": 1})
    code, customer_id, product_id = coupon.code, acme.id, product.id
    ctx.session.close()
    hold = BothValidated()
    rt.pm.register(hold)
    outcomes: dict[str, Any] = {}

    def place(number: str) -> None:
        session = rt.db.new_session()
        try:
            order = orders.record_order(rt.context(source="test", session=session), {
                "number": number, "customer_id": customer_id, "order_date": dt.date.today().isoformat(),
                "coupon_code": code, "lines": [{"product_id": product_id, "unit_price": "100"}]})
            outcomes[number] = order.total
        except CRMError as exc:
            outcomes[number] = exc
        finally:
            session.close()

    try:
        threads = [threading.Thread(target=place, args=(n,)) for n in ("SO-A", "SO-B")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        rt.pm.unregister(hold)
    won = [n for n, v in outcomes.items() if not isinstance(v, CRMError)]
    lost = [v for v in outcomes.values() if isinstance(v, CRMError)]
    assert len(won) == 1 and outcomes[won[0]] == 90, outcomes
    assert len(lost) == 1 and "used already" in str(lost[0].message), outcomes
    report = coupons.usage(rt.context(source="test"), programme.id)[0]
    assert report["redeemed"] == 1
