"""Schema-driven fuzzing (schemathesis) of the journey operations on the demo data: no 5xx, responses as the
OpenAPI document says. The marketing plugin is not in the whole-API fuzzer's plugin list, so its journey
operations are fuzzed here."""
from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from crmcore.app import create_app
from crmcore.db import Base, Database
from crmcore.demo import load_demo
from crmcore.runtime import build_runtime
from crmcore.services import users as user_svc
from crmcore.testing import wipe

PATHS = ("/api/v1/marketing/journeys", "/api/v1/marketing/calendar-dates")
PARTS = ("/journey", "/steps", "/enrolments", "/enter")
FUZZ = settings(max_examples=8, derandomize=True, deadline=None, database=None,
                suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])


@pytest.fixture(autouse=True)
def _clean() -> Any:
    """Overrides the per-test wipe: the module seeds the demo data once."""
    yield


@pytest.fixture(scope="module")
def fuzz_app(database: Database, tmp_path_factory: pytest.TempPathFactory) -> Any:
    wipe(database)
    config = {"DATABASE_URL": database.url, "INSTANCE_PATH": str(tmp_path_factory.mktemp("fuzz")),
              "PLUGINS_AUTOLOAD": False, "PLUGINS": ["plugins.sales", "plugins.analysis", "plugins.marketing"],
              "SECRET_KEY": "fuzz", "TESTING": True}
    rt = build_runtime(config, db=database)
    app = create_app(config, runtime=rt)
    Base.metadata.create_all(database.engine)
    ctx = rt.context(source="test")
    load_demo(ctx)
    ctx.hook.crm_demo_data(ctx=ctx)
    admin = user_svc.create_user(ctx, "fuzzadmin", "password123", "admin")
    _, token = user_svc.create_token(ctx, admin)
    from sqlalchemy import select

    from plugins.marketing.models import Campaign

    app.config["JOURNEY_ID"] = ctx.session.scalar(select(Campaign.id).where(Campaign.kind == "journey"))
    ctx.session.close()
    app.config["FUZZ_HEADERS"] = {"Authorization": f"Bearer {token}"}
    yield app
    wipe(database)


def test_the_journey_operations_give_no_server_error(fuzz_app: Any) -> None:
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", fuzz_app, headers=fuzz_app.config["FUZZ_HEADERS"])
    failures: list[str] = []
    count = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        path = operation.path
        if not (path.startswith(PATHS) or (path.startswith("/api/v1/marketing/campaigns/{") and
                                           any(p in path for p in PARTS))):
            continue
        fixed = {p.name: fuzz_app.config["JOURNEY_ID"] if p.name == "campaign_id" else 1
                 for p in operation.path_parameters if p.definition["schema"].get("type") == "integer"}
        for mode, ids in ((GenerationMode.POSITIVE, None), (GenerationMode.NEGATIVE, None),
                          (GenerationMode.POSITIVE, fixed or None)):
            count += 1

            @FUZZ
            @given(case=operation.as_strategy(generation_mode=mode, path_parameters=ids))
            def run(case: Any) -> None:
                case.call_and_validate(headers=fuzz_app.config["FUZZ_HEADERS"], checks=[
                    not_a_server_error, content_type_conformance, response_schema_conformance])

            try:
                run()
            except (AssertionError, Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - report every operation
                failures.append(f"{operation.method.upper()} {path} ({mode.value}): {str(exc)[:2000]}")
    assert count >= 30  # the journey operations are in the document
    assert not failures, "\n\n".join(failures)
