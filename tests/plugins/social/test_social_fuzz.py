"""Schema-driven fuzzing of /api/v1/referrals (schemathesis) on the demo data: no 5xx, answers as documented,
401 without a token. The same checks as tests/crmcore/test_api_fuzz.py, on this plugin's operations only."""
from __future__ import annotations

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

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
FUZZ = settings(max_examples=8, derandomize=True, deadline=None, database=None,
                suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate, Phase.shrink])


@pytest.fixture(autouse=True)
def _clean() -> Any:
    """The module seeds the demo data once and the fuzzer works on it."""
    yield


@pytest.fixture(scope="module")
def fuzz_app(database: Database, tmp_path_factory: pytest.TempPathFactory) -> Any:
    wipe(database)
    config = {"DATABASE_URL": database.url, "INSTANCE_PATH": str(tmp_path_factory.mktemp("fuzz")),
              "PLUGINS_AUTOLOAD": False, "PLUGINS": ["plugins.sales", "plugins.social"], "SECRET_KEY": "fuzz",
              "TESTING": True}
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


def operations(fuzz_app: Any) -> list[Any]:
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", fuzz_app, headers=fuzz_app.config["FUZZ_HEADERS"])
    ops = [r.ok() for r in schema.get_all_operations()]
    return [op for op in ops if op.path.startswith("/api/v1/referrals")]


def run_all(ops: list[Any], modes: list[GenerationMode], headers: dict[str, str] | None, expect: int | None = None,
            real_ids: bool = False) -> list[str]:
    failures: list[str] = []
    for operation in ops:
        fixed = ({p.name: 1 for p in operation.path_parameters if p.definition["schema"].get("type") == "integer"}
                 if real_ids else {})
        for mode in modes:
            @FUZZ
            @given(case=operation.as_strategy(generation_mode=mode, path_parameters=fixed or None))
            def run(case: Any) -> None:
                response = case.call_and_validate(headers=headers, checks=CHECKS)
                if expect is not None:
                    assert response.status_code == expect, f"{response.status_code} instead of {expect}"

            try:
                run()
            except (AssertionError, Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - report every operation
                failures.append(f"{operation.method.upper()} {operation.path} ({mode.value}): {str(exc)[:2000]}")
    return failures


def test_referral_operations_never_fail_with_a_server_error(fuzz_app: Any) -> None:
    ops = operations(fuzz_app)
    assert len(ops) >= 10, [f"{o.method} {o.path}" for o in ops]
    headers = fuzz_app.config["FUZZ_HEADERS"]
    failures = run_all(ops, [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], headers)
    failures += run_all([o for o in ops if o.path_parameters], [GenerationMode.POSITIVE], headers, real_ids=True)
    assert not failures, f"{len(failures)} failing operations:\n\n" + "\n\n".join(failures)


def test_referral_operations_refuse_anonymous(fuzz_app: Any) -> None:
    failures = run_all(operations(fuzz_app), [GenerationMode.POSITIVE], None, expect=401)
    assert not failures, f"{len(failures)} failing operations:\n\n" + "\n\n".join(failures)
