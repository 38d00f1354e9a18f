"""An ERP address's country reaches the CRM as its ISO code (``CHN``, ``China``, ``中国`` are ``CN``), never cut
to two characters (``Germany`` was stored as ``GE``, Georgia); a country that names none leaves the address
out in the record's ``invalid`` sync issue, and it comes in once the ERP corrects it."""
from __future__ import annotations

import csv

from sqlalchemy import select

from adapters.erp.connections import save_connection
from adapters.erp.countries import country_code
from adapters.erp.models import SyncIssue
from adapters.erp.runner import run_sync
from crmcore.models import Address, Customer

HEADER = ["external_id", "name", "updated_at", "address_line1", "address_city", "address_country"]


def drop(folder, rows: list[tuple[str, str, str, str]]) -> None:
    with (folder / "customers.csv").open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(HEADER)
        for n, (ext, name, line1, country) in enumerate(rows):
            out.writerow([ext, name, f"2026-11-01T00:00:{n:02d}+00:00", line1, "City", country])


def countries(ctx) -> dict[str, str]:
    ctx.session.expire_all()
    return dict(ctx.session.execute(select(Customer.name, Address.country).join(Address.customer)).all())


def test_country_names_and_codes_become_iso_codes(ctx, tmp_path):
    rows = [("K1", "Berlin GmbH", "Unter den Linden 1", "Germany"), ("K2", "北京公司", "长安街 1 号", "中国"),
            ("K3", "Shanghai Ltd", "Nanjing Road 1", "CHN"), ("K4", "Austin Inc", "Congress Ave 1", "us"),
            ("K5", "Default Co", "Main Street 1", ""), ("K6", "Nowhere Co", "Nowhere Street 1", "Atlantis")]
    drop(tmp_path, rows)
    save_connection(ctx, {"name": "files", "adapter": "csv", "settings": {"directory": str(tmp_path)},
                          "streams": ["customers"], "push_enabled": False})
    [result] = run_sync(ctx, push=False)
    assert result.errors == {} and result.streams["customers"].created == 6

    assert countries(ctx) == {"Berlin GmbH": "DE", "北京公司": "CN", "Shanghai Ltd": "CN", "Austin Inc": "US",
                              "Default Co": "CN"}
    nowhere = ctx.session.scalar(select(Customer).where(Customer.name == "Nowhere Co"))
    assert nowhere.addresses == []  # not stored under a made-up or cut code
    [issue] = ctx.session.scalars(select(SyncIssue).where(SyncIssue.status == "open")).all()
    assert (issue.kind, issue.external_id) == ("invalid", "K6")
    assert issue.payload["fields"] == {"address Nowhere Street 1.country": "Atlantis"}

    # corrected in the ERP: the address comes in on the next run (the customer exists: the one-by-one path)
    # and the issue is resolved
    drop(tmp_path, rows[:5] + [("K6", "Nowhere Co", "Nowhere Street 1", "DEU")])
    run_sync(ctx, push=False)
    assert countries(ctx)["Nowhere Co"] == "DE"
    assert ctx.session.get(SyncIssue, issue.id).status == "resolved"


def test_country_code_maps_and_never_cuts():
    assert [country_code(v) for v in ("cn", "CHN", "156", "China", "中国", "Germany", "德国", "USA", "ＣＮ")] == [
        "CN", "CN", "CN", "CN", "CN", "DE", "DE", "US", "CN"]
    assert country_code("Germany") != "GE" and country_code("Georgia") == "GE"
    assert [country_code(v) for v in ("Atlantis", "XX", "", "C")] == [None, None, None, None]
