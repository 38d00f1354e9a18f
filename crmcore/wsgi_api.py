"""The WSGI entry point of API-only web processes: ``gunicorn -c gunicorn.conf.py crmcore.wsgi_api:app``.

The same app as ``crmcore.wsgi`` without the admin pages (nothing of Flask-Admin or the admin views is
imported: a smaller worker), for a deployment whose reverse proxy sends ``/api/`` to its own processes.
"""
from __future__ import annotations

from .app import create_app

app = create_app(admin=False)
