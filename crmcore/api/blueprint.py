"""The API's blueprint: flask-smorest's, with argument schemas built once instead of on every request."""
from __future__ import annotations

from typing import Any

import flask_smorest


class Blueprint(flask_smorest.Blueprint):
    """``flask_smorest.Blueprint`` for every API module of the core and the plugins.

    ``@blp.arguments(SomeSchema)`` with a schema *class* makes webargs build a new schema (fields deep-copied)
    on every request; here the class is instantiated once, when the view is declared. Schemas keep no state
    between loads, so one instance serves every request, as an instance passed by hand always did.
    """

    def arguments(self, schema: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(schema, type):
            schema = schema()
        return super().arguments(schema, *args, **kwargs)
