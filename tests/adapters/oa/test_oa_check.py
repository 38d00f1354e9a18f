"""``crm check`` for the OA adapter: an OA that an active approval policy routes to must be loaded, have
its secrets and answer at its address; internal-only policies need nothing."""
from __future__ import annotations

import socket

from adapters.oa import settings as oa_settings
from crmcore.checks import plugin_checks
from crmcore.models import ApprovalPolicy


def _policy(ctx, name: str, provider: str, active: bool = True) -> None:
    ctx.session.add(ApprovalPolicy(name=name, entity="customer", provider=provider, active=active))
    ctx.session.commit()


def _findings(ctx):
    [check] = [c for c in plugin_checks(ctx) if c.name == "oa.providers"]
    return [(f.level, f.message) for f in check.func(ctx)]


def test_each_oa_a_policy_uses_is_loaded_configured_and_reachable(ctx):
    _policy(ctx, "internal only", "internal")
    _policy(ctx, "switched off", "feishu", active=False)
    assert _findings(ctx) == []

    _policy(ctx, "unknown", "weaver")
    assert _findings(ctx) == [("error", "Approval policies route to the OA weaver, which no loaded plugin provides.")]

    _policy(ctx, "to the webhook", "webhook")
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    oa_settings.save_provider_settings(ctx, "webhook", {"base_url": f"http://127.0.0.1:{port}"}, {})
    results = _findings(ctx)
    assert all(level == "error" for level, _m in results)
    messages = " ".join(m for _l, m in results)
    assert "The OA webhook lacks settings: secret" in messages
    assert f"The OA webhook at http://127.0.0.1:{port} cannot be reached" in messages

    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        port = listening.getsockname()[1]
        oa_settings.save_provider_settings(ctx, "webhook", {"base_url": f"http://127.0.0.1:{port}"}, {"secret": "s3"})
        results = _findings(ctx)
    assert ("ok", f"The OA webhook at http://127.0.0.1:{port} answers.") in results
    assert not any("webhook lacks" in m for _l, m in results) and not any("s3" in m for _l, m in results)
