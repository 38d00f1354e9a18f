"""CSRF protection installed on first use (``crmcore.lazyadmin.DeferredCSRF``): a web process answering only the API never
imports WTForms, and the first request outside ``/api/`` is checked exactly as in an app that protected itself at
start-up (the same refusals, the plugins' exemptions kept), in the whole-app worker and in the API-only one."""
from __future__ import annotations

from pathlib import Path

import pytest
from test_wsgi_api import PRELUDE, run_process

SCRIPT = PRELUDE + r'''
if sys.argv[1] == "eager":
    from crmcore.app import create_app
    app = create_app()
else:
    import importlib
    app = importlib.import_module(sys.argv[1]).app
client = app.test_client()
made = client.post("/api/v1/customers", json={"name": "杭州西湖茶业有限公司"}, headers={"Authorization": f"Bearer {token}"})
print(made.status_code, "wtforms" in sys.modules)
for path in ("/service/portal/t/abc/reply", "/events/r/abc", "/m/u/abc", "/oa/internal/callback", "/sales/forms/lead",
             "/channels/wechat/1/callback"):
    answer = client.post(path, data={"body": "hello"})
    print(path, answer.status_code, b"CSRF" in answer.data)
'''


@pytest.mark.parametrize("module", ["crmcore.wsgi", "crmcore.wsgi_api"])
def test_the_first_page_request_is_checked_as_in_an_app_protected_at_start_up(tmp_path: Path, module: str) -> None:
    eager = run_process(tmp_path / "eager", SCRIPT, "eager")
    lazy = run_process(tmp_path / "lazy", SCRIPT, module)
    assert eager[0] == "201 True"  # protected at start-up: WTForms is there from the first request
    assert lazy[0] == "201 False"  # an API request imports nothing of the CSRF protection
    assert lazy[1:] == eager[1:]
    assert lazy[1] == "/service/portal/t/abc/reply 400 True"  # a form post without its token is refused
    assert lazy[2] == "/events/r/abc 400 True"
    assert all(line.endswith("False") for line in lazy[3:])  # callbacks, unsubscribe, web forms: exempt as declared
