"""Coupons issued to one customer (the referral rewards call this): single-use, unguessable, unique."""
from __future__ import annotations

import pytest

from crmcore.errors import NotFound, ValidationError
from plugins.sales.services import coupons


@pytest.fixture
def programme(ctx):
    return coupons.save_programme(ctx, {"name": "Welcome 20", "amount": "20"})


def test_issue_coupon_gives_a_new_single_use_code_for_that_customer(ctx, make_customer, programme):
    alice = make_customer("Alice")
    first = coupons.issue_coupon(ctx, programme.id, alice.id, source="referral")
    second = coupons.issue_coupon(ctx, programme.id, alice.id, source="referral")
    assert first.customer_id == alice.id and first.max_uses == 1
    assert first.source == "referral" and first.programme_id == programme.id
    assert first.code != second.code
    assert len(first.code.replace("-", "")) == 12
    assert set(first.code.replace("-", "")) <= set(coupons.ALPHABET)


def test_issue_coupon_refuses_an_unknown_programme_a_closed_one_and_a_deleted_customer(ctx, make_customer,
                                                                                     programme):
    alice = make_customer("Alice")
    with pytest.raises(NotFound):
        coupons.issue_coupon(ctx, programme.id + 99, alice.id, source="referral")
    with pytest.raises(ValidationError) as exc:
        coupons.issue_coupon(ctx, programme.id, alice.id + 99, source="referral")
    assert "customer_id" in exc.value.errors
    coupons.save_programme(ctx, {"active": False}, programme.id)
    with pytest.raises(ValidationError) as exc:
        coupons.issue_coupon(ctx, programme.id, alice.id, source="referral")
    assert "Welcome 20" in exc.value.errors["programme_id"][0]
