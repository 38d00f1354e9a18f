"""The ``crm`` command: database, users and tokens, plugins, demo data, import, jobs, serve.

Built on Flask's click integration; plugins add commands with ``crm_register_commands``.
``crm --help`` builds no app, and the light commands (``plugins``, ``jobs list``, ``token ...``,
``create-user``) run in a light app (runtime, database, translations; no API or admin): they start in
a fraction of the full app's time. Every other command gets the full app, as before.
"""
from __future__ import annotations

import json
import sys
from functools import update_wrapper
from typing import Any, Callable, TypeVar, cast

import click
from flask import current_app
from flask.cli import FlaskGroup, ScriptInfo

from .errors import CRMError
from .i18n import _
from .imports.cli import import_group
from .plugins import register_commands
from .runtime import Runtime, build_runtime

_runtime: dict[str, Runtime] = {}


def get_runtime() -> Runtime:
    """The command's runtime; what plugins register is collected when a command first uses it."""
    if "rt" not in _runtime:
        _runtime["rt"] = build_runtime(lazy=True)
    return _runtime["rt"]


def _create_app() -> Any:
    from .app import create_app

    return create_app(runtime=get_runtime())


F = TypeVar("F", bound=Callable[..., Any])


def light(f: F) -> F:
    """Run a command (declared ``with_appcontext=False``) in the light app: the runtime, the database and the
    translations, without the API, the admin or the plugins' views. An app already given (an embedding
    app, ``app.test_cli_runner()``) or already active is used as it is."""

    @click.pass_context
    def wrapper(ctx: click.Context, /, *args: Any, **kwargs: Any) -> Any:
        if not current_app:
            info = ctx.ensure_object(ScriptInfo)
            if info.create_app is _create_app and getattr(info, "_loaded_app", None) is None:
                from .cli_app import create_cli_app

                app = info.crm_light_app = create_cli_app(get_runtime())  # type: ignore[attr-defined]
            else:
                app = info.load_app()
            ctx.with_resource(app.app_context())
        return ctx.invoke(f, *args, **kwargs)

    return update_wrapper(wrapper, f)  # type: ignore[return-value]


def system_ctx() -> Any:
    """A context acting as the system (the CLI user is the operator of the server)."""
    rt = current_app.extensions["crm"]
    return rt.context(source="cli")


def _fail(exc: CRMError) -> None:
    msg = exc.message
    for field, problems in (exc.errors or {}).items():
        msg += f"\n  {field}: {problems}"
    raise click.ClickException(msg)


