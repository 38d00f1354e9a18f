"""Schema-driven fuzzing of /api/v1/referrals (schemathesis) on the demo data: no 5xx, answers as documented,
401 without a token. The same checks as tests/crmcore/test_api_fuzz.py, on this plugin's operations only
(the shared kit: crmcore/testing/fuzz.py)."""
from __future__ import annotations

from typing import Any

import pytest
from schemathesis import GenerationMode

from crmcore.db import Database
from crmcore.testing.fuzz import demo_app, run_fuzz

PLUGINS = ["plugins.sales", "plugins.social"]
PREFIXES = ("/api/v1/referrals",)


@pytest.fixture(autouse=True)
def _clean() -> Any:
    """The module seeds the demo data once and the fuzzer works on it."""
    yield


@pytest.fixture(scope="module")
def fuzz_app(database: Database, tmp_path_factory: pytest.TempPathFactory) -> Any:
    yield from demo_app(database, tmp_path_factory.mktemp("fuzz"), PLUGINS)


def test_referral_operations_never_fail_with_a_server_error(fuzz_app: Any) -> None:
    headers = fuzz_app.config["FUZZ_HEADERS"]
    count, failures = run_fuzz(fuzz_app, PREFIXES, [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], headers)
    assert count >= 10, count
    _on_records, more = run_fuzz(fuzz_app, PREFIXES, [GenerationMode.POSITIVE], headers, ids={})  # real records
    failures += more
    assert not failures, f"{len(failures)} failing operations:\n\n" + "\n\n".join(failures)


def test_referral_operations_refuse_anonymous(fuzz_app: Any) -> None:
    count, failures = run_fuzz(fuzz_app, PREFIXES, [GenerationMode.POSITIVE], None, expect=401)
    assert count >= 10 and not failures, f"{len(failures)} failing operations:\n\n" + "\n\n".join(failures)
