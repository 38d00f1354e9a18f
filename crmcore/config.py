"""Settings from defaults, an optional TOML file (CRM_CONFIG) and CRM_* environment variables."""
from __future__ import annotations

import os
import secrets
import tomllib
from pathlib import Path
from typing import Any

from .errors import ConfigError

DEFAULTS: dict[str, Any] = {
    "DATABASE_URL": None,  # None: SQLite under <instance>/crm.sqlite
    "INSTANCE_PATH": None,
    "SECRET_KEY": None,  # None: generated once and kept in <instance>/secret_key
    "PLUGINS_DISABLED": [],  # plugin names not to load
    "PLUGINS_AUTOLOAD": True,  # load third-party plugins from entry points
    "PLUGINS_ALLOW": None,  # if a list: only these entry-point plugins load
    "DEFAULT_REGION": "CN",  # phone numbers without a country code
    "DEFAULT_CURRENCY": "CNY",
    "DEFAULT_LOCALE": "en",  # when neither the user nor the browser says
    "DEFAULT_TIMEZONE": "Asia/Shanghai",
    "PAGE_SIZE_MAX": 200,
    "TOKEN_TTL_DAYS": None,
    "MAX_REQUEST_BYTES": 2 * 1024 * 1024,  # a larger body is refused with 413
    "MAX_UPLOAD_BYTES": 25 * 1024 * 1024,  # the same for routes that take a file (e-mail intake)
    "TEXT_MAX": 65535,  # characters in any text input without a shorter column length
}

_LIST_KEYS = {"PLUGINS_DISABLED", "PLUGINS_ALLOW", "PLUGINS"}
_BOOL_KEYS = {"PLUGINS_AUTOLOAD"}


def _parse_env(key: str, raw: str) -> Any:
    if key in _LIST_KEYS:
        return [p.strip() for p in raw.split(",") if p.strip()]
    if key in _BOOL_KEYS:
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    return raw


def load_settings(overrides: dict[str, Any] | None = None, environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Return the effective settings: defaults < TOML file < environment < overrides."""
    env = os.environ if environ is None else environ
    settings = dict(DEFAULTS)
    path = (overrides or {}).get("CONFIG_FILE") or env.get("CRM_CONFIG")
    if path:
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError as exc:
            raise ConfigError(f"Configuration file {path} does not exist") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"Configuration file {path} is not valid TOML: {exc}") from exc
        for key, value in data.items():
            if isinstance(value, dict):  # sections keep their own names: [plugins.sales] ...
                settings[key.upper()] = value
            else:
                settings[key.upper()] = value
    for key, raw in env.items():
        if key.startswith("CRM_") and key not in {"CRM_CONFIG", "CRM_TEST_DATABASE_URL"}:
            settings[key[4:]] = _parse_env(key[4:], raw)
    settings.update(overrides or {})
    instance = Path(settings["INSTANCE_PATH"] or Path.cwd() / "instance")
    settings["INSTANCE_PATH"] = str(instance)
    if not settings["DATABASE_URL"]:
        settings["DATABASE_URL"] = f"sqlite:///{instance / 'crm.sqlite'}"
    return settings


def secret_key(settings: dict[str, Any]) -> str:
    """The configured secret key, or one generated once and kept in the instance folder."""
    if settings.get("SECRET_KEY"):
        return str(settings["SECRET_KEY"])
    path = Path(settings["INSTANCE_PATH"]) / "secret_key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    path.write_text(key)
    path.chmod(0o600)
    return key
