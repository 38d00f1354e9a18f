"""The Tryton fixture itself: a real server answering JSON-RPC with the company set up."""
from __future__ import annotations


def test_tryton_server_has_company_and_accepts_writes(tryton):
    auth, ctx = tryton.session()
    assert ctx["company"]
    company = tryton.call("model.company.company.read", [[ctx["company"]], ["currency"], ctx], auth)[0]
    currency = tryton.call("model.currency.currency.read", [[company["currency"]], ["code"], ctx], auth)[0]
    assert currency["code"] == "CNY"
    [party_id] = tryton.call("model.party.party.create", [[{"name": "张三商贸有限公司"}], ctx], auth)
    rows = tryton.call("model.party.party.search_read", [[("id", "=", party_id)], 0, 10, None, ["name"], ctx], auth)
    assert rows[0]["name"] == "张三商贸有限公司"


def test_each_server_starts_from_a_clean_copy(tryton):
    auth, ctx = tryton.session()
    names = [p["name"] for p in tryton.call("model.party.party.search_read", [[], 0, 100, None, ["name"], ctx], auth)]
    assert "张三商贸有限公司" not in names