class CRMGroup(FlaskGroup):
    """Turns CRM errors into one clear line instead of a traceback; lists its commands without the app."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """The CRM's and the plugins' commands, without building the app (so ``crm --help`` is fast).
        Commands an extension adds to ``app.cli`` still run by name (``openapi`` is listed: ``OpenAPIGroup``)."""
        self._load_plugin_commands()
        return sorted(self.commands)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CRMError as exc:
            # the command's app context has ended by now: the message is written in its app's language
            info = ctx.ensure_object(ScriptInfo)
            app = getattr(info, "_loaded_app", None) or getattr(info, "crm_light_app", None)
            if app is not None and not current_app:
                with app.app_context():
                    _fail(exc)
            _fail(exc)


cli = CRMGroup(create_app=_create_app, add_default_commands=True, add_version_option=False,
               help="Manage and run the CRM.")


class OpenAPIGroup(click.Group):
    """``crm openapi``: flask-smorest's commands (``print``, ``write``, ``list-config-prefixes``), listed by
    ``crm --help`` without importing flask-smorest; they build the full app when they run."""

    def _smorest(self) -> click.Group:
        from flask_smorest.spec import openapi_cli

        return cast(click.Group, openapi_cli)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return self._smorest().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self._smorest().get_command(ctx, cmd_name)


cli.add_command(OpenAPIGroup("openapi", help="Print or write the API's OpenAPI document (the one served at /api/openapi.json)."))


@cli.command("init-db")
def init_db() -> None:
    """Create or upgrade the database schema (core and plugins) and seed the default roles."""
    from . import migrate
    from .services.users import seed_roles

    rt = current_app.extensions["crm"]
    migrate.upgrade(rt)
    seed_roles(system_ctx())
    if rt.settings["JOBS_BACKEND"] == "procrastinate":
        from .services import jobs_procrastinate

        created, applied = jobs_procrastinate.upgrade_schema(rt)
        if created:
            click.echo(_("Job engine tables created (procrastinate)."))
        if applied:
            click.echo(_("Job engine migrations applied (procrastinate): %(names)s", names=", ".join(applied)))
    click.echo(f"Database ready: {_safe_url(rt.db.url)}")


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@cli.command("create-user", with_appcontext=False)
@click.argument("username")
@click.option("--role", default="sales", show_default=True, help="admin, manager, sales, service, analyst or your own")
@click.option("--password", help="Asked for when omitted (not echoed).")
@click.option("--email")
@click.option("--full-name")
@click.option("--team", help="Team name; created when new.")
@click.option("--locale", type=click.Choice(["zh_CN", "en"]))
@light
def create_user_cmd(username: str, role: str, password: str | None, email: str | None, full_name: str | None,
                    team: str | None, locale: str | None) -> None:
    """Create a user who can log in to the admin and own customers."""
    from .services.users import create_user

    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    user = create_user(system_ctx(), username, password, role, email=email, full_name=full_name, team=team, locale=locale)
    click.echo(f"Created user {user.username} (id {user.id}, role {role}).")


@cli.group()
def token() -> None:
    """API tokens: create (shown once), list, revoke."""


@token.command("create", with_appcontext=False)
@click.argument("user")
@click.option("--name", default="default", show_default=True)
@click.option("--expires-days", type=click.IntRange(min=1),
              help="Days until the token stops working; default and most: the TOKEN_TTL_DAYS setting.")
@light
def token_create(user: str, name: str, expires_days: int | None) -> None:
    """Create an API token for USER (name or id); it is printed once, only its hash is stored."""
    from .services.users import create_token, get_user

    ctx = system_ctx()
    tok, plain = create_token(ctx, get_user(ctx, user), name, expires_days)
    click.echo(plain)
    until = f"it expires {tok.expires_at:%Y-%m-%d %H:%M} UTC" if tok.expires_at else "it does not expire"
    click.echo(f"Token {tok.id} for {user}; {until}. Store it now, it cannot be shown again.", err=True)


@token.command("list", with_appcontext=False)
@click.argument("user")
@light
def token_list(user: str) -> None:
    """List USER's tokens (id, prefix, name, state, created, expires, last used; never the token)."""
    from sqlalchemy import select

    from .db import utcnow
    from .models.auth import ApiToken
    from .services.users import get_user, token_expiry

    ctx = system_ctx()
    u = get_user(ctx, user)
    now = utcnow()
    for t in ctx.session.scalars(select(ApiToken).where(ApiToken.user_id == u.id).order_by(ApiToken.id)):
        expires = token_expiry(t, ctx.settings)
        state = "revoked" if t.revoked_at else "expired" if expires and expires <= now else "active"
        until = f"expires {expires:%Y-%m-%d %H:%M}" if expires else "never expires"
        used = f"last used {t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never used"
        click.echo(f"{t.id}\t{t.prefix}…\t{t.name}\t{state}\tcreated {t.created_at:%Y-%m-%d}\t{until}\t{used}")


@token.command("revoke", with_appcontext=False)
@click.argument("token_id", type=int)
@light
def token_revoke(token_id: int) -> None:
    """Revoke token TOKEN_ID; requests with it get 401 from now on."""
    from .services.users import revoke_token

    revoke_token(system_ctx(), token_id)
    click.echo(f"Token {token_id} revoked.")


@cli.command("check")
@click.option("--public-url", help="Where users reach the CRM (overrides CRM_PUBLIC_URL), e.g. https://crm.example.com")
@click.option("--locale", type=click.Choice(["zh_CN", "en"]), help="Language of the report (default CRM_DEFAULT_LOCALE)")
def check(public_url: str | None, locale: str | None) -> None:
    """Check this deployment's settings (secret key, cookies, database, jobs, mail, ERP); exit 1 on an error."""
    from flask_babel import force_locale

    from .checks import run_checks

    rt = current_app.extensions["crm"]
    ctx = rt.context(source="cli")
    if public_url is not None:
        ctx.settings["PUBLIC_URL"] = public_url
    marks = {"error": "✗", "warning": "!", "ok": "✓"}
    with force_locale(locale or rt.settings.get("DEFAULT_LOCALE") or "en"):
        findings = run_checks(ctx)
        for finding in findings:
            click.echo(f"{marks.get(finding.level, '?')} {finding.message}")
        errors = sum(1 for f in findings if f.level == "error")
        warnings = sum(1 for f in findings if f.level == "warning")
        click.echo(_("%(errors)s error(s), %(warnings)s warning(s).", errors=errors, warnings=warnings))
    ctx.session.close()
    if errors:
        sys.exit(1)


