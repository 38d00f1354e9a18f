"""Bulk imports of every record type: the kind contract plugins register, one driver for the CLI and the API.

A kind (:class:`ImportKind`) says what it loads and how to write one batch; ``crm import <kind> FILE``
(:mod:`crmcore.imports.cli`) and ``POST /api/v1/.../bulk`` (:func:`crmcore.imports.api.add_bulk_route`)
feed it through the same driver (:mod:`crmcore.imports.driver`). See ``docs/importing.md``.
"""
from __future__ import annotations

from .contract import (AUDIT_MODES, CREATED, REJECTED, STATUSES, UNCHANGED, UPDATED, Column, ImportKind,
                       ImportOptions, Loader, Row, RowResult, plain_cells)

__all__ = ["AUDIT_MODES", "CREATED", "REJECTED", "STATUSES", "UNCHANGED", "UPDATED", "Column", "ImportKind",
           "ImportOptions", "Loader", "Row", "RowResult", "plain_cells"]
