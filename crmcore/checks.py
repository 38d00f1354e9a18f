"""``crm check``: what is wrong with a deployment's settings, in the reader's language (core checks + plugins')."""
from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any, Iterable
from urllib.parse import urlsplit

from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from .config import secret_key
from .contracts import Check, Finding
from .i18n import _

if TYPE_CHECKING:
    from .runtime import ServiceContext

LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", ""}
WEAK_SECRETS = {"secret", "changeme", "change-me", "dev", "development", "test", "test-secret", "password",
                "crm", "default", "insecure", "please-change-me"}
MIN_SECRET_LENGTH = 32
JOBS_BACKENDS = ("inprocess", "procrastinate")


def public_url(ctx: ServiceContext) -> str:
    """Where users reach the CRM (``CRM_PUBLIC_URL``; ``crm check --public-url`` overrides it)."""
    return str(ctx.settings.get("PUBLIC_URL") or "").strip()


def is_local(ctx: ServiceContext) -> bool:
    """Whether the CRM is served to this machine only (no public URL, or one on localhost)."""
    return (urlsplit(public_url(ctx)).hostname or "") in LOCAL_HOSTS


def _error(topic: str, message: Any) -> Finding:
    return Finding("error", topic, str(message))


def _warning(topic: str, message: Any) -> Finding:
    return Finding("warning", topic, str(message))


def _ok(topic: str, message: Any) -> Finding:
    return Finding("ok", topic, str(message))


def check_public_url(ctx: ServiceContext) -> list[Finding]:
    url = public_url(ctx)
    if not url:
        return [_warning("public_url", _("CRM_PUBLIC_URL is not set: say where users reach the CRM "
                                         "(https://crm.example.com) so that cookies and TLS can be checked."))]
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return [_error("public_url", _("CRM_PUBLIC_URL is not a web address: %(url)s.", url=url))]
    if parts.scheme != "https" and not is_local(ctx):
        return [_error("public_url", _("The CRM is served at %(url)s without TLS: serve it over HTTPS "
                                       "(a reverse proxy with a certificate, see docs/deployment.md).", url=url))]
    return [_ok("public_url", _("Served at %(url)s.", url=url))]


def check_secret_key(ctx: ServiceContext) -> list[Finding]:
    configured = str(ctx.settings.get("SECRET_KEY") or "")
    if not configured:
        level = _warning if is_local(ctx) else _error
        return [level("secret_key", _("CRM_SECRET_KEY is not set: a key was generated into the instance folder, "
                                      "which other machines do not share. Set CRM_SECRET_KEY to a random value "
                                      "of at least %(n)s characters (python -c \"import secrets; "
                                      "print(secrets.token_hex(32))\").", n=MIN_SECRET_LENGTH))]
    key = secret_key(ctx.settings)
    if key.strip().lower() in WEAK_SECRETS or len(set(key)) < 8:
        return [_error("secret_key", _("CRM_SECRET_KEY is a well-known or repetitive value: anyone could forge "
                                       "sessions. Set a random value of at least %(n)s characters.",
                                       n=MIN_SECRET_LENGTH))]
    if len(key) < MIN_SECRET_LENGTH:
        return [_error("secret_key", _("CRM_SECRET_KEY has %(length)s characters: use a random value of at "
                                       "least %(n)s.", length=len(key), n=MIN_SECRET_LENGTH))]
    return [_ok("secret_key", _("The secret key is set and long enough."))]


def check_cookies(ctx: ServiceContext) -> list[Finding]:
    if is_local(ctx):
        return []
    if not ctx.settings.get("SESSION_COOKIE_SECURE"):
        return [_error("cookies", _("CRM_SESSION_COOKIE_SECURE is off while the CRM is served at %(url)s: "
                                    "session cookies would travel without TLS. Set CRM_SESSION_COOKIE_SECURE=1.",
                                    url=public_url(ctx)))]
    return [_ok("cookies", _("Session cookies are sent over HTTPS only."))]


