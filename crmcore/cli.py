"""The ``crm`` command: database, users and tokens, plugins, demo data, import, jobs, serve.

Built on Flask's click integration; plugins add commands with ``crm_register_commands``.
"""
from __future__ import annotations

import json
import sys
from typing import Any

import click
from flask import current_app
from flask.cli import FlaskGroup

from .errors import CRMError
from .imports.cli import import_group
from .plugins import register_commands
from .runtime import Runtime, build_runtime

_runtime: dict[str, Runtime] = {}


def get_runtime() -> Runtime:
    if "rt" not in _runtime:
        _runtime["rt"] = build_runtime()
    return _runtime["rt"]


def _create_app() -> Any:
    from .app import create_app

    return create_app(runtime=get_runtime())


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
    """Turns CRM errors into one clear line instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CRMError as exc:
            _fail(exc)


cli = CRMGroup(create_app=_create_app, add_default_commands=True, add_version_option=False,
               help="Manage and run the CRM.")


@cli.command("init-db")
def init_db() -> None:
    """Create or upgrade the database schema (core and plugins) and seed the default roles."""
    from . import migrate
    from .services.users import seed_roles

    rt = current_app.extensions["crm"]
    migrate.upgrade(rt)
    seed_roles(system_ctx())
    click.echo(f"Database ready: {_safe_url(rt.db.url)}")


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@cli.command("create-user")
@click.argument("username")
@click.option("--role", default="sales", show_default=True, help="admin, manager, sales, service, analyst or your own")
@click.option("--password", help="Asked for when omitted (not echoed).")
@click.option("--email")
@click.option("--full-name")
@click.option("--team", help="Team name; created when new.")
@click.option("--locale", type=click.Choice(["zh_CN", "en"]))
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


@token.command("create")
@click.argument("user")
@click.option("--name", default="default", show_default=True)
@click.option("--expires-days", type=click.IntRange(min=1),
              help="Days until the token stops working; default and most: the TOKEN_TTL_DAYS setting.")
def token_create(user: str, name: str, expires_days: int | None) -> None:
    """Create an API token for USER (name or id); it is printed once, only its hash is stored."""
    from .services.users import create_token, get_user

    ctx = system_ctx()
    tok, plain = create_token(ctx, get_user(ctx, user), name, expires_days)
    click.echo(plain)
    until = f"it expires {tok.expires_at:%Y-%m-%d %H:%M} UTC" if tok.expires_at else "it does not expire"
    click.echo(f"Token {tok.id} for {user}; {until}. Store it now, it cannot be shown again.", err=True)


@token.command("list")
@click.argument("user")
def token_list(user: str) -> None:
    """List USER's tokens (id, prefix, name, state, created, expires, last used; never the token)."""
    from sqlalchemy import select

    from .db import utcnow
    from .models import ApiToken
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


@token.command("revoke")
@click.argument("token_id", type=int)
def token_revoke(token_id: int) -> None:
    """Revoke token TOKEN_ID; requests with it get 401 from now on."""
    from .services.users import revoke_token

    revoke_token(system_ctx(), token_id)
    click.echo(f"Token {token_id} revoked.")


@cli.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
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
        out = click.get_binary_stream("stdout")
        for chunk in chunks:
            out.write(chunk)
        out.flush()


@cli.group()
def jobs() -> None:
    """Scheduled jobs registered by the core and the plugins."""


@jobs.command("list")
def jobs_list() -> None:
    """List jobs, their interval and last run."""
    from .models import JobRun

    ctx = system_ctx()
    for name, job in sorted(ctx.registry.jobs.items()):
        state = ctx.session.get(JobRun, name)
        last = f"{state.last_started_at:%Y-%m-%d %H:%M} {state.last_status}" if state and state.last_started_at else "never"
        click.echo(f"{name}\tevery {job.interval}s\tlast: {last}\t{job.description}")


@jobs.command("run")
@click.argument("name")
def jobs_run(name: str) -> None:
    """Run job NAME now."""
    from .services.jobs import run_job

    state = run_job(system_ctx(), name)
    click.echo(f"{name}: {state.last_status}" + (f" ({state.last_error})" if state.last_error else ""))
    if state.last_status != "ok":
        sys.exit(1)


@jobs.command("run-due")
def jobs_run_due() -> None:
    """Run every job whose interval has passed (call this from cron)."""
    from .services.jobs import run_due

    for name, status in run_due(system_ctx()).items():
        click.echo(f"{name}: {status}")


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--debug", is_flag=True)
@click.option("--scheduler/--no-scheduler", default=True, show_default=True, help="Run due jobs in-process.")
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
    if scheduler:
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
