"""Schema-driven fuzzing (schemathesis) of /api/v1/events on the demo data: no 5xx, answers as documented,
anonymous callers refused. (The whole API's fuzzer in tests/crmcore loads the built-in plugins; this one
the marketing and member events plugins.)"""
from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance, response_schema_conformance, status_code_conformance,
)

from crmcore.app import create_app
from crmcore.db import Base, Database
from crmcore.demo import load_demo
from crmcore.runtime import build_runtime
from crmcore.services import users as user_svc
from crmcore.testing import wipe

PLUGINS = ["plugins.sales", "plugins.marketing", "plugins.member_events"]
PREFIXES = ("/api/v1/events",)
EXAMPLES = int(os.environ.get("CRM_FUZZ_EXAMPLES", "5"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
FUZZ = settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate, Phase.shrink])


@pytest.fixture(autouse=True)
def _clean() -> Any:
    """Overrides the per-test wipe: the module seeds the demo data once and the fuzzer works on it."""
    yield


@pytest.fixture(scope="module")
def fuzz_app(database: Database, tmp_path_factory: pytest.TempPathFactory) -> Any:
    wipe(database)
    config = {"DATABASE_URL": database.url, "INSTANCE_PATH": str(tmp_path_factory.mktemp("fuzz")),
              "PLUGINS_AUTOLOAD": False, "PLUGINS": PLUGINS, "SECRET_KEY": "fuzz", "TESTING": True}
    rt = build_runtime(config, db=database)
    app = create_app(config, runtime=rt)
    Base.metadata.create_all(database.engine)
    ctx = rt.context(source="test")
    load_demo(ctx)
    ctx.hook.crm_demo_data(ctx=ctx)
    admin = user_svc.create_user(ctx, "fuzzadmin", "password123", "admin")
    _, token = user_svc.create_token(ctx, admin)
    ctx.session.close()
    app.config["FUZZ_HEADERS"] = {"Authorization": f"Bearer {token}"}
    yield app
    wipe(database)


def run_fuzz(fuzz_app: Any, modes: list[GenerationMode], headers: dict[str, str] | None,
             expect: int | None = None) -> tuple[int, list[str]]:
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", fuzz_app, headers=fuzz_app.config["FUZZ_HEADERS"])
    failures: list[str] = []
    count = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if not operation.path.startswith(PREFIXES):
            continue
        count += 1
        for mode in modes:
            @settings(FUZZ)
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case: Any) -> None:
                response = case.call_and_validate(headers=headers, checks=CHECKS)
                if expect is not None:
                    assert response.status_code == expect, f"{response.status_code} instead of {expect}"

            try:
                run()
            except (AssertionError, Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - report every operation
                failures.append(f"{operation.method.upper()} {operation.path} ({mode.value}): {str(exc)[:3000]}")
    return count, failures


def test_every_operation_as_admin(fuzz_app: Any) -> None:
    count, failures = run_fuzz(fuzz_app, [GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
                               fuzz_app.config["FUZZ_HEADERS"])
    assert count >= 7
    assert not failures, f"{len(failures)} failing operations:\n\n" + "\n\n".join(failures)


def test_every_operation_refuses_anonymous(fuzz_app: Any) -> None:
    count, failures = run_fuzz(fuzz_app, [GenerationMode.POSITIVE], None, expect=401)
    assert count >= 7 and not failures, "\n\n".join(failures)
