"""The order import's quicker reading of rows agrees with the definitions it replaced and with the order
schema: the same cells, the same errors on the same rows (CSV file and API rows), the same customer checks."""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from crmcore.errors import ValidationError
from crmcore.imports import ImportOptions
from crmcore.imports.contract import plain_cells
from crmcore.imports.driver import csv_cells, get_kind, import_file, import_rows, plain_csv_cells
from crmcore.services.customers import delete_customer, live_customer
from crmcore.services.exporter import unguard_cell
from plugins.sales.imports.common import cell
from plugins.sales.imports.orders import COLUMNS, _cells
from plugins.sales.models import Order
from plugins.sales.services import catalog, orders

ODD_ROWS: list[Any] = [
    {"number": " SO-1 ", "customer_code": "", "order_date": "   ", "quantity": 3, "unit_price": 1.5},
    {"number": "SO-2", "status": None, "list_price": True, "discount_percent": 0, "colour": " red "},
    {"number": ["SO", 3], "description": {"text": " x "}, "line_total": "\t12.00\n", "owner": "\u3000ann\u3000"},
    {}, "not a row", None, [("number", "SO-4")],
]


@pytest.mark.parametrize("row", ODD_ROWS)
def test_a_rows_cells_are_what_cell_reads_of_each_column(row: Any) -> None:
    """What the loader read per column with ``cell`` before (text trimmed, empty cells and None left out, any
    other value as it is, columns of other kinds ignored); ``_cells`` reads it in one pass."""
    before = {k: v for k in COLUMNS if (v := cell(row, k)) is not None} if isinstance(row, dict) else {}
    assert _cells(row) == before


@pytest.mark.parametrize("row", [
    {" number ": " '=SUM(A1) ", "customer_code": "''quoted", "note": "'plain", "": "x", "  ": "y", "a": None},
    {"number": "'+1", "b": "'-2", "c": "'", "d": "'@x", " d": "later wins"},
])
def test_csv_cells_trim_and_undo_the_formula_guard_as_before(row: dict[str, Any]) -> None:
    before = {k.strip(): unguard_cell((v or "").strip()) for k, v in row.items() if k and k.strip()}
    assert csv_cells(row) == before


@pytest.mark.parametrize("row", [
    {" number ": " '=SUM(A1) ", "customer_code": "''quoted", "note": "'plain", "": "x", "  ": "y", "a": None},
    {"number": "'+1", "b": "'-2", "c": "'", "d": "'@x", " d": "later wins"},
    {"a": "x", " a": "", "b": "  ", "c": "'", "d": " ' ", "e": "''", "f": "\u3000全角\u3000"},
    {"a": "", " a ": "y", "b": None, "c": "0"},
    {"a": "1", None: ["extra"]},
])
def test_plain_csv_cells_is_csv_cells_then_plain_cells(row: dict[Any, Any]) -> None:
    """The reader's one pass for kinds without their own ``convert`` gives what the two steps gave, or the
    same refusal."""
    try:
        before: Any = plain_cells(csv_cells(row))
    except ValidationError as exc:
        before = exc.errors
    try:
        after: Any = plain_csv_cells(row)
    except ValidationError as exc:
        after = exc.errors
    assert after == before


@pytest.fixture
def shop(ctx: Any, make_customer: Any) -> dict[str, Any]:
    acme = make_customer("Acme", code="C-1", currency="USD")
    beta = make_customer("Beta", code="C-2")
    p1 = catalog.create_product(ctx, {"code": "P-1", "name": "Pump", "list_price": "100"})
    ctx.session.commit()
    return {"acme": acme, "beta": beta, "p1": p1}


HEADER = ["number", "customer_code", "order_date", "status", "product_code", "quantity", "unit_price"]
# One good order, then one of each kind of bad input; the line numbers of the file are the rows' + 1.
BAD_FILE = [
    ["SO-1", "C-1", "2026-03-01", "", "P-1", "2", "10.00"],
    ["SO-2", "", "2026-03-01", "", "P-1", "1", "1"],               # 3: no customer
    ["SO-3", "C-404", "2026-03-01", "", "P-1", "1", "1"],          # 4: unknown customer
    ["SO-4", "C-1", "2026-03-01", "", "P-404", "1", "1"],          # 5: unknown product
    ["SO-4", "C-1", "2026-03-01", "", "P-1", "1", "1"],            # 6: ... its other line goes with it
    ["SO-5", "C-1", "2026-03-01", "", "P-1", "three", "1"],        # 7: bad quantity
    ["SO-6", "C-1", "01/03/2026", "", "P-1", "1", "1"],            # 8: bad date
    ["SO-7", "C-1", "2026-03-01", "", "P-1", "1", "1"],            # 9: good line of ...
    ["SO-7", "C-2", "2026-03-01", "delivered", "P-1", "1", "1"],   # 10: ... a line saying another customer
    ["SO-1", "C-1", "2026-03-01", "", "P-1", "2", "10.00"],        # 11: SO-1 again, the same: unchanged
]


