"""The words shown for the member events' stored codes, in the reader's language."""
from __future__ import annotations

from typing import Any

from crmcore.i18n import lazy_gettext as _l

RESPONSE_WORDS: dict[str, Any] = {"pending": _l("No answer yet"), "yes": _l("Coming"), "no": _l("Not coming"),
                                  "maybe": _l("Maybe")}
