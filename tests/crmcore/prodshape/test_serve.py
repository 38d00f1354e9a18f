"""``crm serve`` on the procrastinate backend runs no jobs itself and says where they run."""
from __future__ import annotations

from typing import Any

import pytest

from crmcore.services import jobs


def test_serve_leaves_jobs_to_the_workers(make_app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import werkzeug.serving

    from crmcore.cli import cli

    app = make_app(JOBS_BACKEND="procrastinate")
    started: list[Any] = []
    monkeypatch.setattr(jobs, "start_scheduler", lambda rt, **kw: started.append(rt))
    monkeypatch.setattr(werkzeug.serving, "run_simple", lambda *a, **kw: None)
    r = app.test_cli_runner().invoke(cli, ["serve", "--port", "5999"])
    assert r.exit_code == 0, r.output
    assert started == [] and "Background jobs run in `crm worker` processes (CRM_JOBS_BACKEND=procrastinate)." in r.output
