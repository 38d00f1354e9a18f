"""Admin lists of large tables: a count that stops at ``COUNT_EXACT_MAX`` (above it the list shows "about N")."""
from __future__ import annotations

from typing import Any

from ..i18n import gettext
from ..services import listing


class EstimatedCount(int):
    """A total that is an estimate: a number for the pager, "about N" where the template shows it."""

    def __str__(self) -> str:
        return gettext("about %(n)s", n=f"{int(self):,}")


class LargeListMixin:
    """For a ``SecureModelView`` of a large table: Flask-Admin's full count replaced by ``listing.count``."""

    def get_list(self, page: Any, sort_column: Any, sort_desc: Any, search: Any, filters: Any,
                 execute: bool = True, page_size: Any = None) -> tuple[int, Any]:
        simple = self.simple_list_pager  # type: ignore[has-type]
        self.simple_list_pager = True  # no count by Flask-Admin: the one below
        try:
            _, query = super().get_list(page, sort_column, sort_desc, search, filters,  # type: ignore[misc]
                                        execute=False, page_size=page_size)
        finally:
            self.simple_list_pager = simple
        total, estimated = listing.count(self.ctx(), query.limit(None).offset(None).statement)  # type: ignore[attr-defined]
        return (EstimatedCount(total) if estimated else total), (query.all() if execute else query)
