"""The provider-neutral OA contract every approval provider implements, and shared helpers.

The adapter (``settings.provider``) builds a provider as ``cls(config=..., secrets=...)``
and calls: ``submit(submission) -> OAState`` (idempotent by ``submission["idempotency_key"]``),
``fetch(external_id) -> OAState`` (the authoritative state), ``cancel(external_id)``,
``find(idempotency_key) -> OAState | None`` (after an unknown submit outcome),
``handshake(request) -> response | None`` (URL verification) and
``parse_callback(request, remember_nonce) -> list[OACallbackEvent]`` (verify, then parse),
plus ``acknowledge(events) -> response`` (the platform's required reply, sent fast).

A provider takes callbacks only when ``accepts_callbacks()`` (every setting named in
``callback_settings`` is set); otherwise ``/oa/<name>/callback`` answers 404. Its
``parse_callback`` must record the three checks (``mark_signed``, ``check_timestamp``,
``check_nonce``): the endpoint refuses the callback when one is missing.
"""
from __future__ import annotations

import hmac
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import urlsplit

from crmcore.errors import FatalAdapterError, RetriableAdapterError

if TYPE_CHECKING:  # requests loads with the first provider made, not with every web worker
    import requests

STATES = ("submitting", "pending", "approved", "rejected", "withdrawn", "terminated", "revoked", "unknown")
REPLAY_WINDOW = 300  # seconds a callback's timestamp may differ from our clock
# How long a nonce is remembered: past any vendor's retry schedule (Feishu retries after 5 s, 5 min,
# 1 h and 6 h; WeCom 3 times 5 s apart) and at least twice the replay window.
NONCE_MEMORY = 2 * 86400
CHECKS = frozenset({"signature", "timestamp", "nonce"})
MAX_NONCE = 128


def describe(exc: requests.RequestException) -> str:
    """A connection failure for the error column and the log: the error's kind and the host, never
    its text, which carries the URL and so the query secrets some OAs use (WeCom's corpsecret,
    access_token)."""
    url = getattr(getattr(exc, "request", None), "url", None) or ""
    host = urlsplit(url).netloc if url else ""
    return f"{type(exc).__name__}" + (f" ({host})" if host else "")


@dataclass
class OAState:
    """The authoritative state of one approval at its OA: normalised status and the decisions."""

    external_id: str
    status: str  # submitting, pending, approved, rejected, withdrawn, terminated, revoked, unknown
    decisions: list[dict[str, Any]] = field(default_factory=list)  # {"approver", "decision", "comment", "at"}
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass
class OACallbackEvent:
    """One verified callback event: which approval, what happened, and its per-event dedupe key."""

    dedupe_key: str
    external_id: str | None
    event_type: str
    status_hint: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)


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
    callback_settings: tuple[str, ...] = ()  # all needed to verify a callback; none: no callbacks
    timeout = 10.0

    def __init__(self, config: dict[str, Any] | None = None, secrets: dict[str, Any] | None = None,
                 http: requests.Session | None = None, clock: Callable[[], float] = time.time) -> None:
        self.config = dict(config or {})
        self.secrets = dict(secrets or {})
        if http is None:
            import requests

            http = requests.Session()
        self.http = http
        self.clock = clock
        self.verified: set[str] = set()  # the checks a callback passed ("signature", "timestamp", "nonce")
        self.nonces: Callable[[str], bool] | None = None  # set by the endpoint for handshakes

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

    def accepts_callbacks(self) -> bool:
        """True when every setting a callback's verification needs is set (else the endpoint is a 404)."""
        return bool(self.callback_settings) and all(
            self.config.get(key) not in (None, "") or self.secrets.get(key) not in (None, "")
            for key in self.callback_settings)

    def replay_window(self) -> int:
        try:
            return max(1, int(self.config.get("replay_window") or REPLAY_WINDOW))
        except (TypeError, ValueError):
            return REPLAY_WINDOW

    def nonce_memory(self) -> int:
        """Seconds a nonce is remembered: longer than the retry schedules and twice the window."""
        return max(NONCE_MEMORY, 2 * self.replay_window())

    def mark_signed(self) -> None:
        """Record that the callback's signature was verified (call after the check passed)."""
        self.verified.add("signature")

    def check_timestamp(self, timestamp: Any, window: int | None = None) -> int:
        """The timestamp as seconds; refuse one outside the replay window (milliseconds accepted)."""
        try:
            ts = int(str(timestamp))
        except ValueError:
            raise CallbackRejected("timestamp is not a number") from None
        if ts > 10**11:  # milliseconds
            ts //= 1000
        if abs(self.clock() - ts) > (window or self.replay_window()):
            raise CallbackRejected("timestamp outside the replay window")
        self.verified.add("timestamp")
        return ts

    def check_nonce(self, nonce: Any, remember_nonce: Callable[[str], bool] | None) -> None:
        """Refuse a missing or over-long nonce and one seen before (remembered in the database)."""
        nonce = str(nonce or "")
        if not nonce or len(nonce) > MAX_NONCE:
            raise CallbackRejected("missing or invalid nonce")
        if remember_nonce is None:
            raise CallbackRejected("no nonce memory")
        if not remember_nonce(nonce):
            raise CallbackRejected("replayed nonce")
        self.verified.add("nonce")

    def request_json(self, method: str, url: str, **kwargs: Any) -> Any:
        """An HTTP call: connection errors and 5xx/429 are retriable, other 4xx fatal."""
        import requests

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


__all__ = ["CHECKS", "CallbackRejected", "NONCE_MEMORY", "OAProvider", "TOKENS", "TokenCache", "OACallbackEvent", "OAState", "REPLAY_WINDOW", "STATES", "same"]
