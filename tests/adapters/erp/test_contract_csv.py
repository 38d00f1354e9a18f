"""The adapter contract for CSV file drops, and the encodings ERPs export (UTF-8 with or without BOM, GB18030)."""
from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

from adapters.erp.csv_files import CsvAdapter, decode_bytes

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
        text = decode_bytes((env.folder / "outgoing" / "customers.csv").read_bytes())
        assert "推送客户" in text and len(text.strip().splitlines()) == 2  # the header and one row


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_dropped_files_in_each_encoding_read_the_same(tmp_path, encoding):
    env = CsvEnv(tmp_path / encoding, encoding)
    env.add_customer("广州丙贸易有限公司", "bing@example.cn")
    [page] = list(env.adapter.read("customers", None))
    assert [(r.external_id, r.name) for r in page.records] == [("K1", "广州丙贸易有限公司")]


def test_gb18030_bytes_are_not_mistaken_for_utf8():
    raw = "客户".encode("gb18030")
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert decode_bytes(raw) == "客户"
    assert decode_bytes("\ufeff客户".encode("utf-8")) == "客户"
