"""A fake Odoo for the tests: Odoo cannot be installed here, so this local HTTP server implements the
documented external API (https://www.odoo.com/documentation/17.0/developer/reference/external_api.html)
over JSON-RPC faithfully for the models the adapter uses.

Protocol as Odoo 17 serves it: ``POST /jsonrpc`` with ``{"jsonrpc": "2.0", "method": "call", "params":
{"service": "common"|"object", "method": ..., "args": [...]}, "id": n}``; ``common.version``,
``common.login`` / ``authenticate`` (a uid, or ``false`` for a wrong password); ``object.execute_kw(db,
uid, password, model, method, args, kwargs)`` with ``search_read`` (domain in Polish notation with
``&``, ``|``, ``!``; ``fields``, ``offset``, ``limit``, ``order``), ``search``, ``search_count``,
``read``, ``create`` (x2many commands ``(0, 0, values)``), ``write``, ``fields_get`` and
``sale.order.action_confirm``; ``sale.order.invoice_ids`` computed from the invoice lines' ``sale_line_ids``
(readable, searchable with ``in``). Many2one values read as ``[id, display_name]``, empty values as
``false``, ``write_date`` / ``create_date`` as UTC ``"YYYY-MM-DD HH:MM:SS"`` (set on create too),
archived records hidden unless ``context={"active_test": False}``. Errors use Odoo's envelope:
``{"error": {"code": 200, "message": "Odoo Server Error", "data": {"name":
"odoo.exceptions.AccessDenied", "message": ..., "debug": ...}}}``.
"""
from __future__ import annotations

import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

M2O = {"res.partner": {"parent_id": "res.partner", "country_id": "res.country", "currency_id": "res.currency"},
       "product.product": {"uom_id": "uom.uom", "categ_id": "product.category"},
       "sale.order": {"partner_id": "res.partner", "currency_id": "res.currency"},
       "sale.order.line": {"order_id": "sale.order", "product_id": "product.product"},
       "account.move": {"partner_id": "res.partner", "currency_id": "res.currency"},
       "account.move.line": {"move_id": "account.move"}}
O2M = {"res.partner": {"child_ids": ("res.partner", "parent_id")},
       "sale.order": {"order_line": ("sale.order.line", "order_id")},
       "account.move": {"invoice_line_ids": ("account.move.line", "move_id")}}
# Many2many fields stored as id lists, written with the command (6, 0, ids): an invoice line's sale lines.
M2M = {"account.move.line": ("sale_line_ids",)}
REQUIRED = {"res.partner": ("name",), "product.product": ("name",), "sale.order": ("partner_id",),
            "sale.order.line": ("order_id",), "account.move": ("partner_id",)}
DEFAULTS = {"res.partner": {"active": True, "is_company": False, "customer_rank": 0, "credit_limit": 0.0},
            "product.product": {"active": True, "sale_ok": True, "list_price": 0.0},
            "sale.order": {"state": "draft", "amount_total": 0.0},
            "account.move": {"state": "draft", "move_type": "out_invoice", "payment_state": "not_paid"}}


class OdooError(Exception):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name, self.message = name, message


