"""The adapter contract for CSV file drops, and the encodings ERPs export (UTF-8 with or without BOM, GB18030)."""
from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

from adapters.erp.base import FatalAdapterError
from adapters.erp.csv_files import CsvAdapter

from adapters.erp.testing import AdapterContract

HEADER = ["external_id", "name", "email", "crm_ref", "active", "updated_at"]


class CsvEnv:
    def __init__(self, folder, encoding: str = "utf-8") -> None:
        self.folder, self.encoding = folder, encoding
        folder.mkdir(parents=True, exist_ok=True)
        self.adapter = CsvAdapter({"directory": str(folder), "page_size": 2})
        self.rows: dict[str, dict[str, str]] = {}
        self.now = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)

    def _save(self) -> None:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=HEADER)
        writer.writeheader()
        writer.writerows(self.rows.values())
        (self.folder / "customers.csv").write_bytes(out.getvalue().encode(self.encoding))

    def add_customer(self, name: str, email: str) -> str:
        key = f"K{len(self.rows) + 1}"
        self.now += dt.timedelta(seconds=1)
        self.rows[key] = {"external_id": key, "name": name, "email": email, "crm_ref": "",
                          "updated_at": self.now.isoformat()}
        self._save()
        return key

    def touch(self, external_id: str, name: str) -> None:
        self.rows[external_id].update(name=name, updated_at=self.now.isoformat())
        self._save()

    def deactivate(self, external_id: str) -> None:
        self.rows[external_id].update(active="false", updated_at=self.now.isoformat())
        self._save()

    def advance(self) -> None:
        self.now += dt.timedelta(minutes=1)

    def unreachable(self) -> CsvAdapter:
        return CsvAdapter({"directory": str(self.folder / "not-mounted")})


class TestCsvContract(AdapterContract):
    @pytest.fixture
    def env(self, tmp_path):
        return CsvEnv(tmp_path / "drop")

    def test_a_written_customer_is_found_again_by_its_crm_reference(self, env):
        # a CSV drop is one-way: pushed customers go to outgoing/customers.csv, not the file the ERP drops
        from adapters.erp.base import CustomerRecord

        record = CustomerRecord(external_id="", name="推送客户", email="push@contract.example", crm_ref="C-CONTRACT-1")
        external_id = env.adapter.write("customers", record, None)
        assert env.adapter.find("customers", record) == external_id == "crm:C-CONTRACT-1"
        text = (env.folder / "outgoing" / "customers.csv").read_text(encoding="utf-8-sig")
        assert "推送客户" in text and len(text.strip().splitlines()) == 2  # the header and one row


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_dropped_files_in_each_encoding_read_the_same(tmp_path, encoding):
    env = CsvEnv(tmp_path / encoding, encoding)
    env.add_customer("广州丙贸易有限公司", "bing@example.cn")
    [page] = list(env.adapter.read("customers", None))
    assert [(r.external_id, r.name) for r in page.records] == [("K1", "广州丙贸易有限公司")]


def test_gb18030_bytes_are_not_mistaken_for_utf8(tmp_path):
    """The encoding is decided on the whole file, read in chunks: a GB18030 name far past the first
    chunk still makes the file GB18030, and an unreadable file is refused with its name."""
    raw = "客户".encode("gb18030")
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    lines = ["external_id,name,email,crm_ref,active,updated_at"]
    lines += [f"A{i},Company {i},a{i}@example.com,,true," for i in range(3000)]  # ~130 kB of ASCII first
    lines.append("K1,广州丙贸易有限公司,bing@example.cn,,true,")
    (tmp_path / "customers.csv").write_bytes(("\n".join(lines) + "\n").encode("gb18030"))
    adapter = CsvAdapter({"directory": str(tmp_path), "page_size": 1000})
    records = [r for page in adapter.read("customers", None) for r in page.records]
    assert len(records) == 3001 and records[-1].name == "广州丙贸易有限公司"
    (tmp_path / "customers.csv").write_bytes(b"external_id,name\nK1,\xff\xfe\xff\n")
    with pytest.raises(FatalAdapterError, match="customers.csv"):
        list(adapter.read("customers", None))


def test_order_lines_are_read_in_pages_and_resume_from_the_cursor(tmp_path):
    rows = ["external_id,customer_ref,line_description,line_quantity,line_unit_price"]
    for order in range(5):
        rows += [f"SO{order},K1,item {order}-{n},1,10" for n in range(3)]
    (tmp_path / "orders.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    adapter = CsvAdapter({"directory": str(tmp_path), "page_size": 2})
    pages = list(adapter.read("orders", None))
    assert [[o.external_id for o in p.records] for p in pages] == [["SO0", "SO1"], ["SO2", "SO3"], ["SO4"]]
    assert all(len(o.lines) == 3 for p in pages for o in p.records)
    resumed = list(adapter.read("orders", None, pages[0].cursor))
    assert [o.external_id for p in resumed for o in p.records] == ["SO2", "SO3", "SO4"]


def test_an_order_split_by_another_is_refused_not_read_as_two(tmp_path):
    rows = ["external_id,customer_ref,line_description", "SO1,K1,a", "SO2,K1,b", "SO1,K1,c"]
    (tmp_path / "orders.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    adapter = CsvAdapter({"directory": str(tmp_path)})
    with pytest.raises(FatalAdapterError, match="SO1"):
        list(adapter.read("orders", None))
