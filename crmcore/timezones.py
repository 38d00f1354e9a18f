"""IANA time-zone names from input: one check, so an unknown or malformed name is a 422, never a crash."""
from __future__ import annotations

from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones

from .errors import ValidationError
from .i18n import _


def is_zone(name: object) -> bool:
    """True for a known IANA name such as ``Asia/Shanghai`` (NUL, paths and unknown names are not)."""
    return isinstance(name, str) and name in _known()


@lru_cache(maxsize=1)
def _known() -> frozenset[str]:
    return frozenset(available_timezones()) | {"UTC"}


def zone(name: str, field: str = "timezone") -> ZoneInfo:
    """The ``ZoneInfo`` of ``name``; a ValidationError naming ``field`` if it is no time zone."""
    if not is_zone(name):
        raise ValidationError(_("Unknown time zone."), errors={field: [_("Give an IANA time zone such as Asia/Shanghai.")]})
    return ZoneInfo(name)
