"""Customer and contact search through the indexes: phones and e-mails by normalised value, the rest by trigrams."""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import ColumnElement, Select, column, func, literal, literal_column, or_, select, table, union

from ..errors import ValidationError
from ..i18n import _
from ..models import Contact, Customer
from ..normalize import LIKE_ESCAPE, escape_like, fold, normalize_phone, search_variants

if TYPE_CHECKING:
    from ..runtime import ServiceContext

TRIGRAM = 3  # characters: shorter terms have no trigram; they are matched by a scan (still correct)
PHONE_PREFIX_MIN = 4  # digits typed before a partial number is looked up as a prefix
_PHONE_TYPED = re.compile(r"^\+?[\d\s\-().]+$")
_CUSTOMERS_FTS = table("customers_fts", column("rowid"))
_CONTACTS_FTS = table("contacts_fts", column("rowid"))


def check_term(q: str) -> None:
    """Refuse a term no index or database takes (a NUL, a lone surrogate: SQLite's full-text match and PostgreSQL
    fail on them) with a ValidationError on ``q``, in the reader's words."""
    from marshmallow import ValidationError as SchemaError

    from ..schemas.limits import check_text

    try:
        check_text(q)
    except SchemaError as exc:
        raise ValidationError(_("The search is not valid."), errors={"q": [str(m) for m in exc.messages]}) from None


def phone_prefix(q: str, region: str) -> str | None:
    """The E.164 prefix of a partly typed number (``138 0013`` -> ``+86138 0013``), or None when ``q``
    is not made of phone characters with at least ``PHONE_PREFIX_MIN`` digits."""
    typed = fold(q)
    if not _PHONE_TYPED.match(typed):
        return None
    digits = re.sub(r"\D", "", typed)
    if len(digits) < PHONE_PREFIX_MIN:
        return None
    if typed.startswith("+"):
        return "+" + digits
    if digits.startswith("00"):
        return "+" + digits[2:]
    import phonenumbers  # loaded by the first phone-like query, not with the worker (issue 15)

    country = phonenumbers.country_code_for_region(region) or ""
    return f"+{country}{digits[1:] if digits.startswith('0') else digits}"


def _dialect(ctx: ServiceContext) -> str:
    return str(ctx.session.get_bind().dialect.name)


def _prefix(dialect: str, col: Any, prefix: str) -> ColumnElement[bool]:
    """``col`` starts with ``prefix``, served by a B-tree: a range on SQLite (binary collation), ``LIKE``
    on PostgreSQL (the ``varchar_pattern_ops`` indexes)."""
    if dialect == "postgresql":
        return cast(ColumnElement[bool], col.like(escape_like(prefix) + "%", escape=LIKE_ESCAPE))
    return cast(ColumnElement[bool], (col >= prefix) & (col < prefix + "\U0010ffff"))


def _contains(dialect: str, col: Any, term: str) -> ColumnElement[bool]:
    """``col`` contains ``term`` literally (no wildcard), case as stored."""
    if dialect == "postgresql":
        return cast(ColumnElement[bool], col.like("%" + escape_like(term) + "%", escape=LIKE_ESCAPE))
    return func.instr(col, term) > 0