@cli.command("plugins", with_appcontext=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@light
def plugins_cmd(as_json: bool) -> None:
    """List the loaded plugins, the hooks each implements and what each declares (CRM_*)."""
    from .plugins import plugin_summary

    rows = plugin_summary(current_app.extensions["crm"].pm)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        state = "" if row["enabled"] else " (disabled)"
        version = f" {row['version']}" if row["version"] else ""
        click.echo(f"{row['name']}{version}{state}  [{row['source']}: {row['module']}]")
        if row["requires"]:
            click.echo(f"    requires: {', '.join(row['requires'])}")
        for hook in row["hooks"]:
            click.echo(f"    {hook}")
        for attr in row.get("declares", ()):
            click.echo(f"    {attr} (declared)")


@cli.command("demo")
def demo_cmd() -> None:
    """Load demo data (users, Chinese and English customers, contacts, interactions, and each
    plugin's own by the ``crm_demo_data`` hook); idempotent."""
    from .demo import load_demo

    ctx = system_ctx()
    click.echo(load_demo(ctx))
    for lines in ctx.hook.crm_demo_data(ctx=ctx):  # one list per plugin
        for line in lines or ():
            click.echo(line)


cli.add_command(import_group)  # crm import <kind> FILE: crmcore/imports/cli.py


@cli.group("export")
def export_group() -> None:
    """Export records as CSV files."""


@export_group.command("customers")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), help="File to write (default: stdout).")
@click.option("--encoding", default="utf-8-sig", show_default=True,
              type=click.Choice(["utf-8-sig", "utf-8", "gb18030"], case_sensitive=False),
              help="utf-8-sig (with BOM) opens in Excel; gb18030 for older Excel in China.")
@click.option("--q", "q", help="Only customers matching this search (name, pinyin, phone, e-mail).")
@click.option("--tag")
@click.option("--stage")
def export_customers(output: str | None, encoding: str, q: str | None, tag: str | None, stage: str | None) -> None:
    """Export customers in the columns `crm import customers` reads (a file round-trips)."""
    from .services.exporter import iter_customer_csv

    ctx = system_ctx()
    chunks = iter_customer_csv(ctx, encoding, q=q, tag=tag, stage=stage)
    if output:
        with open(output, "wb") as fh:
            for chunk in chunks:
                fh.write(chunk)
        click.echo(f"Wrote {output} ({encoding})", err=True)
    else:
        out = sys.stdout.buffer
        for chunk in chunks:
            out.write(chunk)
        out.flush()


@cli.group()
def jobs() -> None:
    """Background jobs registered by the core and the plugins: schedule, runs, progress, cancel."""


@jobs.command("list", with_appcontext=False)
@click.option("--runs", default=20, show_default=True, type=click.IntRange(0, 500), help="How many recent runs to show.")
@light
def jobs_list(runs: int) -> None:
    """List jobs (interval and last run), then the latest runs with their progress."""
    from .models.integration import JobRun
    from .services.job_runs import list_runs, status_label
    from .services.jobs import interval_of

    ctx = system_ctx()
    for name, job in sorted(ctx.registry.jobs.items()):
        state = ctx.session.get(JobRun, name)
        last = (f"{state.last_started_at:%Y-%m-%d %H:%M} {status_label(state.last_status)}"
                if state and state.last_started_at else "never")
        seconds = interval_of(ctx.settings, job)
        every = f"every {seconds}s" if seconds else "on demand"
        click.echo(f"{name}\t{every}\tlast: {last}\t{job.description}")
    recent = list_runs(ctx, limit=runs) if runs else []
    if recent:
        click.echo(f"\n{_('Run')}\t{_('Job')}\t{_('Status')}\t{_('Progress')}\t{_('Started')}\t{_('Worker')}")
    for run in recent:
        progress = f"{run.progress_done}/{run.progress_total}" if run.progress_total else str(run.progress_done or "")
        started = f"{run.started_at:%Y-%m-%d %H:%M:%S}" if run.started_at else ""
        status = status_label(run.status) + (f" ({_('cancel requested')})" if run.cancel_requested
                                             and run.status in ("queued", "running") else "")
        click.echo(f"{run.id}\t{run.name}\t{status}\t{progress}\t{started}\t{run.worker or ''}"
                   + (f"\t{run.error}" if run.error else ""))


