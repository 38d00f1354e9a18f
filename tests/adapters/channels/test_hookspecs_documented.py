"""Every hook the channels plugin owns is documented in docs/channels.md with its signature and has a docstring."""
from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from adapters.channels import hookspecs

DOC = (Path(__file__).resolve().parents[3] / "docs" / "channels.md").read_text(encoding="utf-8")
HOOKS = sorted(name for name, obj in vars(hookspecs).items() if name.startswith("crm_") and inspect.isfunction(obj))


def test_there_are_hooks():
    assert HOOKS == ["crm_channel_lead", "crm_channel_receipt", "crm_channel_scene", "crm_channel_scene_qrcode",
                     "crm_channel_ticket"]


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented_with_its_signature(hook):
    params = ", ".join(inspect.signature(getattr(hookspecs, hook)).parameters)
    assert f"### `{hook}({params})" in DOC
    doc = inspect.getdoc(getattr(hookspecs, hook)) or ""
    assert all(f":param {p}:" in doc for p in inspect.signature(getattr(hookspecs, hook)).parameters)
