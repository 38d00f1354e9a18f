"""Products and price lists: kept in the CRM or filled by the ERP sync (``source='erp'``)."""
from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from sqlalchemy import func, or_, select

from crmcore.errors import NotFound
from crmcore.events import record_change
from crmcore.i18n import _
from crmcore.normalize import LIKE_ESCAPE, fold, like_terms
from crmcore.services.customers import check_version
from crmcore.services.unit import apply_changes, unit_of_work
from crmcore.runtime import ServiceContext
from crmcore.services.validation import load

from ..models import PriceList, PriceListItem, Product
from ..schemas.catalogue import PriceListItemSchema, PriceListSchema, ProductSchema
from .common import INVALID

PRODUCT_FIELDS = ("code", "name", "category", "unit", "list_price", "currency", "cost", "active", "source",
                  "description")
PRICE_LIST_FIELDS = ("name", "currency", "valid_from", "valid_to", "active", "source")
_PRODUCT, _PRICE_LIST, _ITEM = ProductSchema(), PriceListSchema(), PriceListItemSchema()


def get_product(ctx: ServiceContext, product_id: int) -> Product:
    ctx.require("sales.product.read")
    product = ctx.session.get(Product, product_id)
    if product is None:
        raise NotFound(_("Product %(id)s does not exist.", id=product_id))
    return product


def list_products(ctx: ServiceContext, *, q: str | None = None, category: str | None = None, active: bool | None = True,
                  page: int = 1, page_size: int = 25) -> tuple[list[Product], int]:
    ctx.require("sales.product.read")
    stmt = select(Product)
    if active is not None:
        stmt = stmt.where(Product.active.is_(active))
    if category:
        stmt = stmt.where(Product.category == category)
    if q:
        stmt = stmt.where(or_(*[c for like in like_terms(q) for c in (
            func.lower(Product.name).like(like, escape=LIKE_ESCAPE),
            func.lower(Product.code).like(like, escape=LIKE_ESCAPE))]))
    total = ctx.session.scalar(select(func.count()).select_from(stmt.subquery()))
    items = ctx.session.scalars(stmt.order_by(Product.name, Product.id).offset((page - 1) * page_size).limit(page_size))
    return list(items), int(total or 0)


def validate_product(ctx: ServiceContext, data: dict[str, Any], existing: Product | None, *,
                     codes_checked: bool = False) -> dict[str, Any]:
    """A product's input checked and converted, the one validation every path shares (API, admin, ERP
    sync, importer): ``ProductSchema`` (lengths from the model; all fields for a new product, those given
    for ``existing``), the code folded as it is stored (``Ｐ-1`` is ``P-1``), then a code no other product
    has. ``codes_checked``: the caller (a bulk import) made sure of that for many products at once."""
    def check(values: dict[str, Any]) -> dict[str, list[Any]]:
        errors: dict[str, list[Any]] = {}
        code = fold(values["code"]) if values.get("code") else None
        if code and not codes_checked:
            other = ctx.session.scalar(select(Product).where(Product.code == code))
            if other is not None and (existing is None or other.id != existing.id):
                errors["code"] = [_("Code '%(code)s' is already used by product '%(name)s'.", code=code,
                                    name=other.name)]
        return errors

    data = load(_PRODUCT, data, partial=existing is not None, message=INVALID["product"], check=check)
    if data.get("code"):
        data["code"] = fold(data["code"])  # a key: folded; the name and other text are stored as given
    return data


def new_product_values(ctx: ServiceContext) -> dict[str, Any]:
    """The values of a new, empty product: the base currency, free."""
    return {"currency": ctx.settings["DEFAULT_CURRENCY"], "list_price": Decimal("0.00")}


def new_product(ctx: ServiceContext) -> Product:
    """An empty product with the defaults of a new one (``new_product_values``)."""
    return Product(**new_product_values(ctx))


def new_price_list_values(ctx: ServiceContext) -> dict[str, Any]:
    """What a new price list holds before its data: the base currency."""
    return {"currency": ctx.settings["DEFAULT_CURRENCY"]}