def write_file(path: Path, rows: list[list[str]]) -> str:
    with path.open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(HEADER)
        out.writerows(rows)
    return str(path)


def schema_errors(ctx: Any, shop: dict[str, Any], order: dict[str, Any], **line: Any) -> dict[str, Any]:
    """What the order service (its schema) says of one order with this line, as the API would get it."""
    data = {"number": "SO-X", "customer_id": shop["acme"].id, "order_date": "2026-03-01", **order,
            "lines": [{"product_id": shop["p1"].id, "quantity": "1", "unit_price": "1", **line}]}
    with pytest.raises(ValidationError) as caught:
        orders.validate_order(ctx, data, None)
    return caught.value.errors


def test_a_file_of_bad_orders_is_refused_row_by_row_with_the_schemas_words(ctx: Any, shop: dict[str, Any],
                                                                           tmp_path: Path) -> None:
    path = write_file(tmp_path / "orders.csv", BAD_FILE)
    outcome = import_file(ctx, get_kind(ctx, "orders"), path)
    ctx.session.commit()
    assert outcome.summary.counts == {"created": 1, "updated": 0, "unchanged": 1, "rejected": 8}
    with open(outcome.report_path or "", encoding="utf-8-sig", newline="") as fh:
        report = {int(r["line"]): (r["number"], r["reason"]) for r in csv.DictReader(fh)}
    assert sorted(report) == list(range(3, 11))
    quantity = schema_errors(ctx, shop, {}, quantity="three")["lines"]["0"]["quantity"]
    date = schema_errors(ctx, shop, {"order_date": "01/03/2026"})["order_date"]
    assert report[3] == ("SO-2", "customer_code: Give the customer's code.")
    assert report[4] == ("SO-3", "customer_code: No customer has the code 'C-404'.")
    assert report[5] == ("SO-4", "product_code: No product has the code 'P-404'.")
    assert report[6] == ("SO-4", "order: Order SO-4 is not imported: another of its lines is not valid.")
    assert report[7] == ("SO-5", f"quantity: {' '.join(quantity)}")
    assert report[8] == ("SO-6", f"order_date: {' '.join(date)}")
    assert report[10] == ("SO-7", "customer_code: This line says 'C-2'; the order's first line says 'C-1'.; "
                                  "status: This line says 'delivered'; the order's first line says ''.")
    assert report[9] == ("SO-7", "order: Order SO-7 is not imported: another of its lines is not valid.")
    assert ctx.session.scalars(select(Order.number)).all() == ["SO-1"]


def test_the_same_orders_as_api_rows_get_the_same_answers(ctx: Any, shop: dict[str, Any], tmp_path: Path) -> None:
    """The bulk API's rows (cells with spaces, JSON numbers) and the file's: the same outcome for every row."""
    rows: list[dict[str, Any]] = [{k: f" {v} " for k, v in zip(HEADER, cells, strict=True)} for cells in BAD_FILE]
    rows[0]["quantity"] = 2
    results = import_rows(ctx, get_kind(ctx, "orders"), rows, ImportOptions())
    ctx.session.rollback()
    outcome = import_file(ctx, get_kind(ctx, "orders"), write_file(tmp_path / "orders.csv", BAD_FILE))
    with open(outcome.report_path or "", encoding="utf-8-sig", newline="") as fh:
        reasons = [r["reason"] for r in csv.DictReader(fh)]
    assert [r.status for r in results] == ["created"] + ["rejected"] * 8 + ["unchanged"]
    assert ["; ".join(f"{k}: {' '.join(map(str, v))}" for k, v in r.errors.items()) for r in results[1:9]] == reasons


def test_a_customer_the_caller_knows_is_judged_as_the_one_the_session_reads(ctx: Any, shop: dict[str, Any]) -> None:
    acme, beta = shop["acme"], shop["beta"]
    assert live_customer(ctx, beta.id, known=acme) is beta  # known for another id: not taken
    assert live_customer(ctx, beta.id, known=beta) is beta
    delete_customer(ctx, beta.id)
    answers = []
    for known in (None, beta):
        with pytest.raises(ValidationError) as caught:
            live_customer(ctx, beta.id, known=known)
        answers.append(caught.value.errors)
    assert answers[0] == answers[1] and "deleted" in answers[0]["customer_id"][0]
