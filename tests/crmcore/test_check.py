"""``crm check``: each finding about a deployment's settings, said in the reader's language, exit code 1 on errors."""
from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from crmcore import cli as cli_mod

STRONG = "9f2c1e7a5b3d8c6e0a4f1b7d2e9c5a3f8b6d0e4c"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def crm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """``crm(*args, **env)`` runs the ``crm`` command on a fresh SQLite file with CRM_* variables."""
    def run(*args: str, **env: str) -> Any:
        for key in list(os.environ):  # only the variables this call names
            if key.startswith("CRM_") and key != "CRM_TEST_DATABASE_URL":
                monkeypatch.delenv(key)
        base = {"CRM_DATABASE_URL": f"sqlite:///{tmp_path / 'crm.sqlite'}", "CRM_INSTANCE_PATH": str(tmp_path),
                "CRM_PLUGINS_AUTOLOAD": "0"}
        for key, value in {**base, **env}.items():
            monkeypatch.setenv(key, value)
        monkeypatch.setattr(cli_mod, "_runtime", {})
        result = CliRunner().invoke(cli_mod.cli, list(args))
        rt = cli_mod._runtime.get("rt")
        if rt is not None:
            rt.db.dispose()
        return result

    return run


def _ready(crm: Any, **env: str) -> None:
    assert crm("init-db", **env).exit_code == 0


def test_a_sound_local_deployment_passes(crm):
    _ready(crm)
    result = crm("check", CRM_SECRET_KEY=STRONG, CRM_PUBLIC_URL="http://127.0.0.1:5000")
    assert result.exit_code == 0, result.output
    assert "✓ The secret key is set and long enough." in result.output
    assert "✓ The database schema is up to date." in result.output
    assert "! The database is SQLite, the embedded default" in result.output  # a warning, not an error
    assert "0 error(s)" in result.output
    assert STRONG not in result.output


def test_secret_key_findings(crm):
    _ready(crm)
    unset = crm("check", CRM_PUBLIC_URL="https://crm.example.com", CRM_SESSION_COOKIE_SECURE="1")
    assert unset.exit_code == 1 and "✗ CRM_SECRET_KEY is not set" in unset.output
    local = crm("check")
    assert "! CRM_SECRET_KEY is not set" in local.output  # on this machine only: a warning
    weak = crm("check", CRM_SECRET_KEY="changeme")
    assert weak.exit_code == 1 and "well-known or repetitive" in weak.output and "changeme" not in weak.output
    repetitive = crm("check", CRM_SECRET_KEY="a" * 64)
    assert repetitive.exit_code == 1 and "well-known or repetitive" in repetitive.output
    short = crm("check", CRM_SECRET_KEY="k3y-Of-20-characters")
    assert short.exit_code == 1 and "CRM_SECRET_KEY has 20 characters" in short.output


def test_cookies_and_tls_when_not_on_localhost(crm):
    _ready(crm)
    plain = crm("check", CRM_SECRET_KEY=STRONG, CRM_PUBLIC_URL="https://crm.example.com")
    assert plain.exit_code == 1 and "✗ CRM_SESSION_COOKIE_SECURE is off" in plain.output
    secure = crm("check", CRM_SECRET_KEY=STRONG, CRM_PUBLIC_URL="https://crm.example.com", CRM_SESSION_COOKIE_SECURE="1")
    assert "✓ Session cookies are sent over HTTPS only." in secure.output
    no_tls = crm("check", "--public-url", "http://crm.example.com", CRM_SECRET_KEY=STRONG, CRM_SESSION_COOKIE_SECURE="1")
    assert no_tls.exit_code == 1 and "without TLS" in no_tls.output
    nowhere = crm("check", CRM_SECRET_KEY=STRONG)
    assert "! CRM_PUBLIC_URL is not set" in nowhere.output


def test_sqlite_in_production_is_an_error(crm):
    _ready(crm)
    result = crm("check", CRM_SECRET_KEY=STRONG, CRM_PUBLIC_URL="https://crm.example.com", CRM_SESSION_COOKIE_SECURE="1")
    assert result.exit_code == 1
    assert "✗ The database is SQLite, the embedded default" in result.output and "PostgreSQL" in result.output


