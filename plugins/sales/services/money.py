"""Money: currency codes, rounding, exchange rates and conversion inside SQL aggregates.

Amounts are ``Decimal`` rounded half-up to cents. Rates are stored per currency as units of the
base currency (settings ``DEFAULT_CURRENCY``); a report in currency X converts an amount in C as
``amount * rate(C) / rate(X)``. An amount in a currency without a rate cannot be converted; the
KPIs leave it out and say which currencies they left out.
"""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Numeric, case, literal, select, type_coerce

from crmcore.errors import ValidationError
from crmcore.i18n import _
from crmcore.runtime import ServiceContext
from crmcore.services.validation import load

from ..models import ExchangeRate
from ..schemas.activities import RateSchema

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
_RATE = RateSchema()


def cents(value: Any) -> Decimal:
    """Round to cents, half up (``None`` counts as zero)."""
    return Decimal(str(value or 0)).quantize(CENT, rounding=ROUND_HALF_UP)


def parse_amount(value: Any, field: str, errors: dict[str, list[str]], *, allow_negative: bool = False,
                 places: str = "0.01") -> Decimal | None:
    """A Decimal from user input, or an error message under ``field``."""
    if value is None or value == "":
        return None
    try:
        amount = Decimal(str(value))
        if not amount.is_finite() or (amount < 0 and not allow_negative):
            raise InvalidOperation
    except (InvalidOperation, ValueError):
        errors.setdefault(field, []).append(_("Must be a non-negative number.") if not allow_negative else
                                            _("Must be a number."))
        return None
    return amount.quantize(Decimal(places), rounding=ROUND_HALF_UP)


def base_currency(ctx: ServiceContext) -> str:
    return str(ctx.settings.get("DEFAULT_CURRENCY") or "CNY").upper()


def rate_of(ctx: ServiceContext, currency: str) -> Decimal | None:
    """Units of the base currency per unit of ``currency`` (1 for the base), or None if unknown."""
    if currency == base_currency(ctx):
        return Decimal(1)
    return ctx.session.scalar(select(ExchangeRate.rate).where(ExchangeRate.currency == currency))


def converted(ctx: ServiceContext, amount: Any, currency_col: Any, target: str) -> Any:
    """SQL: ``amount`` (in the row's ``currency_col``) converted to ``target``; NULL when no rate.

    Rows already in ``target`` are taken as they are, so a report in one currency needs no rates.
    """
    target_rate = rate_of(ctx, target)
    if target_rate is None:
        raise ValidationError(_("There is no exchange rate for %(currency)s.", currency=target),
                              errors={"currency": [_("Set a rate for %(currency)s or report in %(base)s.",
                                                     currency=target, base=base_currency(ctx))]})
    base = base_currency(ctx)
    row_rate = case((currency_col == base, literal(Decimal(1), Numeric(18, 8))),
                    else_=select(ExchangeRate.rate).where(ExchangeRate.currency == currency_col)
                    .correlate_except(ExchangeRate).scalar_subquery())
    factor = case((currency_col == target, literal(Decimal(1), Numeric(18, 8))),
                  else_=row_rate / literal(target_rate, Numeric(18, 8)))
    return type_coerce(amount * factor, Numeric(28, 8))


def unconvertible(ctx: ServiceContext, currency_col: Any, target: str) -> Any:
    """SQL condition: the row's currency cannot be converted to ``target`` (no rate)."""
    base = base_currency(ctx)
    known = select(ExchangeRate.currency)
    return (currency_col != target) & (currency_col != base) & currency_col.not_in(known)


def validate_rate(ctx: ServiceContext, data: dict[str, Any]) -> dict[str, Any]:
    """An exchange rate checked and converted, its one validation: ``RateSchema`` (a three-letter code, a
    rate more than zero), then a currency other than the base one (whose rate is always 1)."""
    def check(values: dict[str, Any]) -> dict[str, list[Any]]:
        if values.get("currency") == base_currency(ctx):
            return {"currency": [_("%(currency)s is the base currency; its rate is always 1.",
                                   currency=values["currency"])]}
        return {}

    return load(_RATE, data, partial=False, message=_("The exchange rate is not valid."), check=check)


def set_rate(ctx: ServiceContext, currency: str, rate: Any) -> ExchangeRate:
    """Set the rate of ``currency`` in units of the base currency."""
    from crmcore.events import record_change
    from crmcore.services.unit import unit_of_work

    ctx.require("sales.rate.manage")
    data = validate_rate(ctx, {"currency": currency, "rate": rate})
    cur, value = data["currency"], data["rate"]
    with unit_of_work(ctx):
        row = ctx.session.scalar(select(ExchangeRate).where(ExchangeRate.currency == cur))
        before = row.rate if row else None
        if row is None:
            row = ExchangeRate(currency=cur, rate=value)
            ctx.session.add(row)
        row.rate = value
        ctx.session.flush()
        record_change(ctx, "sales_exchange_rate", "updated" if before is not None else "created", row.id,
                      {"rate": [before, value]}, data={"currency": cur})
    return row
