"""The WSGI entry point for production servers: ``gunicorn -c gunicorn.conf.py crmcore.wsgi:app`` (settings: CRM_*)."""
from __future__ import annotations

from .app import create_app

app = create_app(admin="on_first_use")  # a worker that only answers the API never loads the admin
