"""An answer that breaks off half-way (the ERP went away mid-reply) is a retriable adapter error, not a raw
``requests`` exception that would end the run without a reason a person can read."""
from __future__ import annotations

from typing import Any

import pytest
import requests

from adapters.erp.odoo import OdooAdapter
from adapters.erp.tryton import TrytonClient
from crmcore.errors import RetriableAdapterError


class BrokenOff:
    """``requests.Session.post`` as it behaves when the server closes the socket mid-body."""

    def post(self, *args: Any, **kwargs: Any) -> Any:
        raise requests.exceptions.ChunkedEncodingError("Connection broken: IncompleteRead(0 bytes read, 739 more expected)")


def test_tryton_answer_broken_off_is_retriable() -> None:
    client = TrytonClient("http://127.0.0.1:9", "crm", "admin", "pw", timeout=1.0, retry=None)
    client.http = BrokenOff()  # type: ignore[assignment]
    with pytest.raises(RetriableAdapterError, match="broke off its answer: ChunkedEncodingError"):
        client._post("common.version", [])


def test_odoo_answer_broken_off_is_retriable() -> None:
    adapter = OdooAdapter({"url": "http://127.0.0.1:9", "database": "crm", "login": "admin",
                           "retry_attempts": 1, "retry_base": 0.01}, "pw")
    adapter.http = BrokenOff()  # type: ignore[assignment]
    with pytest.raises(RetriableAdapterError, match="broke off its answer: ChunkedEncodingError"):
        adapter._rpc("common", "version")