def new_price_list(ctx: ServiceContext) -> PriceList:
    """An empty price list in the base currency."""
    return PriceList(**new_price_list_values(ctx))


def create_product(ctx: ServiceContext, data: dict[str, Any]) -> Product:
    ctx.require("sales.product.write")
    data = validate_product(ctx, data, None)
    with unit_of_work(ctx):
        product = new_product(ctx)
        changes = apply_changes(product, data, PRODUCT_FIELDS)
        ctx.session.add(product)
        ctx.hook.crm_before_save(ctx=ctx, entity="product", obj=product, changes=changes, created=True)
        ctx.session.flush()
        record_change(ctx, "product", "created", product.id, changes, event_name="sales.product.created")
    return product


def update_product(ctx: ServiceContext, product_id: int, data: dict[str, Any], *, expected_version: int | None = None,
                   if_match: bool = False) -> Product:
    product = get_product(ctx, product_id)
    ctx.require("sales.product.write")
    check_version(product, expected_version, if_match)
    data = validate_product(ctx, data, product)
    with unit_of_work(ctx):
        changes = apply_changes(product, data, PRODUCT_FIELDS)
        if changes:
            ctx.hook.crm_before_save(ctx=ctx, entity="product", obj=product, changes=changes, created=False)
            ctx.session.flush()
            record_change(ctx, "product", "updated", product.id, changes, event_name="sales.product.updated")
    return product


def get_price_list(ctx: ServiceContext, price_list_id: int) -> PriceList:
    ctx.require("sales.product.read")
    pl = ctx.session.get(PriceList, price_list_id)
    if pl is None:
        raise NotFound(_("Price list %(id)s does not exist.", id=price_list_id))
    return pl


def list_price_lists(ctx: ServiceContext) -> list[PriceList]:
    ctx.require("sales.product.read")
    return list(ctx.session.scalars(select(PriceList).order_by(PriceList.name)))


def validate_price_list(ctx: ServiceContext, data: dict[str, Any], pl: PriceList | None, *,
                        name_checked: bool = False) -> dict[str, Any]:
    """A price list's input checked and converted, the one validation every path shares (API, ERP sync,
    importer): ``PriceListSchema`` (with its ``items``; all fields for a new list, those given for
    ``pl``), then a name no other list has (``name_checked``: the caller, a bulk import, looked the
    names up already) and items of products that exist, each once. ``items`` come back as
    ``[(product_id, price)]``."""
    def check(values: dict[str, Any]) -> dict[str, list[Any]]:
        errors: dict[str, list[Any]] = {}
        name = values.get("name")
        if name and not name_checked:
            other = ctx.session.scalar(select(PriceList).where(PriceList.name == name))
            if other is not None and (pl is None or other.id != pl.id):
                errors["name"] = [_("A price list named '%(name)s' exists.", name=name)]
        item_errors = _check_items(ctx, values.get("items") or [])
        if item_errors:
            errors["items"] = item_errors
        return errors

    data = load(_PRICE_LIST, data, partial=pl is not None, message=INVALID["price list"], check=check)
    if data.get("items") is not None:
        data["items"] = list({item["product_id"]: item["price"] for item in data["items"]}.items())
    return data


def _check_items(ctx: ServiceContext, items: list[dict[str, Any]]) -> list[Any]:
    """The products of a price list's items that do not exist (products are read with ``session.get``:
    a caller that loaded them already costs no query)."""
    return [_("Item %(n)s: product %(id)s does not exist.", n=i + 1, id=item["product_id"])
            for i, item in enumerate(items)
            if "product_id" in item and ctx.session.get(Product, item["product_id"]) is None]


def validate_price(ctx: ServiceContext, product_id: Any, price: Any, *, product_checked: bool = False) -> Decimal:
    """One price of a price list (``set_price``, the importer): the item's rules of ``PriceListSchema``.
    ``product_checked``: the caller found the product just now (the importer, by code), so it is not read again."""
    if product_checked and isinstance(price, str) and _PLAIN_PRICE.match(price):
        return Decimal(price).quantize(_CENT)  # what the rules make of a plain amount (an import's every row)

    def check(values: dict[str, Any]) -> dict[str, list[Any]]:
        missing = _check_items(ctx, [values])
        return {"product_id": missing} if missing else {}

    item = load(_ITEM, {"product_id": product_id, "price": price}, partial=False, message=INVALID["price list"],
                check=None if product_checked else check)
    return Decimal(item["price"])