def _safe(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def check_database(ctx: ServiceContext) -> list[Finding]:
    from . import migrate

    rt = ctx.runtime
    url = rt.db.url
    findings = []
    try:
        with rt.db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure to connect is the finding
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:300]
        return [_error("database", _("The database %(url)s cannot be reached: %(reason)s",
                                     url=_safe(url), reason=reason))]
    if rt.db.engine.dialect.name == "sqlite":
        level = _warning if is_local(ctx) else _error
        findings.append(level("database", _("The database is SQLite, the embedded default: one machine, few "
                                            "writers. In production use PostgreSQL (CRM_DATABASE_URL="
                                            "postgresql+psycopg://...).")))
    else:
        findings.append(_ok("database", _("The database %(url)s answers.", url=_safe(url))))
    from alembic.script import ScriptDirectory

    expected = set(ScriptDirectory.from_config(migrate.alembic_config(rt)).get_heads())
    current = migrate.current_heads(rt)
    if current != expected:
        findings.append(_error("migrations", _("The database schema is not at the code's version (missing: "
                                               "%(missing)s). Run: crm init-db",
                                               missing=", ".join(sorted(expected - current)) or "-")))
    else:
        findings.append(_ok("migrations", _("The database schema is up to date.")))
    return findings


def check_jobs(ctx: ServiceContext) -> list[Finding]:
    backend = str(ctx.settings.get("JOBS_BACKEND") or "inprocess").strip().lower()
    if backend not in JOBS_BACKENDS:
        return [_error("jobs", _("CRM_JOBS_BACKEND is %(value)s: choose one of %(choices)s.",
                                 value=backend, choices=", ".join(JOBS_BACKENDS)))]
    engine = ctx.runtime.db.engine
    if backend == "inprocess":
        return [_ok("jobs", _("Background jobs run in-process (crm serve or crm worker); with several web "
                              "processes, run them in one crm worker or use CRM_JOBS_BACKEND=procrastinate."))]
    if engine.dialect.name != "postgresql":
        return [_error("jobs", _("CRM_JOBS_BACKEND=procrastinate needs PostgreSQL; the database is %(dialect)s.",
                                 dialect=engine.dialect.name))]
    if importlib.util.find_spec("procrastinate") is None:
        return [_error("jobs", _("CRM_JOBS_BACKEND=procrastinate, but the job engine is not installed: "
                                 "pip install 'crmcore[server]'."))]
    try:
        with engine.connect() as conn:
            present = inspect(conn).has_table("procrastinate_jobs")
    except Exception as exc:  # noqa: BLE001 - the database check says why
        return [_error("jobs", _("The job engine's database cannot be reached: %(reason)s",
                                 reason=str(exc).splitlines()[0][:300]))]
    if not present:
        return [_error("jobs", _("The job engine's tables are missing from the database. Run: crm init-db"))]
    return [_ok("jobs", _("Background jobs run on the job engine (procrastinate) in this database."))]


CORE_CHECKS = [Check("public_url", check_public_url), Check("secret_key", check_secret_key),
               Check("cookies", check_cookies), Check("database", check_database), Check("jobs", check_jobs)]


def plugin_checks(ctx: ServiceContext) -> Iterable[Check]:
    from .plugins import plugin_items

    return plugin_items(ctx.runtime.pm, "crm_register_checks")


def run_checks(ctx: ServiceContext) -> list[Finding]:
    """Every core check, then every plugin's; a check that fails itself is a finding, not a crash."""
    findings: list[Finding] = []
    for check in [*CORE_CHECKS, *plugin_checks(ctx)]:
        try:
            findings.extend(check.func(ctx))
        except Exception as exc:  # noqa: BLE001 - say which check broke and go on with the others
            ctx.session.rollback()
            findings.append(_error(check.name, _("The check %(name)s failed: %(reason)s", name=check.name,
                                                 reason=f"{type(exc).__name__}: {exc}"[:300])))
    return findings
