"""The API's blueprint: flask-smorest's, with argument schemas built once and documentation not copied per view."""
from __future__ import annotations

from copy import copy, deepcopy
from types import MethodType
from typing import Any

from marshmallow import Schema

import flask_smorest
from flask.views import MethodView
from flask_smorest.utils import load_info_from_docstring


_SHARED: dict[type[Schema], Schema] = {}


def shared_schema(schema: Any) -> Any:
    """One instance per schema class for every view that declares it (each instance deep-copies the class's fields:
    ~570 of them made at start-up, 230 classes); an instance, or anything else, is returned as given."""
    if isinstance(schema, type) and issubclass(schema, Schema):
        instance = _SHARED.get(schema)
        if instance is None:
            instance = _SHARED[schema] = schema()
        return instance
    return schema


def _compiled_dump(schema: Schema, obj: Any, *, many: bool | None = None) -> Any:
    from ..schemas import compiled

    return compiled.dump(schema, obj, many=many)


class Blueprint(flask_smorest.Blueprint):
    """``flask_smorest.Blueprint`` for every API module of the core and the plugins.

    ``@blp.arguments(SomeSchema)`` with a schema *class* makes webargs build a new schema (fields deep-copied)
    on every request; here the class is instantiated once, when the view is declared. Schemas keep no state
    between loads, so one instance serves every request, as an instance passed by hand always did.
    """

    def arguments(self, schema: Any, *args: Any, **kwargs: Any) -> Any:
        return super().arguments(shared_schema(schema), *args, **kwargs)

    def response(self, status_code: Any, schema: Any = None, *args: Any, **kwargs: Any) -> Any:
        """flask-smorest's, answering through a copy of the schema whose ``dump`` is compiled (``schemas.compiled``:
        the same data, without marshmallow's layers per field); the document shows the schema itself."""
        schema = shared_schema(schema)
        if isinstance(schema, Schema):
            answering = copy(schema)
            answering.dump = MethodType(_compiled_dump, answering)  # type: ignore[method-assign]
            answering._crm_documented = schema  # type: ignore[attr-defined]
            schema = answering
        return super().response(status_code, schema, *args, **kwargs)

    def _make_doc_response_schema(self, schema: Any) -> Any:
        return super()._make_doc_response_schema(getattr(schema, "_crm_documented", schema))

    def _store_endpoint_docs(self, endpoint: str, obj: Any, parameters: Any, tags: Any, **options: Any) -> None:
        """flask-smorest's, without a deep copy of each view's documentation (its schemas' fields included) kept for
        the life of the process: the document is built from a deep copy of them all (``register_views_in_doc``),
        so only a view serving several methods needs its own copy per method, as before."""
        docs = self._docs.setdefault(endpoint, {})
        if isinstance(obj, type(MethodView)):
            methods = [(m, getattr(obj, m.lower())) for m in self.HTTP_METHODS
                       if m in (obj.methods or ()) and ("methods" not in options or m in options["methods"])]
        else:
            methods = [(m, obj) for m in self.HTTP_METHODS if m in options.get("methods", ("GET",))]
        shared = len({id(function) for _m, function in methods}) < len(methods)
        for method, function in methods:
            apidoc = getattr(function, "_apidoc", {})
            doc = deepcopy(apidoc) if shared else dict(apidoc)
            doc["docstring"] = load_info_from_docstring(function.__doc__, delimiter=self.DOCSTRING_INFO_DELIMITER)
            doc["tags"] = tags
            docs[method.lower()] = doc
        docs["parameters"] = parameters
