"""`crm export customers` then `crm import customers` changes nothing (issue 13): every value
comes back as it was, including those the export protects from spreadsheet formulas, in every
export encoding and in a file over 1 MB."""
from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from crmcore.models import Customer
from crmcore.services import customers

SUMMARY = re.compile(r"(\d+) rows read: created (\d+), updated (\d+), unchanged (\d+), rejected (\d+)")
TRICKY = ["=HYPERLINK(\"http://x\")", "+86 not a phone", "-minus first", "@home", "'quoted already",
          "'=apostrophe then formula", "''=two apostrophes", "两行\n备注", "plain 张三"]


@pytest.fixture
def crm(runner: Any) -> Any:
    from crmcore.cli import cli

    return lambda *args: runner.invoke(cli, args=list(args))


def _snapshot(rt: Any) -> dict[str, tuple[Any, ...]]:
    s = rt.db.new_session()
    try:
        return {c.code: (c.name, c.notes, c.industry, sorted(t.name for t in c.tags), c.version)
                for c in s.scalars(select(Customer))}
    finally:
        s.close()


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-8", "gb18030"])
def test_export_then_import_changes_nothing(crm: Any, rt: Any, ctx: Any, tmp_path: Any, encoding: str) -> None:
    for i, text in enumerate(TRICKY):
        customers.create_customer(ctx, {"code": f"T{i}", "name": f"Customer {i} {text}"[:100], "notes": text,
                                        "industry": text.replace("\n", " ")[:60], "tags": ["VIP", "批发"]})
    for i in range(300):  # a file over 1 MB in every encoding
        customers.create_customer(ctx, {"code": f"P{i:03d}", "name": f"填充客户{i}", "notes": "长备注" * 600})
    before = _snapshot(rt)
    path = tmp_path / "out.csv"
    r = crm("export", "customers", "-o", str(path), "--encoding", encoding)
    assert r.exit_code == 0, r.output
    assert path.stat().st_size > 1 << 20
    r = crm("import", "customers", str(path))
    assert r.exit_code == 0, r.output
    match = SUMMARY.search(r.output)
    assert match and match.groups() == (str(len(before)), "0", "0", str(len(before)), "0"), r.output
    assert _snapshot(rt) == before


def test_a_cell_longer_than_the_csv_modules_default_limit_reads_back(tmp_path: Any) -> None:
    from crmcore.services.importer import open_csv, read_csv

    long_note = "备注" * 100_000  # 200,000 characters: over the csv module's 131,072
    path = tmp_path / "long.csv"
    path.write_text(f"code,name,notes\nL1,Long Co,{long_note}\nL2,Next Co,\n", encoding="utf-8")
    fh, used = open_csv(str(path))
    with fh:
        rows = list(read_csv(fh, used))
    assert rows == [(2, {"code": "L1", "name": "Long Co", "notes": long_note}), (3, {"code": "L2", "name": "Next Co"})]


@pytest.mark.parametrize("value", TRICKY + ["+86 138 0013 8000", "-12.5", "'", "''", "'plain", "=", "x"])
def test_the_formula_guard_is_undone_exactly(value: str) -> None:
    from crmcore.services.exporter import safe_cell, unguard_cell

    assert unguard_cell(safe_cell(value)) == value
