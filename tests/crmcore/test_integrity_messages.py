"""A database rule broken inside a service write comes back as a Conflict naming the fields by
their labels, in the reader's language, never as the driver's SQL text (SQLite and PostgreSQL)."""
from __future__ import annotations

import pytest

from crmcore.errors import Conflict
from flask_babel import force_locale
from crmcore.models import Customer
from crmcore.services.unit import unit_of_work


def _clash(ctx, make_customer) -> Conflict:
    first = make_customer("甲公司")
    with pytest.raises(Conflict) as info:
        with unit_of_work(ctx):
            ctx.session.add(Customer(name="乙公司", code=first.code, version=1))
    return info.value


def test_unique_clash_names_the_field_label(app, ctx, make_customer) -> None:
    with app.test_request_context():
        err = _clash(ctx, make_customer)
        text = str(err.message if hasattr(err, "message") else err)
    assert "Code" in text or "code" in text
    for raw in ("constraint", "UNIQUE", "duplicate key", "customers.code", "Key ("):
        assert raw not in text, text


def test_unique_clash_in_chinese(app, ctx, make_customer) -> None:
    with app.test_request_context(), force_locale("zh_CN"):
        err = _clash(ctx, make_customer)
        text = str(err.message if hasattr(err, "message") else err)
    assert "已有" in text and "constraint" not in text, text


def test_missing_required_value_is_named(app, ctx) -> None:
    with app.test_request_context():
        with pytest.raises(Conflict) as info:
            with unit_of_work(ctx):
                ctx.session.add(Customer(name=None, code="NULL-NAME-1", version=1))
        text = str(info.value)
    assert "required" in text and "NOT NULL" not in text and "null value" not in text, text
    # the session is usable again: nothing half-written stays behind
    assert ctx.session.query(Customer).filter_by(code="NULL-NAME-1").count() == 0