# a price text every rule of the item accepts as it is (digits, at most two places: finite, not below zero, no
# rounding): its value is the text's, in cents; any other text (spaces, more places, a sign, an exponent, an error)
# goes through the schema
_PLAIN_PRICE = re.compile(r"[0-9]{1,15}(?:\.[0-9]{1,2})?\Z")
_CENT = Decimal("0.01")


def save_price_list(ctx: ServiceContext, data: dict[str, Any], price_list_id: int | None = None) -> PriceList:
    """Create a price list or change one; ``items`` (``[{product_id, price}]``), when given, replace all."""
    ctx.require("sales.product.write")
    pl = get_price_list(ctx, price_list_id) if price_list_id is not None else None
    data = validate_price_list(ctx, data, pl)
    items = data.pop("items", None)
    with unit_of_work(ctx):
        created = pl is None
        if pl is None:
            pl = new_price_list(ctx)
            ctx.session.add(pl)
        changes = apply_changes(pl, data, PRICE_LIST_FIELDS)
        if items is not None:
            before = {i.product_id: str(i.price) for i in pl.items}
            _replace_items(pl, items)
            after = {pid: str(price) for pid, price in items}
            if before != after:
                changes["items"] = [before, after]
        ctx.session.flush()
        if changes or created:
            record_change(ctx, "price_list", "created" if created else "updated", pl.id, changes,
                          event_name=f"sales.price_list.{'created' if created else 'updated'}")
    return pl


def set_price(ctx: ServiceContext, price_list_id: int, product_id: int, price: Any) -> tuple[PriceListItem, str]:
    """Set one product's price in a price list, leaving its other items alone (an ERP sync sets prices
    one by one: rewriting the whole list each time would be quadratic). The audit entry and the
    ``sales.price_list.updated`` event name this item only. Returns the item and ``created``,
    ``updated`` or ``unchanged``."""
    ctx.require("sales.product.write")
    pl = get_price_list(ctx, price_list_id)
    amount = validate_price(ctx, product_id, price)
    with unit_of_work(ctx):
        item = ctx.session.scalar(select(PriceListItem).where(PriceListItem.price_list_id == pl.id,
                                                              PriceListItem.product_id == product_id))
        if item is not None and item.price == amount:
            return item, "unchanged"
        before = {str(product_id): str(item.price)} if item is not None else {}
        action = "updated" if item is not None else "created"
        if item is None:
            item = PriceListItem(price_list=pl, product_id=product_id, price=amount)
            ctx.session.add(item)
        item.price = amount
        ctx.session.flush()
        record_change(ctx, "price_list", "updated", pl.id, {"items": [before, {str(product_id): str(amount)}]},
                      event_name="sales.price_list.updated")
    return item, action


def _replace_items(pl: PriceList, items: list[tuple[int, Decimal]]) -> None:
    """Make ``pl.items`` hold exactly ``items``: a product already listed keeps its row and gets the new
    price (inserting a second row for it before the old one is deleted would break the unique key)."""
    wanted = dict(items)
    for item in list(pl.items):
        if item.product_id not in wanted:
            pl.items.remove(item)  # delete-orphan
        elif item.price != wanted[item.product_id]:
            item.price = wanted[item.product_id]
    listed = {i.product_id for i in pl.items}
    pl.items.extend(PriceListItem(product_id=pid, price=price) for pid, price in items if pid not in listed)


def price_of(ctx: ServiceContext, product: Product, price_list: PriceList | None) -> tuple[Decimal, str]:
    """The list price of a product and its currency: from the price list when it has the product,
    else the product's own."""
    if price_list is not None:
        item = ctx.session.scalar(select(PriceListItem).where(PriceListItem.price_list_id == price_list.id,
                                                              PriceListItem.product_id == product.id))
        if item is not None:
            return item.price, price_list.currency
    return product.list_price, product.currency
