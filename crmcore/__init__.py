"""crmcore: the small kernel of the CRM: entities, services, events and hook specifications.

Plugins write ``from crmcore import hookimpl`` and decorate functions named after the
specifications in :mod:`crmcore.hookspecs`.
"""
import pluggy

__version__ = "0.1.0"

PROJECT_NAME = "crmcore"
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

__all__ = ["hookimpl", "hookspec", "PROJECT_NAME", "__version__"]
