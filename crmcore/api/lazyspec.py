"""The OpenAPI document built when it is first asked for, not by every web worker at start-up."""
from __future__ import annotations

from typing import Any

import flask_smorest


class Api(flask_smorest.Api):
    """``flask_smorest.Api`` whose blueprints' routes are served at once and documented on the first use of ``spec``
    (``/api/openapi.json``, ``crm openapi``): the same document, in the same order; a worker that only answers
    requests never builds it (~2.5 MiB)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._undocumented: list[tuple[Any, str, Any]] = []
        self._documenting = False
        super().__init__(*args, **kwargs)

    @property
    def spec(self) -> Any:
        if self._undocumented and not self._documenting:
            self._documenting = True
            try:
                while self._undocumented:
                    blp, name, parameters = self._undocumented.pop(0)
                    blp.register_views_in_doc(self, self._app, self._spec, name=name, parameters=parameters)
                    self._spec.tag({"name": name, "description": blp.description})
            finally:
                self._documenting = False
        return self._spec

    @spec.setter
    def spec(self, value: Any) -> None:
        self._spec = value

    def register_blueprint(self, blp: Any, *, parameters: Any = None, **options: Any) -> None:
        name = options.get("name", blp.name)
        self._app.extensions["flask-smorest"]["blp_name_to_api"][name] = self
        self._app.register_blueprint(blp, **options)
        self._undocumented.append((blp, name, parameters))
