"""Fixtures of the service plugin's tests: the app with the plugin loaded like a third party (by
import path in the settings), builders for customers, users, calendars and policies, a real SMTP
server (aiosmtpd on a local port) and a plugin that adds a Chinese catalogue for given strings; the
rest (``ctx``, ``make_customer``, ...) comes from the testing kit (crmcore.testing)."""
from __future__ import annotations

import email
import socket
from email import policy
from pathlib import Path
from typing import Any, Callable

import pytest
from aiosmtpd.controller import Controller
from babel.messages.catalog import Catalog
from babel.messages.pofile import write_po

from crmcore import hookimpl
from plugins.service import models  # noqa: F401 - the tables are on the metadata before the database fixture


@pytest.fixture
def app(make_app: Callable[..., Any]) -> Any:
    return make_app(PLUGINS=["plugins.service"])


@pytest.fixture
def make_staff(ctx: Any) -> Callable[..., Any]:
    """``make_staff("agent1", "service", team="Support")`` -> a User without a password."""
    from crmcore.services import users as user_svc

    def factory(username: str, role: str = "service", team: str | None = None) -> Any:
        return user_svc.create_user(ctx, username, None, role, team=team)

    return factory


@pytest.fixture
def as_user(rt: Any) -> Callable[[Any], Any]:
    """``as_user(user)`` -> a ServiceContext acting as that user."""

    def factory(user: Any) -> Any:
        return rt.context(actor=user, source="test")

    return factory


@pytest.fixture
def headers_for(ctx: Any) -> Callable[[Any], dict[str, str]]:
    from crmcore.services import users as user_svc

    def factory(user: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {user_svc.create_token(ctx, user)[1]}"}

    return factory


class Inbox:
    """What the local SMTP server received: parsed messages and (sender, recipients) envelopes."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001 - aiosmtpd's handler protocol
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(email.message_from_bytes(envelope.original_content, policy=policy.default))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def unused_port() -> int:
    """A local port nothing listens on."""
    return free_port()


@pytest.fixture
def smtp():
    """``(inbox, port)`` of a real SMTP server (aiosmtpd) running on localhost for the test."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield inbox, controller.port
    controller.stop()


class ZhCatalogue:
    """A one-test plugin registering a zh_CN catalogue (``crm_register_translations``), so a test
    can prove that a string is rendered in the customer's language before the lead merges ours."""

    def __init__(self, folder: Path, strings: dict[str, str]) -> None:
        catalog = Catalog(locale="zh_CN")
        for msgid, msgstr in strings.items():
            catalog.add(msgid, msgstr)
        target = folder / "zh_CN" / "LC_MESSAGES"
        target.mkdir(parents=True, exist_ok=True)
        with (target / "messages.po").open("wb") as fh:
            write_po(fh, catalog)
        self.folder = folder

    @hookimpl
    def crm_register_translations(self) -> list[str]:
        return [str(self.folder)]


@pytest.fixture
def zh_catalogue(tmp_path: Path) -> Callable[[dict[str, str]], tuple[str, ZhCatalogue]]:
    """``make_app(plugins=[zh_catalogue({"msgid": "译文"})], ...)``: a plugin with those translations."""
    return lambda strings: ("zh_catalogue", ZhCatalogue(tmp_path / "zh_catalogue", strings))
