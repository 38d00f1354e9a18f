"""One condition language (JSON, never eval): one grammar and validator, two back-ends over the same tree.

:func:`evaluate` answers on a loaded record (workflows, approval tiers); :func:`compile_sql` builds a
SQLAlchemy expression over typed :class:`Field` s (sales metrics, analysis tag rules, audiences).
"""
from __future__ import annotations

from .evaluate import check, compare, evaluate, explain, explain_leaves, predicates, resolve, validate
from .grammar import (LIST_OPS, MAX_DEPTH, MAX_LIST, MAX_NODES, MAX_PATH, NO_VALUE, OPERATORS, SECRET_PARTS,
                      ConditionError, path_problem)
from .sql import KIND_OPS, NUMERIC, Field, compile_sql, near_names, read_value, validate_sql

_path_problem = path_problem  # the name approvals used before the package existed

__all__ = ["ConditionError", "Field", "KIND_OPS", "LIST_OPS", "MAX_DEPTH", "MAX_LIST", "MAX_NODES", "MAX_PATH",
           "NO_VALUE", "NUMERIC", "OPERATORS", "SECRET_PARTS", "check", "compare", "compile_sql", "evaluate",
           "explain", "explain_leaves", "near_names", "path_problem", "predicates", "read_value", "resolve", "validate",
           "validate_sql"]
