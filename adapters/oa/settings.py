"""OA provider settings: the settings file's ``OA.<name>`` overridden by the admin's row (secrets
write-only), and a provider instance configured from them."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from crmcore.errors import ValidationError
from crmcore.events import record_change
from crmcore.i18n import _
from crmcore.services.unit import unit_of_work
from crmcore.services.validation import load
from crmcore.runtime import ServiceContext

from .models import OAProviderSetting
from .schemas import settings_schema


def provider_config(ctx: ServiceContext, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(config, secrets)`` of a provider: the settings file's ``OA.<name>``, overridden by the admin's row."""
    base = dict(((ctx.settings.get("OA") or {}).get(name)) or {})
    secrets = {k: base.pop(k) for k in list(base) if k in ("secret", "app_secret", "token", "aes_key", "encrypt_key",
                                                             "verification_token", "corp_secret", "encoding_aes_key")}
    row = ctx.session.scalar(select(OAProviderSetting).where(OAProviderSetting.provider == name))
    if row is not None:
        base.update(row.config or {})
        secrets.update(row.secrets or {})
    return base, secrets


def provider(ctx: ServiceContext, name: str) -> Any:
    """An instance of the OA provider ``name`` configured from its settings."""
    cls = ctx.registry.oa_providers.get(name)
    if cls is None:
        raise ValidationError(_("No OA provider named '%(name)s' is loaded.", name=name))
    config, secrets = provider_config(ctx, name)
    return cls(config=config, secrets=secrets)


def validate_provider_settings(ctx: ServiceContext, name: str, config: dict[str, Any],
                               secrets: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A provider's ``config`` and ``secrets`` checked by its settings schema (``schemas.settings_schema``:
    URLs, numbers, lengths; a field the provider does not declare is refused): the one validation of every
    path. Returns them converted; messages never repeat a secret."""
    cls = ctx.registry.oa_providers.get(name)
    if cls is None:
        raise ValidationError(_("No OA provider named '%(name)s' is loaded.", name=name))
    schema = settings_schema(cls)
    declared = set(getattr(cls, "config_fields", ())), set(getattr(cls, "secret_fields", ()))
    unknown = {k: [_("Unknown field.")] for k in config if k not in declared[0]}
    unknown.update({k: [_("Unknown field.")] for k in secrets if k not in declared[1]})
    try:
        loaded = load(schema, {**config, **secrets}, partial=True, message=_("The OA settings are not valid."))
    except ValidationError as exc:
        raise ValidationError(exc.message, errors={**exc.errors, **unknown}) from None
    if unknown:
        raise ValidationError(_("The OA settings are not valid."), errors=unknown)
    return ({k: v for k, v in loaded.items() if k in declared[0]},
            {k: v for k, v in loaded.items() if k in declared[1]})


def save_provider_settings(ctx: ServiceContext, name: str, config: dict[str, Any], secrets: dict[str, Any]) -> OAProviderSetting:
    """Store a provider's settings; an empty secret keeps the stored one (secrets are write-only)."""
    ctx.require("workflow.manage")
    config, secrets = validate_provider_settings(ctx, name, config, secrets)
    with unit_of_work(ctx):
        row = ctx.session.scalar(select(OAProviderSetting).where(OAProviderSetting.provider == name))
        if row is None:
            row = OAProviderSetting(provider=name, config={}, secrets={})
            ctx.session.add(row)
        row.config = dict(config)
        kept = dict(row.secrets or {})
        kept.update({k: v for k, v in secrets.items() if v not in (None, "")})
        row.secrets = kept
        ctx.session.flush()
        record_change(ctx, "oa_provider", "updated", row.id, data={
            "provider": name, "config": sorted(config), "secrets_set": sorted(k for k, v in secrets.items() if v)})
    return row
