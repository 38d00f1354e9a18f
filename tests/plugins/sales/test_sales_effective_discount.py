"""The quote's effective discount (the largest of its overall and its lines' discounts) in the entity metadata:
both back-ends of the one condition language agree on it, so a policy on it catches a discount that sits on
a line, which a condition on ``discount_percent`` misses (the demo's trap)."""
from __future__ import annotations

from crmcore import conditions
from crmcore.services import approvals as appr
from crmcore.services import condition_fields
from plugins.sales.models import Quote
from plugins.sales.services import catalog, quotes

ABOVE_15 = {"field": "effective_discount", "op": "gt", "value": 15}


def make_quotes(ctx, customer, rep):
    product = catalog.create_product(ctx, {"code": "P1", "name": "Printer", "list_price": "100"})
    on_line = quotes.create_quote(ctx, {"customer_id": customer.id, "owner_id": rep.id, "lines": [
        {"product_id": product.id, "quantity": "1", "discount_percent": "20"}]})
    overall = quotes.create_quote(ctx, {"customer_id": customer.id, "owner_id": rep.id, "discount_percent": "18",
                                        "lines": [{"product_id": product.id, "quantity": "1"}]})
    small = quotes.create_quote(ctx, {"customer_id": customer.id, "owner_id": rep.id, "discount_percent": "5",
                                      "lines": [{"product_id": product.id, "quantity": "1", "discount_percent": "3"}]})
    return on_line, overall, small


def test_both_back_ends_agree_on_the_effective_discount(ctx, make_user, make_customer):
    rep, _ = make_user("sales")
    on_line, overall, small = make_quotes(ctx, make_customer("Acme", rep), rep)
    assert [conditions.evaluate(ABOVE_15, q, ctx) for q in (on_line, overall, small)] == [True, True, False]
    # the trap: the line's 20 % is invisible to a condition on the quote's own discount
    assert not conditions.evaluate({"field": "discount_percent", "op": "gt", "value": 15}, on_line, ctx)
    fields = condition_fields.fields_for(ctx, "quote")
    sql = conditions.compile_sql(ABOVE_15, fields)
    assert set(ctx.session.scalars(ctx.session.query(Quote.id).where(sql).statement)) == {on_line.id, overall.id}
    found = condition_fields.matches(ctx, "quote", {"condition": ABOVE_15})
    assert found["count"] == 2 and {s["id"] for s in found["sample"]} == {on_line.id, overall.id}


def test_the_metadata_offers_it_with_its_label(client, admin_headers):
    fields = {f["name"]: f for f in client.get("/api/v1/meta/entities/quote", headers=admin_headers).json["fields"]}
    assert fields["effective_discount"]["source"] == "computed" and fields["effective_discount"]["type"] == "num"
    assert "largest" in fields["effective_discount"]["label"]
    assert fields["customer.name"]["source"] == "related"


def test_a_policy_on_it_sends_a_line_discount_to_the_owners_manager(rt, ctx, make_user, make_customer):
    rep, _ = make_user("sales", team="East")
    manager, _ = make_user("manager", team="East")
    from crmcore.models import Team
    ctx.session.query(Team).filter_by(name="East").one().manager_id = manager.id
    ctx.session.commit()
    appr.create_policy(ctx, {"name": "Discounts", "entity": "quote", "action": "submit", "tiers": [
        {"condition": ABOVE_15, "reviewers": [{"kind": "manager_of", "value": "owner_id"}]}]})
    on_line, _overall, small = make_quotes(ctx, make_customer("Acme", rep), rep)
    rctx = rt.context(actor=rep)
    assert quotes.submit_quote(rctx, on_line.id).status == "pending_approval"
    assert quotes.submit_quote(rctx, small.id).status == "approved"
    [task] = appr.inbox(rt.context(actor=manager))
    assert task.request.entity_id == on_line.id
