"""Channel accounts: one receiving account per platform and id, its settings and write-only secrets.

What each platform's account holds is declared in :data:`FIELDS` (an adapter of another platform adds its
own entry); :func:`validate_account` is the one validation of the API, the admin and the CLI.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from marshmallow import Schema, fields
from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from crmcore.errors import Conflict, NotFound, ValidationError
from crmcore.events import record_change
from crmcore.i18n import _
from crmcore.runtime import ServiceContext
from crmcore.schemas.columns import text
from crmcore.services.unit import unit_of_work
from crmcore.services.validation import load

from .models import ChannelAccount

# platform -> (settings, secrets) an account of it may hold
FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "wechat": (("mode", "base_url", "oauth_url", "welcome_text", "replay_window"), ("app_secret", "token", "encoding_aes_key")),
    # account: the SMS sign name; vendor: aliyun or tencent; key_id/key_secret: AccessKey (Alibaba) or SecretId/Key
    # (Tencent); sdk_app_id and region: Tencent's; template_param: Alibaba's. Sends and callbacks read only these.
    "sms": (("vendor", "template", "template_param", "sdk_app_id", "region", "base_url"),
            ("callback_token", "key_id", "key_secret")),
    # account: the corp id; contact_secret: the app allowed customer contact (sends, the contacts pull)
    "wecom": (("replay_window", "base_url", "sender"), ("token", "encoding_aes_key", "contact_secret")),
}
VENDORS = ("aliyun", "tencent")
MODES = ("plain", "safe")
INVALID = _("The channel account is not valid.")


class ChannelAccountSchema(Schema):
    id = fields.Int(dump_only=True)
    platform = text(ChannelAccount.platform, required=True)
    account = text(ChannelAccount.account, required=True)
    name = text(ChannelAccount.name, required=True)
    enabled = fields.Bool()
    open_tickets = fields.Bool()
    config = fields.Dict(keys=fields.Str(), values=fields.Raw(allow_none=True))
    secrets = fields.Dict(keys=fields.Str(), values=fields.Str(allow_none=True), load_only=True)
    secrets_set = fields.Method("_secrets_set", dump_only=True)
    version = fields.Int(metadata={"description": "Optimistic locking: send the version read (or If-Match its ETag)"})
    updated_at = fields.AwareDateTime(dump_only=True)

    def _secrets_set(self, obj: ChannelAccount) -> list[str]:
        """Which secrets are stored (never their values)."""
        return sorted(k for k, v in (obj.secrets or {}).items() if v)


_SCHEMA = ChannelAccountSchema()


def _setting_errors(platform: str, config: dict[str, Any], secrets: dict[str, Any]) -> dict[str, list[Any]]:
    allowed = FIELDS.get(platform, ((), ()))
    errors: dict[str, list[Any]] = {}
    for key in config:
        if key not in allowed[0]:
            errors[f"config.{key}"] = [_("Unknown field.")]
    for key in secrets:
        if key not in allowed[1]:
            errors[f"secrets.{key}"] = [_("Unknown field.")]
    if config.get("mode") not in (None, "", *MODES):
        errors["config.mode"] = [_("Not one of: %(choices)s.", choices=", ".join(MODES))]
    if platform == "sms" and config.get("vendor") not in VENDORS:
        errors["config.vendor"] = [_("Not one of: %(choices)s.", choices=", ".join(VENDORS))]
    for key in ("base_url", "oauth_url"):
        url = config.get(key)
        if url not in (None, ""):
            parts = urlsplit(str(url))
            if parts.scheme not in ("http", "https") or not parts.netloc:
                errors[f"config.{key}"] = [_("Give an http(s) address.")]
    window = config.get("replay_window")
    if window not in (None, ""):
        if isinstance(window, bool) or not str(window).isdigit() or not 1 <= int(str(window)) <= 3600:
            errors["config.replay_window"] = [_("A whole number of seconds from 1 to 3600.")]
    for key in ("sender", "template", "template_param", "sdk_app_id", "region"):
        value = config.get(key)
        if value not in (None, "") and (not isinstance(value, str) or len(value) > 64):
            errors[f"config.{key}"] = [_("At most %(n)s characters.", n=64)]
    if isinstance(config.get("welcome_text"), str) and len(config["welcome_text"]) > 600:
        errors["config.welcome_text"] = [_("At most %(n)s characters.", n=600)]
    for key, value in secrets.items():
        if value not in (None, "") and (not isinstance(value, str) or len(value) > 255):
            errors[f"secrets.{key}"] = [_("At most %(n)s characters.", n=255)]
    aes = secrets.get("encoding_aes_key")
    if aes not in (None, "") and len(str(aes)) != 43:
        errors["secrets.encoding_aes_key"] = [_("The EncodingAESKey has 43 characters.")]
    return errors


def validate_account(ctx: ServiceContext, data: dict[str, Any], existing: ChannelAccount | None,
                     replace: bool = False) -> dict[str, Any]:
    """An account's input checked and converted: lengths and choices from the model, then the settings and
    secrets its platform declares (:data:`FIELDS`; an unknown one is refused, values are checked). The
    platform and account id of an existing account do not change; ``replace`` (PUT): every field is given,
    a missing setting is cleared (a missing secret is kept: secrets are write-only)."""
    if existing is not None and isinstance(data, dict):
        data = {k: v for k, v in data.items() if k not in ("platform", "account", "version")}
        if replace:
            data = {"enabled": True, "open_tickets": False, "config": {}, **data, "platform": existing.platform,
                    "account": existing.account}
    elif isinstance(data, dict):
        data = {k: v for k, v in data.items() if k != "version"}

    def check(values: dict[str, Any]) -> dict[str, list[Any]]:
        platform = values.get("platform", existing.platform if existing else None)
        if platform is None:
            return {}
        if platform not in FIELDS:
            return {"platform": [_("No adapter for this platform is loaded.")]}
        return _setting_errors(platform, values.get("config") or {}, values.get("secrets") or {})

    values = load(_SCHEMA, data, partial=existing is not None and not replace, message=INVALID, check=check)
    values.pop("version", None)
    return values


def get_account(ctx: ServiceContext, account_id: int) -> ChannelAccount:
    ctx.require("channels.read")
    row = ctx.session.get(ChannelAccount, account_id)
    if row is None:
        raise NotFound(_("Channel account %(id)s does not exist.", id=account_id))
    return row


def find_account(ctx: ServiceContext, platform: str, account: str) -> ChannelAccount | None:
    """The enabled account a callback names (no permission check: the callback proves itself by signature)."""
    row = ctx.session.scalar(select(ChannelAccount).where(ChannelAccount.platform == platform,
                                                          ChannelAccount.account == account))
    if row is not None:  # the pipeline reads it again in this transaction (inbox: no second query)
        ctx.session.info[("channel_account", platform, account)] = row
    return row if row is not None and row.enabled else None


def list_accounts(ctx: ServiceContext) -> list[ChannelAccount]:
    ctx.require("channels.read")
    return list(ctx.session.scalars(select(ChannelAccount).order_by(ChannelAccount.platform, ChannelAccount.name)))


def save_account(ctx: ServiceContext, data: dict[str, Any], existing: ChannelAccount | None = None, *,
                 expected_version: int | None = None, if_match: bool = False, replace: bool = False) -> ChannelAccount:
    """Create or update an account (``replace``: every field, PUT); an empty secret keeps the stored one
    (secrets are write-only). A stale ``expected_version``: 409, or 412 when it came from If-Match."""
    from crmcore.services.customers import check_version

    ctx.require("channels.manage")
    if existing is not None:
        check_version(existing, expected_version, if_match)
    values = validate_account(ctx, data, existing, replace=replace)
    with unit_of_work(ctx):
        row = existing
        if row is None:
            clash = ctx.session.scalar(select(ChannelAccount.id).where(
                ChannelAccount.platform == values["platform"], ChannelAccount.account == values["account"]))
            if clash is not None:
                raise ValidationError(INVALID, errors={"account": [str(_("This account exists already."))]})
            row = ChannelAccount(platform=values["platform"], account=values["account"], config={}, secrets={})
            ctx.session.add(row)
        for key in ("name", "enabled", "open_tickets"):
            if key in values:
                setattr(row, key, values[key])
        if "config" in values:
            row.config = {k: v for k, v in values["config"].items() if v not in (None, "")}
        kept = dict(row.secrets or {})
        kept.update({k: v for k, v in (values.get("secrets") or {}).items() if v not in (None, "")})
        row.secrets = kept
        if existing is not None and not ctx.session.is_modified(row):
            return row  # nothing changed: the version stays
        try:
            ctx.session.flush()
        except StaleDataError:
            raise
        except Exception as exc:  # noqa: BLE001 - a concurrent create of the same account
            raise Conflict(_("This account exists already.")) from exc
        record_change(ctx, "channel_account", "updated" if existing else "created", row.id, data={
            "platform": row.platform, "account": row.account, "config": sorted(row.config),
            "secrets_set": sorted(k for k, v in (values.get("secrets") or {}).items() if v)})
    return row


def delete_account(ctx: ServiceContext, account_id: int) -> None:
    row = get_account(ctx, account_id)
    ctx.require("channels.manage")
    with unit_of_work(ctx):
        ctx.session.delete(row)
        ctx.session.flush()
        record_change(ctx, "channel_account", "deleted", account_id, data={"platform": row.platform,
                                                                           "account": row.account})
