"""A real SMTP server for tests (aiosmtpd on a free local port): fixture ``smtp_server`` -> ``(inbox, port)``."""
from __future__ import annotations

import email
import socket
from email import policy
from typing import Any, Iterator

import pytest


class Inbox:
    """What the local SMTP server received: parsed messages and (sender, recipients) envelopes."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # aiosmtpd's handler protocol
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(email.message_from_bytes(envelope.original_content, policy=policy.default))
        return "250 OK"


def free_port() -> int:
    """A local TCP port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    """``(inbox, port)`` of a real SMTP server (aiosmtpd) on 127.0.0.1 for the test."""
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield inbox, controller.port
    controller.stop()
