"""Schema-driven fuzzing (schemathesis) of /api/v1/coupons on the sales demo data (a programme, codes, a code
used on an order): no 5xx, answers as documented, anonymous callers refused."""
from __future__ import annotations

from typing import Any

import pytest
from schemathesis import GenerationMode

from crmcore.db import Database
from crmcore.testing.fuzz import demo_app, run_fuzz

PLUGINS = ["plugins.sales"]
PREFIXES = ("/api/v1/coupons",)


@pytest.fixture(autouse=True)
def _clean() -> Any:
    """Overrides the per-test wipe: the module seeds the demo data once and the fuzzer works on it."""
    yield


@pytest.fixture(scope="module")
def fuzz_app(database: Database, tmp_path_factory: pytest.TempPathFactory) -> Any:
    yield from demo_app(database, tmp_path_factory.mktemp("fuzz"), PLUGINS)


def test_every_operation_as_admin(fuzz_app: Any) -> None:
    count, failures = run_fuzz(fuzz_app, PREFIXES, [GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
                               fuzz_app.config["FUZZ_HEADERS"])
    assert count >= 7
    assert not failures, f"{len(failures)} failing operations:\n\n" + "\n\n".join(failures)


def test_every_operation_refuses_anonymous(fuzz_app: Any) -> None:
    count, failures = run_fuzz(fuzz_app, PREFIXES, [GenerationMode.POSITIVE], None, expect=401)
    assert count >= 7 and not failures, "\n\n".join(failures)