def _phrase(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def _fts(fts: Any, name: str, term: str) -> Select[Any]:
    return select(fts.c.rowid.label("id")).where(literal_column(name).op("MATCH")(literal(_phrase(term))))


def contact_text(ctx: ServiceContext, q: str, key: Any) -> list[Select[Any]]:
    """Selects of ``key`` (a Contact column) for contacts whose name, e-mail or WeChat id contains ``q``
    (as typed, folded, or with full-width punctuation, like the stored names)."""
    dialect = _dialect(ctx)
    terms = search_variants(q)
    if dialect == "sqlite" and all(len(t) >= TRIGRAM for t in terms):
        ids = union(*[_fts(_CONTACTS_FTS, "contacts_fts", t) for t in terms])
        return [select(key).where(Contact.id.in_(ids))]
    conds = [_contains(dialect, expr, t) for t in terms
             for expr in (func.lower(Contact.name), Contact.email_normalized, func.lower(Contact.wechat))]
    return [select(key).where(or_(*conds))]


def _phone_arms(ctx: ServiceContext, key: Any, exact: str | None, prefix: str | None) -> list[Select[Any]]:
    """Customers (``key`` None) or contacts whose numbers equal ``exact`` or start with ``prefix``."""
    dialect = _dialect(ctx)
    arms: list[Select[Any]] = []
    for col in (Contact.phone_normalized, Contact.mobile_normalized) if key is not None else (Customer.phone_normalized,):
        owner = key if key is not None else Customer.id
        if exact:
            arms.append(select(owner).where(col == exact))
        elif prefix:
            arms.append(select(owner).where(_prefix(dialect, col, prefix)))
    return arms


def _email_arms(ctx: ServiceContext, key: Any, typed: str) -> list[Select[Any]]:
    dialect = _dialect(ctx)
    if key is None:
        return [select(Customer.id).where(_prefix(dialect, Customer.email_normalized, typed))]
    return [select(key).where(_prefix(dialect, Contact.email_normalized, typed))]


def customer_ids(ctx: ServiceContext, q: str) -> Any:
    """The ids of customers matching ``q`` (a union of indexed lookups; visibility is the caller's).

    A phone number in any written form finds the E.164 numbers of customers and contacts (and a code equal
    to it); a term with ``@`` finds e-mails starting with it; anything else finds names, codes, pinyin, pinyin
    initials and e-mails containing it, contacts by name, e-mail or WeChat id, and numbers starting with it
    when it is a partly typed number."""
    check_term(q)
    region = ctx.settings["DEFAULT_REGION"]
    folded = fold(q)
    arms: list[Select[Any]] = []
    exact = normalize_phone(q, region)
    if exact:
        arms += _phone_arms(ctx, None, exact, None) + _phone_arms(ctx, Contact.customer_id, exact, None)
        arms.append(select(Customer.id).where(Customer.code == folded))
        return union(*arms)
    if "@" in folded:
        typed = folded.lower()
        return union(*(_email_arms(ctx, None, typed) + _email_arms(ctx, Contact.customer_id, typed)))
    prefix = phone_prefix(q, region)
    if prefix:
        arms += _phone_arms(ctx, None, None, prefix) + _phone_arms(ctx, Contact.customer_id, None, prefix)
    term = folded.casefold()
    dialect = _dialect(ctx)
    if dialect == "sqlite" and len(term) >= TRIGRAM:
        arms.append(_fts(_CUSTOMERS_FTS, "customers_fts", term))
    else:
        arms.append(select(Customer.id).where(or_(_contains(dialect, Customer.search_text, term),
                                                  _contains(dialect, Customer.email_normalized, term))))
    arms += contact_text(ctx, q, Contact.customer_id)
    return union(*arms)


def contact_ids(ctx: ServiceContext, q: str) -> Any:
    """The ids of contacts matching ``q``: numbers (E.164, any written form; prefix when partly typed),
    e-mails (prefix, with ``@``), QQ numbers (equal), names, e-mails and WeChat ids (containing it)."""
    check_term(q)
    region = ctx.settings["DEFAULT_REGION"]
    folded = fold(q)
    exact = normalize_phone(q, region)
    arms = [select(Contact.id).where(Contact.qq == folded)] if folded.isdigit() else []
    if exact:
        return union(*(arms + _phone_arms(ctx, Contact.id, exact, None)))
    if "@" in folded:
        return union(*_email_arms(ctx, Contact.id, folded.lower()))
    prefix = phone_prefix(q, region)
    if prefix:
        arms += _phone_arms(ctx, Contact.id, None, prefix)
    return union(*(arms + contact_text(ctx, q, Contact.id)))