@jobs.command("run")
@click.argument("name")
def jobs_run(name: str) -> None:
    """Run job NAME now, in this process."""
    from .services.jobs import run_job

    state = run_job(system_ctx(), name)
    click.echo(f"{name}: {state.last_status}" + (f" ({state.last_error})" if state.last_error else ""))
    if state.last_status != "ok":
        sys.exit(1)


@jobs.command("enqueue")
@click.argument("name")
def jobs_enqueue(name: str) -> None:
    """Queue one run of job NAME for the workers (CRM_JOBS_BACKEND); print its run id."""
    from .services.job_runs import enqueue

    run = enqueue(system_ctx(), name)
    click.echo(_("Run %(id)s of %(name)s is queued.", id=run.id, name=name))


@jobs.command("cancel")
@click.argument("run_id", type=int)
def jobs_cancel(run_id: int) -> None:
    """Cancel run RUN_ID: a queued run never starts, a running one stops at its next progress report."""
    from .services.job_runs import cancel, status_label

    run = cancel(system_ctx(), run_id)
    if run.status == "cancelled":
        click.echo(_("Run %(id)s is cancelled.", id=run.id))
    else:
        click.echo(_("Run %(id)s will stop at its next progress report (now: %(status)s).", id=run.id,
                     status=status_label(run.status)))


@jobs.command("run-due")
def jobs_run_due() -> None:
    """Run every job whose interval has passed, and queued runs (call this from cron)."""
    from .services.jobs import run_due

    for name, status in run_due(system_ctx()).items():
        click.echo(f"{name}: {status}")


@cli.command("worker")
@click.option("--concurrency", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Jobs one worker runs at the same time (procrastinate backend).")
@click.option("--tick", default=5.0, show_default=True, type=click.FloatRange(0.1, 3600),
              help="Seconds between two looks for due jobs (inprocess backend).")
def worker(concurrency: int, tick: float) -> None:
    """Run background jobs until stopped (SIGTERM/Ctrl-C): periodic jobs and queued runs, on CRM_JOBS_BACKEND."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    rt = app.extensions["crm"]
    if rt.settings["JOBS_BACKEND"] == "procrastinate":
        from .services import jobs_procrastinate

        click.echo(_("Worker on the procrastinate backend (concurrency %(n)s).", n=concurrency))
        jobs_procrastinate.run_worker(rt, app, concurrency=concurrency)
        return
    import signal
    import threading

    from .services.jobs import run_tick

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_args: stop.set())
    click.echo(_("Worker on the inprocess backend (a look for due jobs every %(n)s s).", n=tick))
    try:
        while not stop.is_set():
            run_tick(rt, app)
            stop.wait(tick)
    except KeyboardInterrupt:
        pass


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--debug", is_flag=True)
@click.option("--scheduler/--no-scheduler", default=True, show_default=True,
              help="Run due jobs in-process (CRM_JOBS_BACKEND=inprocess; with procrastinate, `crm worker` runs them).")
def serve(host: str, port: int, debug: bool, scheduler: bool) -> None:
    """Serve the admin (/admin) and the API (/api/v1). Use gunicorn for production."""
    from .demo import demo_login_hint
    from .services.jobs import start_scheduler

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    rt = app.extensions["crm"]
    click.echo(f"CRM on http://{host}:{port}/admin  (API: http://{host}:{port}/api/v1, "
               f"OpenAPI: http://{host}:{port}/api/openapi.json)")
    hint = demo_login_hint(rt.context(source="cli", session=rt.db.new_session()))
    if hint:
        click.echo(hint)
    if rt.settings["JOBS_BACKEND"] != "inprocess":
        click.echo(_("Background jobs run in `crm worker` processes (CRM_JOBS_BACKEND=%(backend)s).",
                     backend=rt.settings["JOBS_BACKEND"]))
    elif scheduler:
        start_scheduler(rt, app=app)
    from werkzeug.serving import run_simple

    run_simple(host, port, app, use_debugger=debug, use_reloader=False, threaded=True)


def main() -> None:
    """Entry point of the ``crm`` console script."""
    try:
        rt = get_runtime()
        register_commands(rt.pm, cli)
    except CRMError as exc:
        click.echo(f"Error: {exc.message}", err=True)
        sys.exit(1)
    cli.main(prog_name="crm")
