"""The CRM's testing kit for plugins and adapters: a pytest plugin (``crmcore.testing.plugin``) and helpers.

Installed with ``crmcore``, the plugin is loaded by pytest through the ``pytest11`` entry point,
so a plugin's or an adapter's tests get ``app``, ``client``, ``ctx``, ``make_user``,
``make_customer``, ``run_job`` and the rest without copying a conftest. See docs/writing_plugins.md.
"""
from __future__ import annotations

from .admin import admin_login, csrf_token, form_token, post_form
from .database import test_database_url, wipe

__all__ = ["admin_login", "csrf_token", "form_token", "post_form", "test_database_url", "wipe"]
