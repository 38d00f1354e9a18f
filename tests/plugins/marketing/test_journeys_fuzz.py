"""Schema-driven fuzzing (schemathesis) of the journey operations on the demo data: no 5xx, responses as the
OpenAPI document says, also on the demo's journey. The marketing plugin is not in the whole-API fuzzer's plugin
list, so its journey operations are fuzzed here."""
from __future__ import annotations

from typing import Any

import pytest
from schemathesis import GenerationMode
from sqlalchemy import select

from crmcore.db import Database
from crmcore.testing.fuzz import demo_app, run_fuzz

PLUGINS = ["plugins.sales", "plugins.analysis", "plugins.marketing"]
PATHS = ("/api/v1/marketing/journeys", "/api/v1/marketing/calendar-dates")
PARTS = ("/journey", "/steps", "/enrolments", "/enter")


def journey_path(path: str) -> bool:
    """A campaign's journey operations (its journey, steps, enrolments, entering)."""
    return path.startswith("/api/v1/marketing/campaigns/{") and any(p in path for p in PARTS)


@pytest.fixture(autouse=True)
def _clean() -> Any:
    """Overrides the per-test wipe: the module seeds the demo data once."""
    yield


@pytest.fixture(scope="module")
def fuzz_app(database: Database, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from plugins.marketing.models import Campaign

    for app in demo_app(database, tmp_path_factory.mktemp("fuzz"), PLUGINS):
        ctx = app.extensions["crm"].context(source="test")
        app.config["JOURNEY_ID"] = ctx.session.scalar(select(Campaign.id).where(Campaign.kind == "journey"))
        ctx.session.close()
        yield app


def test_the_journey_operations_give_no_server_error(fuzz_app: Any) -> None:
    headers = fuzz_app.config["FUZZ_HEADERS"]
    count, failures = run_fuzz(fuzz_app, PATHS, [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], headers,
                               include=journey_path)
    assert count >= 13  # the journey operations are in the document
    assert not failures, "\n\n".join(failures)
    count, failures = run_fuzz(fuzz_app, PATHS, [GenerationMode.POSITIVE], headers, include=journey_path,
                               ids={"campaign_id": fuzz_app.config["JOURNEY_ID"]})
    assert count >= 5 and not failures, "\n\n".join(failures)
