"""The plugin's command: ``crm loyalty show <customer id>``."""
from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup


@click.group("loyalty", cls=AppGroup)  # its commands run inside the app context
def loyalty() -> None:
    """Loyalty points (plugin crm-plugin-loyalty)."""


@loyalty.command("show")
@click.argument("customer_id", type=int)
def show(customer_id: int) -> None:
    """Print a customer's points and tier."""
    from .services import balance

    rt = current_app.extensions["crm"]
    info = balance(rt.context(source="cli"), customer_id)
    points = info["points"]
    click.echo(f"{points} point{'' if abs(points) == 1 else 's'} ({info['tier']})")
