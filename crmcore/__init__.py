"""crmcore: the small kernel of the CRM: entities, services, events and hook specifications.

Plugins write ``from crmcore import hookimpl`` and decorate functions named after the
specifications in :mod:`crmcore.hookspecs`.
"""
from typing import Any, Callable, TypeVar

import pluggy

__version__ = "0.1.0"

PROJECT_NAME = "crmcore"
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

_F = TypeVar("_F", bound=Callable[..., Any])
MAX_LISTENED = 200  # names one listener may list


def listens_to(*names: str) -> Callable[[_F], _F]:
    """Say what a listener reacts to, so it is called only for that (and no savepoint is opened for it otherwise).

    On a ``crm_event`` or ``crm_events`` implementation: event names (``"sales.order.created"``) or prefixes ending
    in a dot (``"sales.order."``); ``crm_events`` then gets the commit's events filtered to these, and is not called
    when none is left. On ``crm_after_commit``: entity names (``"quote"``). A listener without it gets everything::

        @hookimpl
        @listens_to("interaction.created")
        def crm_event(ctx, event): ...
    """
    if not names or len(names) > MAX_LISTENED or not all(isinstance(n, str) and n.strip() for n in names):
        raise ValueError(f"listens_to() takes 1 to {MAX_LISTENED} non-empty names, not {names!r}")

    def mark(function: _F) -> _F:
        function.crm_listens_to = frozenset(names)  # type: ignore[attr-defined]
        return function

    return mark


__all__ = ["hookimpl", "hookspec", "listens_to", "PROJECT_NAME", "__version__"]