class FakeOdoo:
    """The data and the methods; ``serve()`` starts the HTTP server on 127.0.0.1."""

    def __init__(self, database: str = "odoo", login: str = "crm", password: str = "api-key") -> None:
        self.database, self.login, self.password, self.uid = database, login, password, 2
        self.tables: dict[str, dict[int, dict[str, Any]]] = {}
        self.seq = 0
        self.calls: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.clock: dt.datetime | None = None  # tests may pin "now"
        for code in ("CNY", "USD"):
            self.create("res.currency", {"name": code})
        self.create("uom.uom", {"name": "Units"})
        self.create("res.country", {"name": "China", "code": "CN"})

    # --- storage -------------------------------------------------------------------------------

    def now(self) -> str:
        return (self.clock or dt.datetime.now(dt.timezone.utc)).strftime("%Y-%m-%d %H:%M:%S")

    def create(self, model: str, values: dict[str, Any]) -> int:
        for name in REQUIRED.get(model, ()):
            if not values.get(name):
                raise OdooError("odoo.exceptions.ValidationError",
                                f"The operation cannot be completed: missing required field {name} on {model}")
        table = self.tables.setdefault(model, {})
        self.seq += 1
        rid = self.seq
        row = {**DEFAULTS.get(model, {}), "id": rid, "create_date": self.now(), "write_date": self.now()}
        table[rid] = row
        self._apply(model, rid, values)
        if model == "sale.order":
            self._totals(rid)
        return rid

    def _apply(self, model: str, rid: int, values: dict[str, Any]) -> None:
        row = self.tables[model][rid]
        for key, value in values.items():
            if key in O2M.get(model, {}):
                child_model, inverse = O2M[model][key]
                for command in value:
                    if command[0] == 0:
                        self.create(child_model, {**command[2], inverse: rid})
                    elif command[0] == 1:
                        self.write(child_model, [command[1]], command[2])
                continue
            if key in M2M.get(model, ()):  # [(6, 0, ids)]: replace the set
                value = sorted({i for command in value if command[0] == 6 for i in command[2]})
            row[key] = value
        row["write_date"] = self.now()

    def write(self, model: str, ids: list[int], values: dict[str, Any]) -> bool:
        for rid in ids:
            if rid not in self.tables.get(model, {}):
                raise OdooError("odoo.exceptions.MissingError",
                                f"Record does not exist or has been deleted. (Record: {model}({rid},))")
            self._apply(model, rid, values)
            if model == "sale.order":
                self._totals(rid)
        return True

    def _totals(self, order_id: int) -> None:
        lines = [r for r in self.tables.get("sale.order.line", {}).values() if r.get("order_id") == order_id]
        for ln in lines:
            ln["price_subtotal"] = round(float(ln.get("product_uom_qty", 1)) * float(ln.get("price_unit", 0)), 2)
        self.tables["sale.order"][order_id]["amount_total"] = round(sum(ln["price_subtotal"] for ln in lines), 2)

    def _display(self, model: str, rid: Any) -> Any:
        if not rid:
            return False
        row = self.tables.get(model, {}).get(rid)
        return [rid, row.get("name") or row.get("display_name") or str(rid)] if row else False

    def _out(self, model: str, row: dict[str, Any], fields: list[str] | None) -> dict[str, Any]:
        names = fields or [k for k in row if k != "id"]
        out: dict[str, Any] = {"id": row["id"]}
        for name in names:
            if name in M2O.get(model, {}):
                out[name] = self._display(M2O[model][name], row.get(name))
            elif name in O2M.get(model, {}):
                child_model, inverse = O2M[model][name]
                out[name] = sorted(r["id"] for r in self.tables.get(child_model, {}).values() if r.get(inverse) == row["id"])
            elif name == "invoice_ids" and model == "sale.order":
                out[name] = self._invoices_of(row["id"])
            elif name == "country_code" and model == "res.partner":
                country = self.tables.get("res.country", {}).get(row.get("country_id"))
                out[name] = country["code"] if country else False
            else:
                value = row.get(name, False)
                out[name] = False if value is None else value
        return out

    def _invoices_of(self, order_id: int) -> list[int]:
        """``sale.order.invoice_ids`` (computed in Odoo from ``order_line.invoice_lines.move_id``): the moves
        with a line whose ``sale_line_ids`` has a line of this order."""
        lines = {r["id"] for r in self.tables.get("sale.order.line", {}).values() if r.get("order_id") == order_id}
        return sorted({ln["move_id"] for ln in self.tables.get("account.move.line", {}).values()
                       if lines & set(ln.get("sale_line_ids") or ())})

    # --- domains -----------------------------------------------------------------------------

    def _match(self, model: str, row: dict[str, Any], domain: list[Any]) -> bool:
        stack: list[bool] = []
        for item in reversed(domain or []):
            if item == "!":
                stack.append(not stack.pop())
            elif item in ("&", "|"):
                a, b = stack.pop(), stack.pop()
                stack.append(a and b if item == "&" else a or b)
            else:
                stack.append(self._leaf(model, row, item))
        return all(stack)

    def _leaf(self, model: str, row: dict[str, Any], leaf: list[Any]) -> bool:
        field, op, value = leaf
        if "." in field:  # e.g. parent_id.ref: follow the many2one
            head, rest = field.split(".", 1)
            target = self.tables.get(M2O[model][head], {}).get(row.get(head))
            return bool(target) and self._leaf(M2O[model][head], target, [rest, op, value])
        if field == "invoice_ids" and model == "sale.order" and op == "in":  # searchable in Odoo too
            return bool(set(self._invoices_of(row["id"])) & set(value))
        have = row.get(field)
        have = False if have is None else have
        if op == "=":
            return have == value or (value is False and not have)
        if op == "!=":
            return not (have == value or (value is False and not have))
        if op in ("in", "not in"):
            inside = have in value
            return inside if op == "in" else not inside
        if op in ("ilike", "like", "=ilike"):
            return str(value).lower() in str(have or "").lower() if op != "like" else str(value) in str(have or "")
        if have is False:
            return False
        return {">": have > value, ">=": have >= value, "<": have < value, "<=": have <= value}[op]

    def _rows(self, model: str, domain: list[Any], context: dict[str, Any]) -> list[dict[str, Any]]:
        if model not in self.tables and model not in M2O:
            raise OdooError("builtins.KeyError", f"'{model}'")
        rows = list(self.tables.get(model, {}).values())
        if context.get("active_test", True) and any("active" in r for r in rows):
            rows = [r for r in rows if r.get("active", True) or self._mentions_active(domain)]
        return [r for r in rows if self._match(model, r, domain)]

    @staticmethod
    def _mentions_active(domain: list[Any]) -> bool:
        return any(isinstance(leaf, (list, tuple)) and leaf[0] == "active" for leaf in domain or [])

    @staticmethod
    def _order(rows: list[dict[str, Any]], order: str | None) -> list[dict[str, Any]]:
        for part in reversed([p.strip() for p in (order or "id").split(",") if p.strip()]):
            name, _, direction = part.partition(" ")
            rows = sorted(rows, key=lambda r: (r.get(name) is None, r.get(name)), reverse=direction.lower() == "desc")
        return rows

    # --- the RPC -----------------------------------------------------------------------------

    def execute_kw(self, model: str, method: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        context = kwargs.get("context") or {}
        if method in ("search_read", "search", "search_count"):
            domain = args[0] if args else kwargs.get("domain", [])
            rows = self._order(self._rows(model, domain, context), kwargs.get("order"))
            if method == "search_count":
                return len(rows)
            offset = kwargs.get("offset", 0) or 0
            limit = kwargs.get("limit")
            rows = rows[offset:offset + limit if limit else None]
            if method == "search":
                return [r["id"] for r in rows]
            fields = kwargs.get("fields") or (args[1] if len(args) > 1 else None)
            return [self._out(model, r, fields) for r in rows]
        if method == "read":
            ids, fields = args[0], kwargs.get("fields") or (args[1] if len(args) > 1 else None)
            return [self._out(model, self.tables[model][i], fields) for i in ids if i in self.tables.get(model, {})]
        if method == "create":
            values = args[0]
            if isinstance(values, list):
                return [self.create(model, v) for v in values]
            return self.create(model, values)
        if method == "write":
            return self.write(model, args[0], args[1])
        if method == "fields_get":
            sample = {k for row in self.tables.get(model, {}).values() for k in row} | set(DEFAULTS.get(model, {}))
            return {name: {"type": "char", "string": name} for name in sorted(sample)}
        if method == "action_confirm" and model == "sale.order":
            for rid in args[0]:
                if self.tables[model][rid]["state"] not in ("draft", "sent"):
                    raise OdooError("odoo.exceptions.UserError", "Some orders are not in a state requiring confirmation.")
                self.write(model, [rid], {"state": "sale"})
            return True
        raise OdooError("builtins.AttributeError", f"The method '{method}' does not exist on the model '{model}'")

    def dispatch(self, params: dict[str, Any]) -> Any:
        service, method, args = params.get("service"), params.get("method"), params.get("args") or []
        if service == "common":
            if method == "version":
                return {"server_version": "17.0", "server_version_info": [17, 0, 0, "final", 0, ""],
                        "server_serie": "17.0", "protocol_version": 1}
            if method in ("login", "authenticate"):
                db, login, password = args[:3]
                return self.uid if (db, login, password) == (self.database, self.login, self.password) else False
        if service == "object" and method == "execute_kw":
            db, uid, password, model, model_method = args[:5]
            if (db, uid, password) != (self.database, self.uid, self.password):
                raise OdooError("odoo.exceptions.AccessDenied", "Access Denied")
            self.calls.append((model, model_method))
            return self.execute_kw(model, model_method, args[5] if len(args) > 5 else [],
                                   args[6] if len(args) > 6 else {})
        raise OdooError("werkzeug.exceptions.NotFound", f"no {service}.{method}")

    def serve(self) -> "OdooServer":
        return OdooServer(self)


class OdooServer:
    def __init__(self, odoo: FakeOdoo) -> None:
        fake = odoo

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:  # noqa: N802
                if self.path != "/jsonrpc":
                    self.send_response(404)
                    self.end_headers()
                    return
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                reply: dict[str, Any] = {"jsonrpc": "2.0", "id": body.get("id")}
                try:
                    with fake.lock:
                        reply["result"] = fake.dispatch(body.get("params") or {})
                except OdooError as exc:
                    reply["error"] = {"code": 200, "message": "Odoo Server Error",
                                      "data": {"name": exc.name, "message": exc.message, "arguments": [exc.message],
                                               "debug": f"Traceback (most recent call last):\n{exc.name}: {exc.message}",
                                               "context": {}}}
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.odoo = odoo
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
