"""Schema-driven fuzzing of every API operation (schemathesis): no 5xx, responses as the OpenAPI document says.

Every plugin and adapter is loaded (the loyalty example too) on the demo data, so ids in paths hit
real records. ``CRM_FUZZ_EXAMPLES`` sets the examples per operation (derandomized: the same cases
on every run).
"""
from __future__ import annotations

from typing import Any

import pytest
from schemathesis import GenerationMode

import crm_plugin_loyalty
import crm_plugin_loyalty.services
from crmcore.db import Database
from crmcore.runtime import ServiceContext
from crmcore.testing.fuzz import demo_app, run_fuzz


PLUGINS = ["plugins.sales", "plugins.service", "plugins.analysis", "adapters.oa", "adapters.erp", "adapters.channels", "plugins.reports"]
ALL = ("",)  # every operation in the document


@pytest.fixture(autouse=True)
def _clean() -> Any:
    """Overrides the per-test wipe: the module seeds the demo data once and the fuzzer works on it."""
    yield


def _negative_balance(ctx: ServiceContext) -> None:
    crm_plugin_loyalty.services.award(ctx, 1, -5, "Refund")  # a negative balance on the 360 page


@pytest.fixture(scope="module")
def fuzz_app(database: Database, tmp_path_factory: pytest.TempPathFactory) -> Any:
    yield from demo_app(database, tmp_path_factory.mktemp("fuzz"), PLUGINS, objects=[("loyalty", crm_plugin_loyalty)],
                        prepare=_negative_balance)


def test_every_operation_as_admin(fuzz_app: Any) -> None:
    statuses: dict[str, set[int]] = {}
    headers = fuzz_app.config["FUZZ_HEADERS"]
    count, failures = run_fuzz(fuzz_app, ALL, [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], headers,
                               statuses=statuses)
    assert count >= 180  # every plugin's operations are in the document
    assert not failures, f"{len(failures)} failing operations:\n\n" + "\n\n".join(failures)
    count_ids, failures = run_fuzz(fuzz_app, ALL, [GenerationMode.POSITIVE], headers, ids={}, statuses=statuses)
    assert not failures, f"{len(failures)} failing operations on real records:\n\n" + "\n\n".join(failures)
    by_id = {op: codes for op, codes in statuses.items() if op.startswith("GET ") and op.endswith("_id}")}
    found = sorted(op for op, codes in by_id.items() if 200 in codes)
    print(f"{count} operations fuzzed, {count_ids} again on real records; GET by id found one on {len(found)} of {len(by_id)}")
    assert len(found) >= len(by_id) // 2, sorted(set(by_id) - set(found))  # the demo data is reached, not only 404s


def test_every_operation_refuses_anonymous(fuzz_app: Any) -> None:
    count, failures = run_fuzz(fuzz_app, ALL, [GenerationMode.POSITIVE], None, expect=401, examples=2)
    assert count >= 180 and not failures, f"{len(failures)} failing operations:\n\n" + "\n\n".join(failures)
