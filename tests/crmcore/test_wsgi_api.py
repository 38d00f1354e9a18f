"""The API-only web process (``crmcore.wsgi_api``): the same API, no admin pages, nothing of Flask-Admin imported."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# A web process's database made as a test's (tables, roles, a user with an API token in ``token``); the worker
# module's app imported after it, as gunicorn imports it (the tests of crmcore.wsgi and of the CSRF protection too).
PRELUDE = r'''
import sys
from crmcore.runtime import build_runtime
from crmcore.services import users

rt = build_runtime()
rt.db.create_all()
ctx = rt.context(source="cli")
users.seed_roles(ctx)
_, token = users.create_token(ctx, users.create_user(ctx, "api", "api-password-1", "admin"), "t")
ctx.session.close()
'''

SCRIPT = PRELUDE + r'''
from crmcore.wsgi_api import app

client = app.test_client()
auth = {"Authorization": f"Bearer {token}"}
made = client.post("/api/v1/customers", json={"name": "杭州西湖茶业有限公司"}, headers=auth)
got = client.get(f"/api/v1/customers/{made.json['id']}", headers=auth)
print(made.status_code, got.status_code, got.json["name"], client.get("/admin/").status_code,
      client.get("/api/v1/customers").status_code, "flask_admin" in sys.modules)
'''


def run_process(tmp_path: Path, script: str, *args: str) -> list[str]:
    """``script`` run by a fresh Python on its own SQLite database in ``tmp_path``: its output's lines."""
    env = {**os.environ, "CRM_DATABASE_URL": f"sqlite:///{tmp_path / 'crm.sqlite'}", "CRM_INSTANCE_PATH": str(tmp_path),
           "CRM_SECRET_KEY": "test-secret-key-of-this-test"}
    done = subprocess.run([sys.executable, "-c", script, *args], env=env, capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.splitlines()


def test_the_api_only_process_serves_the_api_without_the_admin(tmp_path: Path) -> None:
    assert " ".join(run_process(tmp_path, SCRIPT)).split() == ["201", "200", "杭州西湖茶业有限公司", "404", "401", "False"]
