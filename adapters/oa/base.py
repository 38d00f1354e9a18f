"""The provider-neutral OA contract every approval provider implements, and shared helpers.

The core (``crmcore.services.approvals``) builds a provider as ``cls(config=..., secrets=...)``
and calls: ``submit(submission) -> OAState`` (idempotent by ``submission["idempotency_key"]``),
``fetch(external_id) -> OAState`` (the authoritative state), ``cancel(external_id)``,
``find(idempotency_key) -> OAState | None`` (after an unknown submit outcome),
``handshake(request) -> response | None`` (URL verification) and
``parse_callback(request, remember_nonce) -> list[OACallbackEvent]`` (verify, then parse),
plus ``acknowledge(events) -> response`` (the platform's required reply, sent fast).
"""
from __future__ import annotations

import hmac
import threading
import time
from typing import Any, Callable

import requests
from urllib.parse import urlsplit

from crmcore.contracts_workflow import OACallbackEvent, OAState
from crmcore.errors import FatalAdapterError, RetriableAdapterError

STATES = ("submitting", "pending", "approved", "rejected", "withdrawn", "terminated", "revoked", "unknown")
REPLAY_WINDOW = 300  # seconds a callback's timestamp may differ from our clock




def describe(exc: requests.RequestException) -> str:
    """A connection failure for the error column and the log: the error's kind and the host, never
    its text, which carries the URL and so the query secrets some OAs use (WeCom's corpsecret,
    access_token)."""
    url = getattr(getattr(exc, "request", None), "url", None) or ""
    host = urlsplit(url).netloc if url else ""
    return f"{type(exc).__name__}" + (f" ({host})" if host else "")

class CallbackRejected(Exception):
    """A callback failed verification (signature, timestamp window, replayed nonce, bad format)."""

    def __init__(self, reason: str, status: int = 401) -> None:
        super().__init__(reason)
        self.reason, self.status = reason, status


class OAProvider:
    """Base of every provider: configuration, an HTTP session with timeouts, the contract's methods."""

    name = "base"
    label = "OA"
    config_fields: tuple[str, ...] = ()  # shown in the admin
    secret_fields: tuple[str, ...] = ()  # write-only in the admin
    timeout = 10.0

    def __init__(self, config: dict[str, Any] | None = None, secrets: dict[str, Any] | None = None,
                 http: requests.Session | None = None, clock: Callable[[], float] = time.time) -> None:
        self.config = dict(config or {})
        self.secrets = dict(secrets or {})
        self.http = http or requests.Session()
        self.clock = clock

    def __repr__(self) -> str:  # never show secrets
        return f"<{type(self).__name__} config={self.config!r} secrets={sorted(self.secrets)}>"

    # ---- the contract ----------------------------------------------------------------------
    def submit(self, submission: dict[str, Any]) -> OAState:
        raise NotImplementedError

    def fetch(self, external_id: str) -> OAState:
        raise NotImplementedError

    def cancel(self, external_id: str) -> None:
        raise NotImplementedError

    def find(self, idempotency_key: str) -> OAState | None:
        raise NotImplementedError

    def handshake(self, request: Any) -> Any:
        """Answer the platform's URL verification; None when ``request`` is not one."""
        return None

    def parse_callback(self, request: Any, remember_nonce: Callable[[str], bool]) -> list[OACallbackEvent]:
        raise NotImplementedError

    def acknowledge(self, events: list[OACallbackEvent]) -> Any:
        return {"ok": True}

    # ---- helpers -----------------------------------------------------------------------------
    def setting(self, key: str, *, secret: bool = False) -> Any:
        source = self.secrets if secret else self.config
        value = source.get(key)
        if value in (None, ""):
            raise FatalAdapterError(f"{self.name}: set '{key}' in the OA provider settings")
        return value

    def check_timestamp(self, timestamp: Any, window: int | None = None) -> int:
        """The timestamp as seconds; refuse one outside the replay window (milliseconds accepted)."""
        try:
            ts = int(str(timestamp))
        except ValueError:
            raise CallbackRejected("timestamp is not a number") from None
        if ts > 10**11:  # milliseconds
            ts //= 1000
        if abs(self.clock() - ts) > (window or int(self.config.get("replay_window") or REPLAY_WINDOW)):
            raise CallbackRejected("timestamp outside the replay window")
        return ts

    def request_json(self, method: str, url: str, **kwargs: Any) -> Any:
        """An HTTP call: connection errors and 5xx/429 are retriable, other 4xx fatal."""
        kwargs.setdefault("timeout", self.timeout)
        try:
            response = self.http.request(method, url, **kwargs)
        except requests.RequestException as exc:
            raise RetriableAdapterError(f"{self.name}: {describe(exc)}") from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise RetriableAdapterError(f"{self.name}: HTTP {response.status_code}")
        if response.status_code >= 400 and response.status_code != 404:
            raise FatalAdapterError(f"{self.name}: HTTP {response.status_code}: {response.text[:300]}")
        if response.status_code == 404:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise RetriableAdapterError(f"{self.name}: the answer is not JSON") from exc


class TokenCache:
    """Access tokens per (provider, base URL, app), reused until shortly before they expire."""

    def __init__(self) -> None:
        self._tokens: dict[tuple[str, ...], tuple[str, float]] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[str, ...], fetch: Callable[[], tuple[str, int]], now: Callable[[], float] = time.time) -> str:
        with self._lock:
            found = self._tokens.get(key)
            if found is not None and found[1] > now():
                return found[0]
        token, expires_in = fetch()
        with self._lock:
            self._tokens[key] = (token, now() + max(60, int(expires_in)) - 300)
        return token

    def forget(self, key: tuple[str, ...]) -> None:
        with self._lock:
            self._tokens.pop(key, None)


TOKENS = TokenCache()


def same(a: str, b: str) -> bool:
    """Constant-time comparison of two signatures."""
    return hmac.compare_digest(str(a).encode(), str(b).encode())


__all__ = ["CallbackRejected", "OAProvider", "TOKENS", "TokenCache", "OACallbackEvent", "OAState", "REPLAY_WINDOW", "STATES", "same"]
