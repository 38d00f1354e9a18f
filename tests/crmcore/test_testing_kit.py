"""The testing kit (crmcore.testing.plugin) that plugins and adapters use: run_job, users, customers,
and a job that writes in its recipient's language as docs/writing_plugins.md shows."""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from flask_babel import force_locale
from sqlalchemy import select

from crmcore import hookimpl
from crmcore.contracts import Job
from crmcore.i18n import _
from crmcore.models import User
from crmcore.services import interactions


WRITTEN: list[str] = []


def _jobs(written: list[str]) -> Any:
    def remind(ctx: Any) -> None:
        user = ctx.session.scalars(select(User).where(User.locale.is_not(None))).one()
        with force_locale(user.locale or "en"):
            written.append(str(_("A subject is required.")))

    def boom(ctx: Any) -> None:
        raise RuntimeError("the ERP is away")

    return SimpleNamespace(crm_register_jobs=hookimpl(lambda: [Job("kit.remind", remind, 60), Job("kit.boom", boom, 60)]))


@pytest.fixture
def crm_plugins() -> list[tuple[str, Any]]:
    """As a plugin's conftest does: every app of this module has the plugin."""
    WRITTEN.clear()
    return [("kit", _jobs(WRITTEN))]


def test_run_job_runs_it_as_the_scheduler_and_a_failure_fails_the_test(app: Any, make_user: Any, run_job: Any) -> None:
    written = WRITTEN
    with app.app_context():
        user, _headers = make_user("sales")
        user.locale = "zh_CN"
        app.extensions["crm"].db.session.commit()
        assert run_job("kit.remind").last_status == "ok"
        assert written == ["主题为必填项。"]  # the recipient's language, not the default (en)
        failed = run_job("kit.boom", check=False)
        assert failed.last_status == "failed" and "the ERP is away" in failed.last_error
        with pytest.raises(pytest.fail.Exception, match="kit.boom failed: RuntimeError: the ERP is away"):
            run_job("kit.boom")


def test_make_customer_and_make_user_act_through_the_services(client: Any, ctx: Any, make_customer: Any,
                                                                make_user: Any) -> None:
    rep, headers = make_user("sales")
    mine = make_customer("Acme", rep)
    theirs = make_customer("Other Co")
    interactions.log_interaction(ctx, mine.id, {"channel": "system", "subject": "Kit"})
    assert client.get(f"/api/v1/customers/{mine.id}", headers=headers).status_code == 200
    assert client.get(f"/api/v1/customers/{theirs.id}", headers=headers).status_code == 403
    assert client.get(f"/api/v1/customers/{mine.id}/timeline", headers=headers).get_json()[0]["subject"] == "Kit"
