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
    "COMPANY_NAME": "",  # shown on the public pages (lead forms, service portal)
    "COMPANY_LOGO_URL": "",  # an https:// address or a path on this site; anything else is not shown
    "DEFAULT_LOCALE": "en",  # when neither the user nor the browser says
    "DEFAULT_TIMEZONE": "Asia/Shanghai",
    "PAGE_SIZE_MAX": 200,  # the largest page_size any list in the API accepts (larger: 422)
    "TOKEN_TTL_DAYS": 90,  # lifetime and longest allowed lifetime of new API tokens; 0: no expiry
    "SESSION_COOKIE_SECURE": False,  # send the session and remember-me cookies over HTTPS only
    "TRUSTED_PROXIES": 0,  # reverse proxies in front of the app whose X-Forwarded-For/-Proto count
    "LOGIN_MAX_FAILURES": 5,  # failed logins of one account before it is locked; 0: off
    "LOGIN_CLIENT_MAX_FAILURES": 20,  # failed logins from one client address before it is locked; 0: off
    "LOGIN_LOCKOUT_SECONDS": 900,  # how long a lock lasts, and how long failures are remembered
    "MAX_REQUEST_BYTES": 2 * 1024 * 1024,  # a larger body is refused with 413
    "MAX_UPLOAD_BYTES": 25 * 1024 * 1024,  # the same for routes that take a file (e-mail intake)
    "TEXT_MAX": 65535,  # characters in any text input without a shorter column length
    "COUNT_EXACT_MAX": 1000,  # rows a list counts exactly; above, its total is an estimate (total_estimated)
    "COUNT_CACHE_SECONDS": 60,  # how long a large list's estimate is kept (SQLite: its count; PostgreSQL: the planner's)
    "JOBS_BACKEND": "inprocess",  # inprocess (crm serve / crm worker run jobs themselves) or procrastinate
    "JOBS_SCHEDULE": {},  # job name -> seconds between runs, overriding the job's own interval; 0: never
    "JOBS_STALLED_SECONDS": 30,  # procrastinate: a worker silent this long is dead; its jobs run again elsewhere
    "JOBS_HISTORY_DAYS": 14,  # finished job runs are kept this long
}

JOBS_BACKENDS = ("inprocess", "procrastinate")

_LIST_KEYS = {"PLUGINS_DISABLED", "PLUGINS_ALLOW", "PLUGINS"}
_BOOL_KEYS = {"PLUGINS_AUTOLOAD", "SESSION_COOKIE_SECURE"}
_INT_KEYS = {"PAGE_SIZE_MAX", "TOKEN_TTL_DAYS", "TRUSTED_PROXIES", "LOGIN_MAX_FAILURES", "LOGIN_CLIENT_MAX_FAILURES",
             "LOGIN_LOCKOUT_SECONDS", "MAX_REQUEST_BYTES", "MAX_UPLOAD_BYTES", "TEXT_MAX", "COUNT_EXACT_MAX",
             "COUNT_CACHE_SECONDS", "JOBS_STALLED_SECONDS", "JOBS_HISTORY_DAYS"}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def as_bool(name: str, value: Any) -> bool:
    """A yes/no setting given as a bool or as text (``1``/``0``, ``true``/``false``, ``yes``/``no``, ``on``/``off``)."""
    if isinstance(value, bool) or value is None:
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise ConfigError(f"Setting {name} must be yes or no (1/0, true/false), not {value!r}")


def as_int(name: str, value: Any, default: int = 0) -> int:
    """A whole-number setting given as a number or as text; ``default`` when unset or empty."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    if isinstance(value, bool):
        raise ConfigError(f"Setting {name} must be a whole number, not {value!r}")
    try:
        return int(str(value).strip()) if not isinstance(value, int) else value
    except ValueError:
        raise ConfigError(f"Setting {name} must be a whole number, not {value!r}") from None


def setting_int(settings: dict[str, Any], name: str, default: int, minimum: int = 0) -> int:
    """A whole-number setting of any plugin (environment values are text), ``default`` when unset."""
    return max(as_int(name, settings.get(name), default), minimum)


def setting_bool(settings: dict[str, Any], name: str, default: bool) -> bool:
    """A yes/no setting of any plugin (``CRM_X=0`` means no), ``default`` when unset or empty."""
    value = settings.get(name)
    return default if value is None or (isinstance(value, str) and not value.strip()) else as_bool(name, value)


def jobs_schedule(name: str, value: Any) -> dict[str, int]:
    """``CRM_JOBS_SCHEDULE``: ``outbox.deliver=30,erp.sync=0`` (or a TOML table) -> ``{job: seconds}``."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        pairs = [p.split("=", 1) for p in value.split(",") if p.strip()]
        if any(len(p) != 2 for p in pairs):
            raise ConfigError(f"Setting {name} must be job=seconds pairs separated by commas, not {value!r}")
        value = {k.strip(): v for k, v in pairs}
    if not isinstance(value, dict):
        raise ConfigError(f"Setting {name} must be job=seconds pairs, not {value!r}")
    out = {str(k): as_int(f"{name} ({k})", v) for k, v in value.items()}
    if any(v < 0 for v in out.values()):
        raise ConfigError(f"Setting {name} takes seconds of 0 or more, not {value!r}")
    return out


def _parse_env(key: str, raw: str) -> Any:
    if key in _LIST_KEYS:
        return [p.strip() for p in raw.split(",") if p.strip()]
    if key in _BOOL_KEYS:
        return as_bool(f"CRM_{key}", raw)
    if key in _INT_KEYS:
        return as_int(f"CRM_{key}", raw, DEFAULTS[key])
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
    for key in _INT_KEYS:  # a TOML file or an override may give text too; a wrong value fails at start-up
        settings[key] = max(as_int(key, settings.get(key), DEFAULTS[key]), 1 if key == "PAGE_SIZE_MAX" else 0)
    for key in _BOOL_KEYS:
        settings[key] = as_bool(key, settings.get(key))
    settings["JOBS_SCHEDULE"] = jobs_schedule("CRM_JOBS_SCHEDULE", settings.get("JOBS_SCHEDULE"))
    backend = str(settings.get("JOBS_BACKEND") or "inprocess").strip().lower()
    if backend not in JOBS_BACKENDS:
        raise ConfigError(f"Setting CRM_JOBS_BACKEND must be one of {', '.join(JOBS_BACKENDS)}, not {backend!r}")
    settings["JOBS_BACKEND"] = backend
    instance = Path(settings["INSTANCE_PATH"] or Path.cwd() / "instance")
    settings["INSTANCE_PATH"] = str(instance)
    if not settings["DATABASE_URL"]:
        settings["DATABASE_URL"] = f"sqlite:///{instance / 'crm.sqlite'}"
    if backend == "procrastinate" and not str(settings["DATABASE_URL"]).startswith("postgresql"):
        raise ConfigError("Setting CRM_JOBS_BACKEND=procrastinate needs PostgreSQL (CRM_DATABASE_URL=postgresql+psycopg://...); "
                          "the embedded SQLite default runs jobs in-process (CRM_JOBS_BACKEND=inprocess)")
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