def test_database_unreachable_or_behind_the_code(crm, tmp_path):
    port = _free_port()
    down = crm("check", CRM_SECRET_KEY=STRONG, CRM_DATABASE_URL=f"postgresql+psycopg://crm:hunter2@127.0.0.1:{port}/crm")
    assert down.exit_code == 1, down.output
    assert f"✗ The database postgresql+psycopg://crm:***@127.0.0.1:{port}/crm cannot be reached" in down.output
    assert "hunter2" not in down.output and "Traceback" not in down.output

    behind = crm("check", CRM_SECRET_KEY=STRONG)  # a database file nobody migrated
    assert behind.exit_code == 1 and "is not at the code's version" in behind.output and "crm init-db" in behind.output
    _ready(crm)
    assert "✓ The database schema is up to date." in crm("check", CRM_SECRET_KEY=STRONG).output


def test_jobs_backend_findings(crm):
    _ready(crm)
    assert "✓ Background jobs run in-process" in crm("check", CRM_SECRET_KEY=STRONG).output
    wrong = crm("check", CRM_SECRET_KEY=STRONG, CRM_JOBS_BACKEND="celery")
    assert wrong.exit_code == 1 and "CRM_JOBS_BACKEND" in wrong.output and "celery" in wrong.output
    sqlite = crm("check", CRM_SECRET_KEY=STRONG, CRM_JOBS_BACKEND="procrastinate")
    assert sqlite.exit_code == 1 and "procrastinate" in sqlite.output and "PostgreSQL" in sqlite.output


def test_mail_server_findings(crm):
    from aiosmtpd.controller import Controller

    env = {"CRM_SECRET_KEY": STRONG, "CRM_PLUGINS": "plugins.service"}
    _ready(crm, **env)
    assert "! No mail server is set (SERVICE_SMTP_HOST)" in crm("check", **env).output
    port = _free_port()
    down = crm("check", **env, CRM_SERVICE_SMTP_HOST="127.0.0.1", CRM_SERVICE_SMTP_PORT=str(port),
               CRM_SERVICE_SMTP_PASSWORD="s3cret-pw")
    assert down.exit_code == 1 and f"✗ The mail server 127.0.0.1:{port} cannot be reached" in down.output
    assert "s3cret-pw" not in down.output

    class Sink:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            return "250 OK"

    controller = Controller(Sink(), hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        up = crm("check", **env, CRM_SERVICE_SMTP_HOST="127.0.0.1", CRM_SERVICE_SMTP_PORT=str(controller.port))
    finally:
        controller.stop()
    assert f"✓ The mail server 127.0.0.1:{controller.port} answers." in up.output


def test_erp_connection_findings(crm, tmp_path):
    env = {"CRM_SECRET_KEY": STRONG, "CRM_PLUGINS": "plugins.sales,adapters.erp"}
    _ready(crm, **env)
    from adapters.erp.connections import save_connection
    from crmcore.runtime import build_runtime

    rt = build_runtime({"DATABASE_URL": f"sqlite:///{tmp_path / 'crm.sqlite'}", "INSTANCE_PATH": str(tmp_path),
                        "PLUGINS_AUTOLOAD": False, "PLUGINS": ["plugins.sales", "adapters.erp"]})
    ctx = rt.context(source="test")
    (tmp_path / "shop").mkdir()
    save_connection(ctx, {"name": "files", "adapter": "csv", "settings": {"directory": str(tmp_path / "shop")}})
    save_connection(ctx, {"name": "gone", "adapter": "csv", "settings": {"directory": str(tmp_path / "unmounted")}})
    ctx.session.close()
    rt.db.dispose()
    result = crm("check", **env)
    assert result.exit_code == 1
    assert "✓ ERP connection files answers" in result.output
    assert "✗ ERP connection gone cannot be used" in result.output and "unmounted" in result.output


def test_the_report_speaks_chinese(crm):
    _ready(crm)
    result = crm("check", "--locale", "zh_CN", CRM_SECRET_KEY="changeme")
    assert result.exit_code == 1
    assert "✗ CRM_SECRET_KEY 是众所周知或重复的值" in result.output
    assert "个错误" in result.output
    default = crm("check", CRM_SECRET_KEY="changeme", CRM_DEFAULT_LOCALE="zh_CN")
    assert "个错误" in default.output
