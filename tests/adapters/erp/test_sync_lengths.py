"""Text longer than its CRM column becomes a sync issue and the page goes on, on SQLite (which would store
it) and PostgreSQL (which would refuse the whole page): customers, their contacts and addresses, products."""
from __future__ import annotations

from sqlalchemy import func, select

from crmcore.columnsizes import column_limits
from adapters.erp.models import SyncIssue
from adapters.erp.runner import run_sync
from crmcore.models import Address, Contact, Customer
from plugins.sales.models import Product

from .conftest import connect


def limit(model, column):
    return model.__table__.c[column].type.length


def test_records_that_do_not_fit_become_issues_and_the_rest_is_stored(ctx, tryton, seed):
    name_max = limit(Customer, "name")
    long_name = "长" * (name_max + 1)
    seed.party("前面的客户")
    too_long = seed.party(long_name)
    seed.party("Contact Too Long Ltd", contacts=[{"type": "email", "value": "x@long.example",
                                                   "name": "名" * (limit(Contact, "name") + 5)}])
    seed.party("Street Too Long Ltd", street="路" * (limit(Address, "line1") + 5))
    seed.party("后面的客户", email="after@fit.example")
    seed.product("产" * (limit(Product, "name") + 1), "LONG-1", "1.00")
    seed.product("Fits", "FIT-1", "2.00")
    connect(ctx, tryton, streams=["customers", "products"])

    for _attempt in range(2):  # a re-run fails the same records the same way, and nothing else
        [result] = run_sync(ctx)
        assert result.error is None and result.errors == {}
        ctx.session.expire_all()
        names = set(ctx.session.scalars(select(Customer.name)))
        assert names == {"前面的客户", "后面的客户"}
        assert set(ctx.session.scalars(select(Product.code))) == {"FIT-1"}
        issues = {i.external_id: i for i in ctx.session.scalars(select(SyncIssue).where(SyncIssue.status == "open"))}
        assert len(issues) == 4 and all(i.kind == "rejected" for i in issues.values())
    # refused by each entity's own validation (the same rules and words as the API and the admin)
    reason = issues[str(too_long)].reason
    assert reason == f"The customer is not valid. name: At most {name_max} characters."
    reasons = {i.reason for i in issues.values()}
    assert f"The contact is not valid. name: At most {limit(Contact, 'name')} characters." in reasons
    assert f"The address is not valid. line1: At most {limit(Address, 'line1')} characters." in reasons
    assert any(i.reason.startswith("The product is not valid.") and f"name: At most {limit(Product, 'name')} characters"
               in i.reason for i in issues.values())  # the product's one validation, not a database error

    # shortened in the ERP: stored on the next run, its issue resolved
    seed.call("model.party.party.write", [too_long], {"name": "改短的名字"})
    run_sync(ctx)
    assert ctx.session.scalar(select(func.count()).select_from(Customer).where(Customer.name == "改短的名字")) == 1
    assert ctx.session.get(SyncIssue, issues[str(too_long)].id).status == "resolved"


def test_lengths_come_from_the_models():
    limits = {where: n for _key, where, n in column_limits(Customer)}
    assert limits["customers.name"] == limit(Customer, "name") and limits["customers.phone"] == limit(Customer, "phone")
    assert "customers.notes" not in limits  # Text: no limit
