"""A generic webhook OA for tests: a real HTTP server on 127.0.0.1 speaking the ``webhook``
provider's documented protocol (adapters/oa/webhook.py), faithfully.

It checks the CRM's HMAC-SHA256 signature on every request, creates approvals idempotently by
``Idempotency-Key``, answers reads and searches by key, cancels, and when an approver decides it
POSTs a signed callback to the CRM. Tests can drop callbacks (lost), send duplicates, replay a
callback byte for byte, send them out of order or badly signed, and make a create fail after it
was stored (an unknown outcome for the CRM).
"""
from __future__ import annotations

import datetime as dt
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import requests

from adapters.oa.webhook import sign


class WebhookOA:
    def __init__(self, secret: str, callback_url: str | None = None) -> None:
        self.secret = secret
        self.callback_url = callback_url
        self.approvals: dict[str, dict[str, Any]] = {}
        self.by_key: dict[str, str] = {}
        self.requests: list[tuple[str, str]] = []
        self.refused: list[str] = []
        self.sent: list[dict[str, Any]] = []
        self.drop_callbacks = False
        self.fail_next_create_after_storing = False
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> "WebhookOA":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # ---- the OA's people decide --------------------------------------------------------------
    def decide(self, approval_id: str, status: str, approver: str = "boss", comment: str | None = None) -> Any:
        """An approver decides in the OA; the OA then calls the CRM back (unless callbacks are dropped)."""
        with self.lock:
            item = self.approvals[approval_id]
            item["status"] = status
            item["decisions"].append({"approver": approver, "decision": status, "comment": comment,
                                      "at": dt.datetime.now(dt.timezone.utc).isoformat()})
        if self.drop_callbacks:
            return None
        return self.callback(approval_id, status)

    def callback(self, approval_id: str, status: str, *, secret: str | None = None, timestamp: int | None = None,
                 nonce: str | None = None) -> requests.Response:
        body = json.dumps({"event_id": secrets.token_hex(8), "approval_id": approval_id, "status": status}).encode()
        ts = str(timestamp if timestamp is not None else int(time.time()))
        nonce = nonce or secrets.token_hex(12)
        headers = {"Content-Type": "application/json", "X-OA-Timestamp": ts, "X-OA-Nonce": nonce,
                   "X-OA-Signature": sign(secret or self.secret, ts, nonce, body)}
        self.sent.append({"headers": headers, "body": body})
        return requests.post(self.callback_url, data=body, headers=headers, timeout=10)

    def resend(self, sent: dict[str, Any]) -> requests.Response:
        """Replay a callback exactly as it was sent (same nonce, timestamp, signature, body)."""
        return requests.post(self.callback_url, data=sent["body"], headers=sent["headers"], timeout=10)

    # ---- HTTP ----------------------------------------------------------------------------------
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        oa = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _verified(self) -> bytes | None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                ts, nonce = self.headers.get("X-CRM-Timestamp", ""), self.headers.get("X-CRM-Nonce", "")
                if not ts or sign(oa.secret, ts, nonce, body) != self.headers.get("X-CRM-Signature"):
                    oa.refused.append(self.path)
                    self._reply(401, {"error": "bad signature"})
                    return None
                oa.requests.append((self.command, self.path))
                return body

            def do_GET(self) -> None:
                if self._verified() is None:
                    return
                url = urlparse(self.path)
                if url.path == "/approvals":
                    key = parse_qs(url.query).get("idempotency_key", [""])[0]
                    found = oa.by_key.get(key)
                    self._reply(200, {"items": [oa.approvals[found]] if found else []})
                elif url.path.startswith("/approvals/"):
                    item = oa.approvals.get(url.path.rsplit("/", 1)[-1])
                    self._reply(200, item) if item else self._reply(404, {"error": "no such approval"})
                else:
                    self._reply(404, {"error": "not found"})

            def do_POST(self) -> None:
                body = self._verified()
                if body is None:
                    return
                url = urlparse(self.path)
                if url.path == "/approvals":
                    key = self.headers.get("Idempotency-Key") or ""
                    with oa.lock:
                        if key in oa.by_key:
                            self._reply(200, oa.approvals[oa.by_key[key]])
                            return
                        data = json.loads(body)
                        approval_id = f"AP-{len(oa.approvals) + 1:04d}"
                        oa.approvals[approval_id] = {"id": approval_id, "status": "pending", "decisions": [],
                                                     "submission": data}
                        oa.by_key[key] = approval_id
                        fail = oa.fail_next_create_after_storing
                        oa.fail_next_create_after_storing = False
                    if fail:
                        self._reply(502, {"error": "gateway timeout after the approval was stored"})
                    else:
                        self._reply(201, oa.approvals[approval_id])
                elif url.path.startswith("/approvals/") and url.path.endswith("/cancel"):
                    item = oa.approvals.get(url.path.split("/")[2])
                    if item is None:
                        self._reply(404, {"error": "no such approval"})
                        return
                    if item["status"] == "pending":
                        item["status"] = "withdrawn"
                    self._reply(200, item)
                else:
                    self._reply(404, {"error": "not found"})

        return Handler
