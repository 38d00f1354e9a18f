"""Schema-driven fuzzing (schemathesis) of every /api/v1/marketing operation on the demo data: no 5xx,
responses as the OpenAPI document says, anonymous callers refused. (The core's fuzz test loads no marketing.)"""
from __future__ import annotations

from typing import Any

import pytest
from schemathesis import GenerationMode

from crmcore.db import Database
from crmcore.testing.fuzz import demo_app, run_fuzz
from plugins.service import models as service_models  # noqa: F401 - the tables before the database fixture

PLUGINS = ["plugins.sales", "plugins.service", "plugins.analysis", "plugins.marketing"]
PREFIXES = ("/api/v1/marketing",)


@pytest.fixture(autouse=True)
def _clean() -> Any:
    """Overrides the per-test wipe: the module seeds the demo data once and the fuzzer works on it."""
    yield


@pytest.fixture(scope="module")
def fuzz_app(database: Database, tmp_path_factory: pytest.TempPathFactory) -> Any:
    yield from demo_app(database, tmp_path_factory.mktemp("fuzz"), PLUGINS, MARKETING_DOUBLE_OPT_IN="1")


def test_every_marketing_operation_as_admin(fuzz_app: Any) -> None:
    headers = fuzz_app.config["FUZZ_HEADERS"]
    count, failures = run_fuzz(fuzz_app, PREFIXES, [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], headers)
    assert count >= 28  # the translations and the customer's language among them
    assert not failures, f"{len(failures)} failing operations:\n\n" + "\n\n".join(failures)
    count, failures = run_fuzz(fuzz_app, PREFIXES, [GenerationMode.POSITIVE], headers, ids={})
    assert count >= 10 and not failures, f"{len(failures)} failing operations on real records:\n\n" + "\n\n".join(
        failures)


def test_every_marketing_operation_refuses_anonymous(fuzz_app: Any) -> None:
    _count, failures = run_fuzz(fuzz_app, PREFIXES, [GenerationMode.POSITIVE], None, expect=401)
    assert not failures, f"{len(failures)} failing operations:\n\n" + "\n\n".join(failures)
