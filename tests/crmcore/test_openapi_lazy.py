"""The OpenAPI document is built on first use, not by every worker at start-up, and documents every API route."""
from __future__ import annotations

import re
from typing import Any


def test_the_document_is_built_when_asked_for_and_has_every_route(app: Any, admin_headers: Any) -> None:
    api = app.extensions["crm_api"]
    client = app.test_client()
    assert client.get("/api/v1/customers", headers=admin_headers).status_code == 200
    assert api._spec is None  # serving requests made no document (nor its default responses and error schemas)
    spec = client.get("/api/openapi.json", headers=admin_headers).json
    documented = {(path, method) for path, ops in spec["paths"].items() for method in ops if method != "parameters"}
    served = {(re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule), method.lower())
              for rule in app.url_map.iter_rules() if rule.endpoint.split(".")[0] in app.extensions["flask-smorest"]["blp_name_to_api"]
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert served and served <= documented
    assert {t["name"] for t in spec["tags"]} >= {"customers", "contacts"}
    assert client.get("/api/openapi.json", headers=admin_headers).json == spec  # built once, the same again
