"""The OpenAPI document built when it is first asked for, not by every web worker at start-up."""
from __future__ import annotations

from typing import Any, Callable

import flask_smorest
from flask_smorest.spec import openapi_cli


class Api(flask_smorest.Api):
    """``flask_smorest.Api`` whose blueprints' routes are served at once and whose OpenAPI document is made on the first
    use of ``spec`` (``/api/openapi.json``, ``crm openapi``): the same document, in the same order; a worker that only
    answers requests never builds it (the ``APISpec`` with its default responses, one error schema per HTTP status, and
    every view's documentation: ~3 MiB).

    ``when_built(function)`` runs ``function(api)`` once the ``APISpec`` exists (``api.ma_plugin.converter`` is there
    then), before any blueprint is documented."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._undocumented: list[tuple[Any, str, Any]] = []
        self._pending_spec: dict[str, Any] | None = None
        self._on_built: list[Callable[[Any], None]] = []
        self._building = False
        super().__init__(*args, **kwargs)

    def _init_spec(self, **kwargs: Any) -> None:
        """Keep the arguments; the ``APISpec`` is made by the first use of ``spec``. The CLI group is added now."""
        self._pending_spec = kwargs
        self._app.cli.add_command(openapi_cli)

    def when_built(self, function: Callable[[Any], None]) -> None:
        if self._pending_spec is None and not self._building:
            function(self)
        else:
            self._on_built.append(function)

    @property
    def spec(self) -> Any:
        if self._building or (self._pending_spec is None and not self._undocumented):
            return self._spec
        self._building = True
        try:
            if self._pending_spec is not None:
                kwargs, self._pending_spec = self._pending_spec, None
                super()._init_spec(**kwargs)
                while self._on_built:
                    self._on_built.pop(0)(self)
            while self._undocumented:
                blp, name, parameters = self._undocumented.pop(0)
                blp.register_views_in_doc(self, self._app, self._spec, name=name, parameters=parameters)
                self._spec.tag({"name": name, "description": blp.description})
        finally:
            self._building = False
        return self._spec

    @spec.setter
    def spec(self, value: Any) -> None:
        self._spec = value

    def register_field(self, field: Any, *args: Any) -> None:
        """Kept for the document (registered when it is built, as flask-smorest does with fields added before)."""
        if self._pending_spec is None and not self._building:
            super().register_field(field, *args)
        else:
            self._fields.append((field, *args))

    def register_converter(self, converter: Any, func: Any) -> None:
        if self._pending_spec is None and not self._building:
            super().register_converter(converter, func)
        else:
            self._converters.append((converter, func))

    def register_blueprint(self, blp: Any, *, parameters: Any = None, **options: Any) -> None:
        name = options.get("name", blp.name)
        self._app.extensions["flask-smorest"]["blp_name_to_api"][name] = self
        self._app.register_blueprint(blp, **options)
        self._undocumented.append((blp, name, parameters))
