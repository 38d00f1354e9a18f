"""Customer CSV import of files over 1 MB (issue 13): the encoding sniff never cuts a character,
an undecodable row becomes a reject naming its line, and every row read is counted once as
created, updated, unchanged or rejected."""
from __future__ import annotations

import codecs
import csv
import io
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from crmcore.models import Customer
from crmcore.services import customers

SNIFF_BYTES = 1 << 20  # crmcore.services.importer.SNIFF_BYTES (imported late: importing the schemas
# before crmcore.api installs the translated marshmallow messages would keep them in English)


def sniff_encoding(path: str) -> str:
    from crmcore.services.importer import SNIFF_BYTES as size, sniff_encoding as sniff

    assert size == SNIFF_BYTES
    return sniff(path)

NOTE = "上海浦东新区世纪大道一百号客户备注" * 120  # ~2,000 characters: a row of about 6 KB in UTF-8


@pytest.fixture
def crm(runner: Any) -> Any:
    from crmcore.cli import cli

    return lambda *args: runner.invoke(cli, args=list(args))


def _rows(n: int) -> list[str]:
    return [f"K{i:05d},客户{i}号贸易有限公司,{NOTE}\n" for i in range(n)]


def _file_over_a_megabyte(encoding: str, bom: bool = False) -> bytes:
    """A file over 1 MB whose byte SNIFF_BYTES - 4 (where the old sniff cut) is inside a character."""
    for pad in range(1, 8):
        text = "code,name,notes\n" + f"PAD,{'x' * pad},\n" + "".join(_rows(300))
        raw = (codecs.BOM_UTF8 if bom else b"") + text.encode(encoding)
        try:
            raw[: SNIFF_BYTES - 4].decode(encoding)
        except UnicodeDecodeError:
            assert len(raw) > SNIFF_BYTES
            return raw
    raise AssertionError("no padding puts the old cut inside a character")


def _count(rt: Any) -> int:
    s = rt.db.new_session()
    try:
        return s.scalar(select(func.count()).select_from(Customer))
    finally:
        s.close()


SUMMARY = re.compile(r"(\d+) rows read: created (\d+), updated (\d+), unchanged (\d+), rejected (\d+)")


def _summary(output: str) -> dict[str, int]:
    match = SUMMARY.search(output)
    assert match, output
    total, created, updated, unchanged, rejected = map(int, match.groups())
    assert total == created + updated + unchanged + rejected
    return {"total": total, "created": created, "updated": updated, "unchanged": unchanged, "rejected": rejected}


@pytest.mark.parametrize("encoding, bom", [("utf-8", False), ("utf-8", True), ("gb18030", False)])
def test_a_file_over_a_megabyte_is_read_whole(crm: Any, rt: Any, tmp_path: Path, encoding: str, bom: bool) -> None:
    path = tmp_path / "big.csv"
    path.write_bytes(_file_over_a_megabyte(encoding, bom))
    assert sniff_encoding(str(path)) == ("gb18030" if encoding == "gb18030" else "utf-8-sig")
    r = crm("import", "customers", str(path))
    assert r.exit_code == 0, r.output
    assert _summary(r.output) == {"total": 301, "created": 301, "updated": 0, "unchanged": 0, "rejected": 0}
    s = rt.db.new_session()
    last = s.scalar(select(Customer).where(Customer.code == "K00299"))
    assert last.name == "客户299号贸易有限公司" and last.notes == NOTE
    s.close()
    r = crm("import", "customers", str(path))
    assert _summary(r.output)["unchanged"] == 301


def test_a_bad_byte_far_after_the_first_megabyte_rejects_that_row_only(crm: Any, rt: Any, tmp_path: Path) -> None:
    rows = _rows(400)
    rows[330] = rows[330].replace("客户330号", "客户330号\udcff")  # one stray byte, ~2 MB in
    rows.insert(350, 'Q1,两行客户,"两行的\n备注"\n')  # a record over two lines, after the bad one
    raw = ("code,name,notes\n" + "".join(rows)).encode("utf-8", errors="surrogateescape")
    assert raw.index(b"\xff") > 1.5 * SNIFF_BYTES
    path = tmp_path / "bad.csv"
    path.write_bytes(raw)
    r = crm("import", "customers", str(path))
    assert r.exit_code == 0, r.output
    assert _summary(r.output) == {"total": 401, "created": 400, "updated": 0, "unchanged": 0, "rejected": 1}
    assert _count(rt) == 400
    report = list(csv.reader(io.StringIO((tmp_path / "bad.rejected.csv").read_text(encoding="utf-8-sig"))))
    assert report[0] == ["line", "code", "reason"] and len(report) == 2
    assert report[1][0] == "332" and "Line 332 is not valid utf-8" in report[1][2]  # header + 330 rows before it
    s = rt.db.new_session()
    assert s.scalar(select(Customer.notes).where(Customer.code == "Q1")) == "两行的\n备注"
    assert s.scalar(select(Customer.code).where(Customer.code == "K00399")) == "K00399"
    s.close()


def test_counts_cover_every_row(crm: Any, rt: Any, ctx: Any, tmp_path: Path) -> None:
    customers.create_customer(ctx, {"code": "U1", "name": "Same Co"})
    customers.create_customer(ctx, {"code": "U2", "name": "Old Name"})
    text = ("code,name,kind\n"
            "U1,Same Co,\n"          # unchanged
            "U2,New Name,\n"         # updated
            "N1,New Co,\n"           # created
            "\n"                     # a blank line is no row
            "N2,,organization\n"     # rejected: no name
            "N3,Extra Co,organization,surplus\n")  # rejected: more cells than the header
    path = tmp_path / "mixed.csv"
    path.write_text(text, encoding="utf-8")
    r = crm("import", "customers", str(path))
    assert _summary(r.output) == {"total": 5, "created": 1, "updated": 1, "unchanged": 1, "rejected": 2}
    assert "Rejected rows and reasons" in r.output
    report = (tmp_path / "mixed.rejected.csv").read_text(encoding="utf-8-sig")
    assert "\n6,N2," in report and "\n7," in report


def test_a_file_mostly_ascii_with_gb18030_after_the_first_megabyte(crm: Any, rt: Any, tmp_path: Path) -> None:
    ascii_rows = [f"A{i:05d},Company {i},{'x' * 8000}\n" for i in range(140)]
    raw = ("code,name,notes\n" + "".join(ascii_rows)).encode("ascii") + "G1,广州白云服装批发行,\n".encode("gb18030")
    assert len(raw) > SNIFF_BYTES
    path = tmp_path / "late.csv"
    path.write_bytes(raw)
    assert sniff_encoding(str(path)) == "gb18030"
    r = crm("import", "customers", str(path))
    assert _summary(r.output)["created"] == 141
    s = rt.db.new_session()
    assert s.scalar(select(Customer.name).where(Customer.code == "G1")) == "广州白云服装批发行"
    s.close()


def test_an_encoding_that_cannot_be_read_line_by_line_is_refused(crm: Any, tmp_path: Path) -> None:
    path = tmp_path / "u16.csv"
    path.write_bytes("code,name\nX,Y\n".encode("utf-16"))
    r = crm("import", "customers", str(path), "--encoding", "utf-16")
    assert r.exit_code != 0 and "UTF-8 or GB18030" in r.output
