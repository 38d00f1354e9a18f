"""Gunicorn settings for the CRM: ``gunicorn -c gunicorn.conf.py crmcore.wsgi:app`` (docs/jobs.md, docs/deployment.md).

The web processes serve requests only; background jobs run in ``crm worker`` processes. Settings of the CRM
itself come from CRM_* variables or the CRM_CONFIG file; anything here can be overridden on the command line.
"""
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")  # behind a reverse proxy on the same machine
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))  # about 2 per core; each is one process with its own pool
threads = 1  # sync workers: one request at a time per process, no shared state between requests
timeout = 60  # a request longer than this is killed and the worker replaced
graceful_timeout = 30
keepalive = 5
max_requests = 10000  # recycle a worker now and then so its memory stays flat
max_requests_jitter = 1000
preload_app = False  # each worker builds its own app (and database pool) after the fork
accesslog = "-"
errorlog = "-"
forwarded_allow_ips = "127.0.0.1"  # the proxy; set CRM_TRUSTED_PROXIES=1 as well
control_socket_disable = True  # no control socket in the home folder (several instances on one machine would share it)
