"""Schema-driven fuzzing of every API operation (schemathesis): no 5xx, responses as the OpenAPI document says.

Every plugin and adapter is loaded (the loyalty example too) on the demo data, so ids in paths hit
real records. ``CRM_FUZZ_EXAMPLES`` sets the examples per operation (derandomized: the same cases
on every run).
"""
from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from schemathesis import GenerationMode
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance, response_schema_conformance, status_code_conformance,
)

import crm_plugin_loyalty
import crm_plugin_loyalty.services
from crmcore.app import create_app
from crmcore.db import Base, Database
from crmcore.demo import load_demo
from crmcore.runtime import build_runtime
from crmcore.services import users as user_svc
from crmcore.testing import wipe


PLUGINS = ["plugins.sales", "plugins.service", "plugins.analysis", "adapters.oa", "adapters.erp", "adapters.channels", "plugins.reports"]
EXAMPLES = int(os.environ.get("CRM_FUZZ_EXAMPLES", "5"))  # 5: about 3 minutes on 2 cores for both passes
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
    rt = build_runtime(config, plugins=[("loyalty", crm_plugin_loyalty)], db=database)
    app = create_app(config, runtime=rt)
    Base.metadata.create_all(database.engine)
    ctx = rt.context(source="test")
    load_demo(ctx)
    ctx.hook.crm_demo_data(ctx=ctx)
    crm_plugin_loyalty.services.award(ctx, 1, -5, "Refund")  # a negative balance on the 360 page
    admin = user_svc.create_user(ctx, "fuzzadmin", "password123", "admin")
    _, token = user_svc.create_token(ctx, admin)
    ctx.session.close()
    app.config["FUZZ_HEADERS"] = {"Authorization": f"Bearer {token}"}
    yield app
    wipe(database)


@pytest.fixture(scope="module")
def api_schema(fuzz_app: Any) -> Any:
    return schemathesis.openapi.from_wsgi("/api/openapi.json", fuzz_app, headers=fuzz_app.config["FUZZ_HEADERS"])


def fuzz(api_schema: Any, modes: list[GenerationMode], examples: int, headers: dict[str, str] | None = None,
         expect: int | None = None, statuses: dict[str, set[int]] | None = None,
         real_ids: bool = False) -> tuple[int, list[str]]:
    """Run every operation with ``examples`` cases per mode; return (operations run, failures).

    ``real_ids``: only the operations with integer ids in their path (but DELETE), with every id 1,
    which the demo data has in each table, so the cases reach real records instead of 404s.
    """
    failures: list[str] = []
    statuses = {} if statuses is None else statuses
    count = 0
    for result in api_schema.get_all_operations():
        operation = result.ok()
        fixed: dict[str, Any] = {}
        if real_ids:
            fixed = {p.name: 1 for p in operation.path_parameters if p.definition["schema"].get("type") == "integer"}
            if not fixed or operation.method.upper() == "DELETE":
                continue
        count += 1
        for mode in modes:
            @settings(FUZZ, max_examples=examples)
            @given(case=operation.as_strategy(generation_mode=mode, path_parameters=fixed or None))
            def run(case: Any) -> None:
                response = case.call_and_validate(headers=headers, checks=CHECKS)
                statuses.setdefault(f"{operation.method.upper()} {operation.path}", set()).add(response.status_code)  # noqa: B023 - run() runs in this iteration
                if expect is not None:
                    assert response.status_code == expect, f"{response.status_code} instead of {expect}"

            try:
                run()
            except (AssertionError, Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - report every operation
                failures.append(f"{operation.method.upper()} {operation.path} ({mode.value}): {str(exc)[:3000]}")
    return count, failures


def test_every_operation_as_admin(api_schema: Any, fuzz_app: Any) -> None:
    statuses: dict[str, set[int]] = {}
    count, failures = fuzz(api_schema, [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], EXAMPLES,
                           headers=fuzz_app.config["FUZZ_HEADERS"], statuses=statuses)
    assert count >= 180  # every plugin's operations are in the document
    assert not failures, f"{len(failures)} failing operations:\n\n" + "\n\n".join(failures)
    count_ids, failures = fuzz(api_schema, [GenerationMode.POSITIVE], EXAMPLES,
                               headers=fuzz_app.config["FUZZ_HEADERS"], statuses=statuses, real_ids=True)
    assert not failures, f"{len(failures)} failing operations on real records:\n\n" + "\n\n".join(failures)
    by_id = {op: codes for op, codes in statuses.items() if op.startswith("GET ") and op.endswith("_id}")}
    found = sorted(op for op, codes in by_id.items() if 200 in codes)
    print(f"{count} operations fuzzed, {count_ids} again on real records; GET by id found one on {len(found)} of {len(by_id)}")
    assert len(found) >= len(by_id) // 2, sorted(set(by_id) - set(found))  # the demo data is reached, not only 404s


def test_every_operation_refuses_anonymous(api_schema: Any) -> None:
    count, failures = fuzz(api_schema, [GenerationMode.POSITIVE], 2, expect=401)
    assert not failures, f"{len(failures)} failing operations:\n\n" + "\n\n".join(failures)
