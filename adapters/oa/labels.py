"""The reader's words for the keys of the OA providers' settings (the vendor's own key stays beside them as a hint)."""
from __future__ import annotations

from crmcore.admin.labels import field
from crmcore.i18n import lazy_gettext as _l

SETTING_LABELS = {
    "base_url": _l("Server address"), "replay_window": _l("Replay window (seconds)"),
    "app_key": _l("App key"), "app_id": _l("App ID"), "corp_id": _l("Corporation ID"),
    "app_secret": _l("App secret"), "corp_secret": _l("App secret"), "secret": _l("Signing secret"),
    "process_code": _l("Approval form code"), "approval_code": _l("Approval form code"),
    "template_id": _l("Approval template ID"), "dept_id": _l("Department ID"),
    "token": _l("Callback token"), "verification_token": _l("Callback token"),
    "aes_key": _l("Callback encryption key"), "encoding_aes_key": _l("Callback encryption key"),
    "encrypt_key": _l("Callback encryption key"),
}


def setting_label(provider: object, key: str) -> str:
    """A setting's words: the provider's own ``setting_labels``, else the shared ones, else the key made readable."""
    own: dict[str, object] = getattr(provider, "setting_labels", {}) or {}
    label = own.get(key) or SETTING_LABELS.get(key) or field(key)
    return str(label)
