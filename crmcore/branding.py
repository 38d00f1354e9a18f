"""The company's name and logo on the public pages (lead forms, service portal): settings
``COMPANY_NAME`` and ``COMPANY_LOGO_URL`` (an ``https://`` address or a path on this site)."""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import current_app


def safe_logo_url(value: Any) -> str | None:
    """``value`` when it is an https/http address or a site path; anything else (``javascript:``, ``data:``,
    ``//host`` written as a path) is dropped, so a setting can never run script in a visitor's page."""
    url = str(value or "").strip()
    if not url or len(url) > 2000 or any(c in url for c in "\r\n\t\\\"'<> "):
        return None
    if url.startswith("/") and not url.startswith("//"):
        return url
    parts = urlsplit(url)
    return url if parts.scheme in ("https", "http") and parts.netloc else None


def brand() -> dict[str, Any]:
    """``{"name": ..., "logo": ...}`` for the page being rendered (empty name: no header line)."""
    settings = current_app.extensions["crm"].settings
    return {"name": str(settings.get("COMPANY_NAME") or "").strip()[:200],
            "logo": safe_logo_url(settings.get("COMPANY_LOGO_URL"))}
