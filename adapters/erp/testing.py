"""The contract suite every ERP adapter passes, ours and third parties' (Singer SDK ``singer_sdk/testing`` style).

A test module subclasses ``AdapterContract`` and provides an ``env`` fixture: an object with the
``adapter`` (pages of 2) and helpers that change the ERP behind it (see ``ContractEnv``). The suite
checks paging, resuming, incremental reads, deletion checks, stable fingerprints, errors sorted
into retriable and fatal, and idempotent writes. It ships in the package (``adapters.erp.testing``)
so an adapter outside this repository runs the same tests: see docs/erp_sync.md.
"""
from __future__ import annotations

from typing import Protocol

import pytest

from adapters.erp.base import ContactPerson, CustomerRecord, ErpAdapter, Page, RetriableAdapterError


class ContractEnv(Protocol):
    """What a test module's ``env`` fixture gives the suite."""

    adapter: ErpAdapter  # connected to a test ERP, ``page_size`` 2

    def add_customer(self, name: str, email: str) -> str:
        """Create a customer in the ERP (not through the adapter); return its external id."""

    def touch(self, external_id: str, name: str) -> None:
        """Rename a customer in the ERP, so its change stamp moves."""

    def deactivate(self, external_id: str) -> None:
        """Deactivate (archive) a customer in the ERP, as Tryton's ``active=False``."""

    def advance(self) -> None:
        """Let the ERP's clock move past the last change (its stamps' precision)."""

    def unreachable(self) -> ErpAdapter:
        """An adapter whose ERP cannot be reached (a closed port, a missing folder)."""


def ids(pages: list[Page]) -> list[str]:
    """The external ids of every record of ``pages``, in order."""
    return [r.external_id for p in pages for r in p.records]


class AdapterContract:
    """The shared tests; subclasses define the ``env`` fixture (and ``counts_existing = True`` when their
    adapter answers ``all_exist``)."""

    counts_existing = False

    def test_connection_answers(self, env: ContractEnv) -> None:
        assert isinstance(env.adapter.test_connection(), str)

    def test_an_unreachable_erp_is_a_retriable_error(self, env: ContractEnv) -> None:
        with pytest.raises(RetriableAdapterError):
            env.unreachable().test_connection()

    def test_pages_hold_every_record_once(self, env: ContractEnv) -> None:
        made = {env.add_customer(f"契约客户 {i}", f"c{i}@contract.example"): f"契约客户 {i}" for i in range(5)}
        pages = list(env.adapter.read("customers", None))
        assert all(len(p.records) <= 2 for p in pages) and len(pages) >= 3
        seen = ids(pages)
        assert len(seen) == len(set(seen)) and set(made) <= set(seen)
        by_id = {r.external_id: r for p in pages for r in p.records}
        assert {i: by_id[i].name for i in made} == made
        assert by_id[next(iter(made))].email == "c0@contract.example"

    def test_a_cursor_resumes_after_its_page(self, env: ContractEnv) -> None:
        for i in range(5):
            env.add_customer(f"Resume {i}", f"r{i}@contract.example")
        pages = list(env.adapter.read("customers", None))
        rest = ids(list(env.adapter.read("customers", None, pages[0].cursor)))
        assert rest == ids(pages)[len(pages[0].records):]

    def test_reads_from_a_bookmark_return_the_changes(self, env: ContractEnv) -> None:
        made = [env.add_customer(f"Since {i}", f"s{i}@contract.example") for i in range(3)]
        env.advance()
        bookmark = max(p.max_key for p in env.adapter.read("customers", None) if p.max_key is not None)
        env.advance()
        env.touch(made[1], "Since 1 renamed")
        changed = {r.external_id: r for p in env.adapter.read("customers", bookmark) for r in p.records}
        assert made[1] in changed and changed[made[1]].name == "Since 1 renamed"
        assert made[0] not in changed

    def test_deletion_checks_agree_with_what_the_erp_has(self, env: ContractEnv) -> None:
        """``all_exist`` (the cheap count; None: this adapter cannot tell) and ``existing_ids`` agree."""
        made = [env.add_customer(f"Exists {i}", f"e{i}@contract.example") for i in range(3)]
        existing = env.adapter.existing_ids("customers")
        assert existing is None or set(made) <= existing
        answer = env.adapter.all_exist("customers", made)
        assert answer is True if self.counts_existing else answer in (True, None)
        if answer is not None:
            assert env.adapter.all_exist("customers", [*made, "987654321"]) is False
            assert env.adapter.all_exist("customers", []) is True

    def test_a_deactivated_customer_is_still_read_as_inactive(self, env: ContractEnv) -> None:
        """Archived (``active`` false) customers are read, with ``active=False``, from the start and as a
        change since a bookmark: the engine reports them like deletions."""
        kept, archived = env.add_customer("Active Co", "a@contract.example"), env.add_customer("Archived Co",
                                                                                             "z@contract.example")
        env.advance()
        bookmark = max(p.max_key for p in env.adapter.read("customers", None) if p.max_key is not None)
        env.advance()
        env.deactivate(archived)
        changed = {r.external_id: r for p in env.adapter.read("customers", bookmark) for r in p.records}
        assert archived in changed and changed[archived].active is False
        every = {r.external_id: r for p in env.adapter.read("customers", None) for r in p.records}
        assert every[archived].active is False and every[kept].active is True

    def test_fingerprints_are_stable_between_reads(self, env: ContractEnv) -> None:
        env.add_customer("Stable", "stable@contract.example")
        first = {r.external_id: r.fingerprint() for p in env.adapter.read("customers", None) for r in p.records}
        second = {r.external_id: r.fingerprint() for p in env.adapter.read("customers", None) for r in p.records}
        assert first == second

    def test_a_written_customer_is_found_again_by_its_crm_reference(self, env: ContractEnv) -> None:
        record = CustomerRecord(external_id="", name="推送客户", email="push@contract.example", crm_ref="C-CONTRACT-1",
                                contacts=[ContactPerson(external_id="", name="李四", email="li@contract.example")])
        assert env.adapter.find("customers", record) is None
        external_id = env.adapter.write("customers", record, None)
        assert env.adapter.find("customers", record) == external_id
        assert env.adapter.write("customers", record, external_id) == external_id
        found = [r for p in env.adapter.read("customers", None) for r in p.records if r.crm_ref == "C-CONTRACT-1"]
        assert [r.external_id for r in found] == [external_id] and found[0].name == "推送客户"
        assert found[0].email == "push@contract.example"


