"""A web worker stays small: the whole app, every installed plugin, serving reads imports no heavy library (issue 15);
they load with the first request that needs them (a write: E.164); pypinyin never loads (its compact table does)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

HEAVY = ("numpy", "scipy", "sklearn", "pandas", "lifetimes", "pypinyin", "phonenumbers", "schemathesis", "cryptography", "requests")
# Builds the app as a worker does, answers a read, then a write; prints the heavy modules loaded after each.
WORKER = """
import json, sys
from crmcore.app import create_app
heavy = {heavy!r}
app = create_app()
from crmcore.db import Base
Base.metadata.create_all(app.extensions["crm"].db.engine)  # every installed plugin's tables (run alone, the test
# database has only the core's)
client = app.test_client()
headers = {{"Authorization": "Bearer " + sys.argv[1]}}
out = {{}}
r = client.get("/api/v1/customers/" + sys.argv[2], headers=headers)
assert r.status_code == 200, r.data
out["read"] = [m for m in heavy if m in sys.modules]
r = client.post("/api/v1/customers", json={{"name": "宁波港口物流", "phone": "0574-8765 4321"}}, headers=headers)
assert r.status_code == 201, r.data
out["write"] = [m for m in heavy if m in sys.modules]
print(json.dumps(out))
"""


def test_worker_reads_without_heavy_libraries(settings, make_user, make_customer, tmp_path):
    _user, headers = make_user("admin")
    customer = make_customer("杭州西湖茶业有限公司", phone="0571-8765 4321")
    env = {**os.environ, "CRM_DATABASE_URL": settings["DATABASE_URL"], "CRM_INSTANCE_PATH": str(tmp_path / "worker"),
           "CRM_PLUGINS_AUTOLOAD": "1", "CRM_SECRET_KEY": "test-secret"}
    for key in ("CRM_PLUGINS_DISABLED", "CRM_PLUGINS_ALLOW", "CRM_PLUGINS", "CRM_CONFIG"):
        env.pop(key, None)
    token = headers["Authorization"].split()[1]
    done = subprocess.run([sys.executable, "-c", WORKER.format(heavy=HEAVY), token, str(customer.id)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["read"] == []
    assert set(out["write"]) == {"phonenumbers"}  # loaded by the write that needs it, and only that: pinyin comes from
    # crmcore.pinyin's table, never from pypinyin (~55 MiB)
