"""/api/v1/sales/products and /price-lists: the catalogue (kept here or filled by the ERP sync)."""
from __future__ import annotations

from typing import Any

from crmcore.api import current_ctx
from crmcore.api.blueprint import Blueprint
from crmcore.api.http import expected_version, json_body, page, with_etag
from crmcore.imports.api import add_bulk_route

from ..schemas import PriceListSchema, ProductListArgs, ProductPage, ProductSchema, ProductUpdateSchema, RateSchema
from ..services import catalog as svc
from ..services import money

blp = Blueprint("sales_catalog", __name__, url_prefix="/api/v1/sales",
                description="Sales: products, price lists, exchange rates")


@blp.route("/products")
@blp.arguments(ProductListArgs, location="query")
@blp.response(200, ProductPage)
def list_products(args: dict[str, Any]) -> Any:
    """List products"""
    items, total = svc.list_products(current_ctx(), **args)
    return page(items, total, args)


@blp.route("/products", methods=["POST"])
@json_body(blp, ProductSchema)
@blp.response(201, ProductSchema)
def create_product(data: dict[str, Any]) -> Any:
    """Create a product"""
    product = svc.create_product(current_ctx(), data)
    return with_etag(product, product, 201)


@blp.route("/products/<int:product_id>")
@blp.response(200, ProductSchema)
def get_product(product_id: int) -> Any:
    """Get a product"""
    product = svc.get_product(current_ctx(), product_id)
    return with_etag(product, product)


@blp.route("/products/<int:product_id>", methods=["PATCH"])
@json_body(blp, ProductUpdateSchema(partial=True))
@blp.response(200, ProductSchema)
def patch_product(data: dict[str, Any], product_id: int) -> Any:
    """Change a product"""
    version, if_match = expected_version()
    data.pop("version", None)
    product = svc.update_product(current_ctx(), product_id, data, expected_version=version, if_match=if_match)
    return with_etag(product, product)


@blp.route("/price-lists")
@blp.response(200, PriceListSchema(many=True))
def list_price_lists() -> Any:
    """List price lists with their prices"""
    return svc.list_price_lists(current_ctx())


@blp.route("/price-lists", methods=["POST"])
@json_body(blp, PriceListSchema)
@blp.response(201, PriceListSchema)
def create_price_list(data: dict[str, Any]) -> Any:
    """Create a price list with ``items`` ([{product_id, price}])"""
    return svc.save_price_list(current_ctx(), data)


@blp.route("/price-lists/<int:price_list_id>")
@blp.response(200, PriceListSchema)
def get_price_list(price_list_id: int) -> Any:
    """Get a price list"""
    return svc.get_price_list(current_ctx(), price_list_id)


@blp.route("/price-lists/<int:price_list_id>", methods=["PATCH"])
@json_body(blp, PriceListSchema(partial=True))
@blp.response(200, PriceListSchema)
def patch_price_list(data: dict[str, Any], price_list_id: int) -> Any:
    """Change a price list; ``items``, when sent, replace all its prices"""
    return svc.save_price_list(current_ctx(), data, price_list_id)


@blp.route("/exchange-rates", methods=["PUT"])
@json_body(blp, RateSchema)
@blp.response(200, RateSchema)
def set_rate(data: dict[str, Any]) -> Any:
    """Set how many units of the base currency one unit of ``currency`` is worth"""
    return money.set_rate(current_ctx(), data.get("currency"), data.get("rate"))


add_bulk_route(blp, "products", rule="/products/bulk")
add_bulk_route(blp, "price_lists", rule="/price-lists/bulk")
