"""Schema-driven fuzzing (schemathesis) of every /api/v1/marketing operation on the demo data: no 5xx,
responses as the OpenAPI document says, anonymous callers refused. (The core's fuzz test loads no marketing.)"""
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
from plugins.service import models as service_models  # noqa: F401 - the tables before the database fixture

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
              "PLUGINS_AUTOLOAD": False, "PLUGINS": ["plugins.sales", "plugins.service", "plugins.analysis",
                                                     "plugins.marketing"],
              "SECRET_KEY": "fuzz", "TESTING": True, "MARKETING_DOUBLE_OPT_IN": "1"}
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


def _fuzz(app: Any, modes: list[GenerationMode], headers: dict[str, str] | None, expect: int | None = None,
          real_ids: bool = False) -> tuple[int, list[str]]:
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app, headers=app.config["FUZZ_HEADERS"])
    failures: list[str] = []
    count = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if not operation.path.startswith("/api/v1/marketing"):
            continue
        fixed: dict[str, Any] = {}
        if real_ids:
            fixed = {p.name: 1 for p in operation.path_parameters if p.definition["schema"].get("type") == "integer"}
            if not fixed or operation.method.upper() == "DELETE":
                continue
        count += 1
        for mode in modes:
            @settings(FUZZ)
            @given(case=operation.as_strategy(generation_mode=mode, path_parameters=fixed or None))
            def run(case: Any) -> None:
                response = case.call_and_validate(headers=headers, checks=CHECKS)
                if expect is not None:
                    assert response.status_code == expect, f"{response.status_code} instead of {expect}"

            try:
                run()
            except (AssertionError, Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - report every operation
                failures.append(f"{operation.method.upper()} {operation.path} ({mode.value}): {str(exc)[:3000]}")
    return count, failures


def test_every_marketing_operation_as_admin(fuzz_app: Any) -> None:
    headers = fuzz_app.config["FUZZ_HEADERS"]
    count, failures = _fuzz(fuzz_app, [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], headers)
    assert count >= 28  # the translations and the customer's language among them
    assert not failures, f"{len(failures)} failing operations:\n\n" + "\n\n".join(failures)
    _count, failures = _fuzz(fuzz_app, [GenerationMode.POSITIVE], headers, real_ids=True)
    assert not failures, f"{len(failures)} failing operations on real records:\n\n" + "\n\n".join(failures)


def test_every_marketing_operation_refuses_anonymous(fuzz_app: Any) -> None:
    _count, failures = _fuzz(fuzz_app, [GenerationMode.POSITIVE], None, expect=401)
    assert not failures, f"{len(failures)} failing operations:\n\n" + "\n\n".join(failures)
