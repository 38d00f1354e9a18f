"""`crm sales import-leads` reads files as the customer import does (issue 13): the encoding is
detected, a row with bytes the encoding cannot read is rejected naming its line, and every row
read is counted as created or rejected."""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from plugins.sales.models import Lead


def _import(runner: Any, path: Any, *args: str) -> Any:
    from plugins.sales.cli import sales

    return runner.invoke(sales, ["import-leads", str(path), *args])


def test_gb18030_is_detected_and_a_bad_row_is_rejected_naming_its_line(runner: Any, rt: Any, tmp_path: Any) -> None:
    raw = ("name,company,phone,message\n"
           "李四,北京某公司,13911112222,\n"
           '王五,上海某公司,13911113333,"两行\n留言"\n').encode("gb18030") + b"\xff\xff,broken,,\n" + \
        "赵六,广州某公司,13911114444,\n,,,\n".encode("gb18030")
    path = tmp_path / "leads.csv"
    path.write_bytes(raw)
    result = _import(runner, path)
    assert result.exit_code == 0, result.output
    assert "5 rows read: created 3, rejected 2" in result.output
    assert "line 5: " in result.output and "Line 5 is not valid gb18030" in result.output
    assert "line 7: " in result.output  # the row without a name
    s = rt.db.new_session()
    assert sorted(s.scalars(select(Lead.name))) == sorted(["李四", "王五", "赵六"])
    s.close()


def test_more_cells_than_the_header_is_a_reject_not_a_silent_drop(runner: Any, rt: Any, tmp_path: Any) -> None:
    path = tmp_path / "extra.csv"
    path.write_text("name,company,phone\nA,Co A,13911115555\nB,Co B,13911116666,surplus\n", encoding="utf-8")
    result = _import(runner, path)
    assert "2 rows read: created 1, rejected 1" in result.output and "line 3: " in result.output
    s = rt.db.new_session()
    assert s.scalar(select(func.count()).select_from(Lead)) == 1
    s.close()


def test_an_unknown_encoding_is_a_clear_error(runner: Any, tmp_path: Any) -> None:
    path = tmp_path / "x.csv"
    path.write_text("name\nA\n", encoding="utf-8")
    result = _import(runner, path, "--encoding", "klingon")
    assert result.exit_code != 0 and "Unknown encoding 'klingon'" in result.output
