"""Schema-driven fuzzing (schemathesis) of a plugin's API paths on the demo data: the app, the settings and the run
that the plugins' fuzz tests share (``tests/plugins/sales/test_coupons_fuzz.py`` shows the use)."""
from __future__ import annotations

import os
from typing import Any, Callable, Iterable, Iterator

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance, response_schema_conformance, status_code_conformance,
)

from ..app import create_app
from ..db import Base, Database
from ..demo import load_demo
from ..runtime import ServiceContext, build_runtime
from ..services import users as user_svc
from . import wipe

EXAMPLES = int(os.environ.get("CRM_FUZZ_EXAMPLES", "5"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
FUZZ = settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate, Phase.shrink])


def demo_app(database: Database, instance: Any, plugins: list[str], *, objects: Iterable[tuple[str, Any]] = (),
             prepare: Callable[[ServiceContext], None] | None = None, **extra: Any) -> Iterator[Any]:
    """The app with ``plugins`` (and ``extra`` settings) on the demo data and an admin's API token
    (``app.config["FUZZ_HEADERS"]``); a module-scoped fixture yields from it (the database wiped before and after).
    ``objects``: plugins registered as objects, ``(name, module)`` (e.g. an out-of-tree plugin); ``prepare(ctx)``
    adds records after the demo data."""
    wipe(database)
    config = {"DATABASE_URL": database.url, "INSTANCE_PATH": str(instance),
              "PLUGINS_AUTOLOAD": False, "PLUGINS": plugins, "SECRET_KEY": "fuzz", "TESTING": True, **extra}
    rt = build_runtime(config, plugins=objects, db=database)
    app = create_app(config, runtime=rt)
    Base.metadata.create_all(database.engine)
    ctx = rt.context(source="test")
    load_demo(ctx)
    ctx.hook.crm_demo_data(ctx=ctx)
    if prepare is not None:
        prepare(ctx)
    admin = user_svc.create_user(ctx, "fuzzadmin", "password123", "admin")
    _, token = user_svc.create_token(ctx, admin)
    ctx.session.close()
    app.config["FUZZ_HEADERS"] = {"Authorization": f"Bearer {token}"}
    yield app
    wipe(database)


def run_fuzz(fuzz_app: Any, prefixes: tuple[str, ...], modes: list[GenerationMode], headers: dict[str, str] | None,
             expect: int | None = None, ids: dict[str, int] | None = None,
             include: Callable[[str], bool] | None = None, examples: int | None = None,
             statuses: dict[str, set[int]] | None = None) -> tuple[int, list[str]]:
    """Every operation under ``prefixes`` (``("",)``: all; or whose path ``include`` accepts) fuzzed in each mode,
    ``examples`` cases each (default :data:`EXAMPLES`); (how many operations, their failures). With ``ids``, on real
    records: the integer path parameters are fixed (to ``ids[name]``, else 1) and the operations without one, or that
    delete, are left out. ``statuses`` collects the status codes seen per operation (``"GET /path"``)."""
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", fuzz_app, headers=fuzz_app.config["FUZZ_HEADERS"])
    failures: list[str] = []
    count = 0
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]  # an invalid operation raises here, as a failure should
        if not (operation.path.startswith(prefixes) or (include is not None and include(operation.path))):
            continue
        fixed: dict[str, int] = {}
        if ids is not None:
            fixed = {p.name: ids.get(p.name, 1) for p in operation.path_parameters
                     if p.definition["schema"].get("type") == "integer"}
            if not fixed or operation.method.upper() == "DELETE":
                continue
        count += 1
        for mode in modes:
            @settings(FUZZ, max_examples=examples or EXAMPLES)
            @given(case=operation.as_strategy(generation_mode=mode, path_parameters=fixed or None))
            def run(case: Any) -> None:  # noqa: B023 - called at once, in this iteration
                response = case.call_and_validate(headers=headers, checks=CHECKS)
                if statuses is not None:
                    statuses.setdefault(f"{operation.method.upper()} {operation.path}", set()).add(response.status_code)  # noqa: B023
                if expect is not None:
                    assert response.status_code == expect, f"{response.status_code} instead of {expect}"

            try:
                run()
            except (AssertionError, Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - report every operation
                failures.append(f"{operation.method.upper()} {operation.path} ({mode.value}): {str(exc)[:3000]}")
    return count, failures
