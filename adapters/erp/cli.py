"""``crm sync ...``: run the ERP sync with progress bars and a summary, show its status, manage connections."""
from __future__ import annotations

import json
import sys
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup


def _ctx() -> Any:
    from .sync import SOURCE

    return current_app.extensions["crm"].context(source=SOURCE)


@click.group("sync", cls=AppGroup)
def sync() -> None:
    """ERP sync: run it, see its status, manage connections."""


@sync.command("run")
@click.option("--connection", help="Only this connection (default: every enabled one)")
@click.option("--stream", "streams", multiple=True, help="Only this stream (repeatable)")
@click.option("--no-push", is_flag=True, help="Do not push pending CRM changes first")
def run_cmd(connection: str | None, streams: tuple[str, ...], no_push: bool) -> None:
    """Push pending CRM changes, then pull each stream from its bookmark."""
    from .runner import run_sync

    ctx = _ctx()
    bars: dict[str, Any] = {}

    def before(conn: Any, adapter: Any) -> None:
        from .sync import streams_to_run

        click.echo(f"{conn.name} ({conn.adapter})")
        for name in streams_to_run(conn, adapter, streams or None):
            bars.pop(name, None)

    def progress(stream: str, n: int) -> None:
        bar = bars.get(stream)
        if bar is None:
            # the number of changed records is unknown up front: the bar counts records read
            bar = bars[stream] = click.progressbar(iter(()), label=f"  {stream:<14}", show_pos=True, file=sys.stderr)
            bar.__enter__()
        bar.update(n)

    from crmcore.errors import CRMError

    try:
        results = run_sync(ctx, connection=connection, streams=streams or None, progress=progress,
                           push=not no_push, before_stream=before)
    except CRMError as exc:  # an unknown connection or stream, a connection another process runs
        click.echo(f"FAILED {exc}", err=True)
        raise SystemExit(1) from None
    for bar in bars.values():
        bar.__exit__(None, None, None)
    failed = False
    for result in results:
        click.echo(f"{result.connection}:")
        if result.error and not result.streams:
            failed = True
            click.echo(f"  FAILED {result.error}", err=True)
            continue
        click.echo(f"  {'stream':<14} {'read':>7} {'created':>8} {'updated':>8} {'skipped':>8} {'failed':>7}")
        for stream, c in result.streams.items():
            click.echo(f"  {stream:<14} {c.read:>7} {c.created:>8} {c.updated:>8} {c.skipped:>8} {c.failed:>7}")
        t = result.total
        click.echo(f"  {'total':<14} {t.read:>7} {t.created:>8} {t.updated:>8} {t.skipped:>8} {t.failed:>7}")
        for stream, error in result.errors.items():
            failed = True
            c = result.streams.get(stream)
            click.echo(f"  {stream}: FAILED {error}" + (f" (stored before: {c.created} created, {c.updated} updated)"
                                                        if c is not None else ""), err=True)
    if failed:
        raise SystemExit(1)


@sync.command("status")
@click.option("--json", "as_json", is_flag=True)
def status_cmd(as_json: bool) -> None:
    """Bookmarks, last runs, open issues and pending pushes per connection and stream."""
    from .runner import status

    data = status(_ctx())
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))
        return
    click.echo(f"pending pushes: {data['pending_pushes']}  dead pushes: {data['dead_pushes']}")
    for conn in data["connections"]:
        state = "enabled" if conn["enabled"] else "disabled"
        click.echo(f"{conn['name']} ({conn['adapter']}, {state}) last test: {conn['last_test'] or '-'}")
        for s in conn["streams"]:
            run = s["last_run"] or {}
            click.echo(f"  {s['stream']:<14} bookmark={s['bookmark'] or '-'}{' (interrupted)' if s['interrupted'] else ''}"
                       f"  last={run.get('status_label', '-')} read={run.get('read', 0)} created={run.get('created', 0)}"
                       f" updated={run.get('updated', 0)} failed={run.get('failed', 0)}  open issues={s['open_issues']}")
            if run.get("reason"):
                click.echo(f"    {run['reason']}")


@sync.command("add-connection")
@click.argument("name")
@click.option("--adapter", required=True)
@click.option("--setting", "settings", multiple=True, help="key=value (url, database, login, directory, ...)")
@click.option("--secret-env", help="Read the password / API key from this environment variable")
@click.option("--stream", "streams", multiple=True)
@click.option("--no-push", is_flag=True)
def add_connection_cmd(name: str, adapter: str, settings: tuple[str, ...], secret_env: str | None,
                       streams: tuple[str, ...], no_push: bool) -> None:
    """Create or change a connection (the secret comes from an environment variable, never the command line)."""
    import os

    from .connections import get_connection, save_connection
    from crmcore.errors import NotFound

    ctx = _ctx()
    data: dict[str, Any] = {"name": name, "adapter": adapter, "push_enabled": not no_push}
    if settings:
        data["settings"] = dict(s.split("=", 1) for s in settings)
    if streams:
        data["streams"] = list(streams)
    if secret_env:
        data["secret"] = os.environ.get(secret_env) or ""
    try:
        get_connection(ctx, name)
        save_connection(ctx, data, name)
    except NotFound:
        save_connection(ctx, data)
    click.echo(f"Saved connection {name}.")


@sync.command("test")
@click.argument("name")
def test_cmd(name: str) -> None:
    """Try a connection now."""
    from .connections import test_connection

    from crmcore.errors import CRMError

    try:
        ok, message = test_connection(_ctx(), name)
    except CRMError as exc:  # no such connection, an adapter that is not loaded: said, not a traceback
        ok, message = False, str(exc)
    click.echo(("OK " if ok else "FAILED ") + message)
    if not ok:
        raise SystemExit(1)
