"""Uniqueness and dedupe answers never identify customers outside the caller's record scope: a taken
code names the holder only to who may see it, a merged customer's winner is named only to who may
see it, and duplicate suggestions (the core's and a plugin's) list only visible customers."""
from __future__ import annotations

from typing import Any

from crmcore import hookimpl
from crmcore.contracts import DuplicateCandidate
from crmcore.services import customers as customer_svc
from crmcore.services import customer_batch, dedupe


def test_taken_code_names_the_holder_only_within_scope(app: Any, ctx: Any, make_user: Any) -> None:
    alice, alice_h = make_user("sales")
    bob, _ = make_user("sales")
    secret = customer_svc.create_customer(ctx, {"name": "Bob's Secret Client", "code": "SECRET-1", "owner_id": bob.id})
    mine = customer_svc.create_customer(ctx, {"name": "Alice's", "code": "A-1", "owner_id": alice.id})
    secret_id, mine_id = secret.id, mine.id
    client = app.test_client()

    def leaks(res: Any) -> bool:
        text = res.get_data(as_text=True)
        return "Secret" in text or f"customer {secret_id}" in text or f'"id": {secret_id}' in text

    res = client.post("/api/v1/customers", headers=alice_h, json={"name": "New", "code": "SECRET-1"})
    assert res.status_code == 422 and "already used by another customer" in res.json["errors"]["code"][0]
    assert not leaks(res)
    etag = client.get(f"/api/v1/customers/{mine_id}", headers=alice_h).headers["ETag"]
    res = client.patch(f"/api/v1/customers/{mine_id}", headers={**alice_h, "If-Match": etag}, json={"code": "SECRET-1"})
    assert res.status_code == 422 and not leaks(res)
    with_alice = app.extensions["crm"].context(actor=alice, source="test")
    try:
        customer_batch.create_customers(with_alice, [{"name": "Batch", "code": "SECRET-1"}])
    except Exception as exc:  # noqa: BLE001 - the message is what is checked
        assert "another customer" in str(exc.errors["code"][0]) and "Secret" not in str(exc.errors)  # type: ignore[attr-defined]
    else:
        raise AssertionError("a taken code was accepted")
    # who may see the holder is told which customer it is, by name
    res = client.post("/api/v1/customers", headers=make_user("admin")[1], json={"name": "New", "code": "SECRET-1"})
    assert res.status_code == 422 and "Bob's Secret Client" in res.json["errors"]["code"][0]


def test_merged_customer_names_its_winner_only_within_scope(app: Any, ctx: Any, make_user: Any) -> None:
    alice, alice_h = make_user("sales")
    bob, _ = make_user("sales")
    winner = customer_svc.create_customer(ctx, {"name": "Winner", "owner_id": bob.id})
    loser = customer_svc.create_customer(ctx, {"name": "Loser", "owner_id": alice.id})
    winner_id, loser_id = winner.id, loser.id
    dedupe.merge_customers(ctx, winner_id, loser_id)
    res = app.test_client().get(f"/api/v1/customers/{loser_id}", headers=alice_h)
    assert res.status_code == 404 and "another customer" in res.json["message"]
    assert str(winner_id) not in res.json["message"].replace(str(loser_id), "")
    res = app.test_client().get(f"/api/v1/customers/{loser_id}", headers=make_user("admin")[1])
    assert res.status_code == 404 and f"customer {winner_id}" in res.json["message"]


class OutOfScopeSuggester:
    """A plugin suggesting every customer as a duplicate, whatever the reader may see."""

    @hookimpl
    def crm_find_duplicates(self, ctx: Any, customer: Any, limit: int) -> list[DuplicateCandidate]:
        from sqlalchemy import select

        from crmcore.models import Customer

        return [DuplicateCandidate(cid, 0.99, ["plugin"]) for cid in ctx.session.scalars(select(Customer.id))]


def test_duplicate_suggestions_only_list_visible_customers(make_app: Any, make_user: Any) -> None:
    app = make_app(plugins=[("suggester", OutOfScopeSuggester())])
    rt = app.extensions["crm"]
    ctx = rt.context(source="test")
    alice, alice_h = make_user("sales")
    bob, _ = make_user("sales")
    mine = customer_svc.create_customer(ctx, {"name": "Acme Ltd", "phone": "13800138000", "owner_id": alice.id})
    twin = customer_svc.create_customer(ctx, {"name": "Acme Ltd.", "phone": "13800138000", "owner_id": alice.id})
    hidden = customer_svc.create_customer(ctx, {"name": "Acme Ltd", "phone": "13800138000", "owner_id": bob.id})
    ids = (mine.id, twin.id, hidden.id)
    res = app.test_client().get(f"/api/v1/customers/{ids[0]}/duplicates", headers=alice_h)
    assert res.status_code == 200
    assert {d["customer_id"] for d in res.json} == {ids[1]}
    res = app.test_client().get(f"/api/v1/customers/{ids[0]}/duplicates", headers=make_user("admin")[1])
    assert {d["customer_id"] for d in res.json} == {ids[1], ids[2]}
