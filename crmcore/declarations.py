"""What a plugin registers without writing a hook: ``CRM_*`` module attributes and folder conventions.

A plugin module may declare, instead of implementing ``crm_register_<what>``, an attribute
``CRM_<WHAT>`` (``CRM_PERMISSIONS``, ``CRM_BLUEPRINTS``, ``CRM_ADMIN_VIEWS``, ``CRM_COMMANDS``,
``CRM_JOBS``, ...): a list of items, or a reference ``"module:name"`` (``".permissions:PERMISSIONS"``
is relative to the plugin's package) to a list, to one item, or to a function returning the list
(called with the hook's arguments by name, e.g. ``db``). References inside the list are resolved too.
A plugin package is also searched by convention: ``<package>.models`` (its ``MODELS`` or every
mapped class defined there), ``<package>/migrations/``, ``<package>/translations/`` and
``<package>/templates/``. A hook the plugin implements itself wins over its package's convention;
declaring an attribute and implementing its hook both is an error.
"""
from __future__ import annotations

import importlib
import importlib.util
import inspect
import re
from pathlib import Path
from types import ModuleType
from typing import Any, Iterable, Iterator

import pluggy

from .errors import PluginError

RESERVED = frozenset({"CRM_REQUIRES", "CRM_HOOKSPECS", "CRM_LABEL"})  # not declarations of a crm_register_* hook
_ATTR = re.compile(r"^CRM_[A-Z][A-Z0-9_]*$")
FOLDER_CONVENTIONS = {"crm_register_migrations": "migrations", "crm_register_translations": "translations"}


def declared_attributes(plugin: Any) -> dict[str, str]:
    """``{hook name: attribute name}`` of the ``CRM_*`` declarations on a plugin."""
    names = vars(plugin) if isinstance(plugin, ModuleType) else dir(plugin)
    return {f"crm_register_{attr[4:].lower()}": attr for attr in names if _ATTR.match(attr) and attr not in RESERVED}


def check_declarations(pm: pluggy.PluginManager) -> None:
    """Each declaration names a known ``crm_register_*`` hook the plugin does not implement as well."""
    for name, plugin in pm.list_name_plugin():
        for hook_name, attr in declared_attributes(plugin).items():
            hook = getattr(pm.hook, hook_name, None)
            if hook is None or not hook.has_spec():
                raise PluginError(f"plugin {name!r} declares {attr}, but there is no hook {hook_name}; "
                                  "check the spelling against crmcore.hookspecs")
            if _implements(pm, plugin, hook_name):
                raise PluginError(f"plugin {name!r} both declares {attr} and implements {hook_name}; keep one")


def check_hookimpls(pm: pluggy.PluginManager) -> None:
    """A module-level ``crm_*`` function of a plugin module is marked ``@hookimpl``: without the marker it
    would never be called, and nothing else would say so."""
    for name, plugin in pm.list_name_plugin():
        if not isinstance(plugin, ModuleType):
            continue
        for attr, value in vars(plugin).items():
            if (attr.startswith("crm_") and inspect.isfunction(value) and value.__module__ == plugin.__name__
                    and not hasattr(value, "crmcore_impl")):
                raise PluginError(f"plugin {name!r} defines {attr} without @hookimpl, so it would never be called; "
                                  "mark it with 'from crmcore import hookimpl'")


def _implements(pm: pluggy.PluginManager, plugin: Any, hook_name: str) -> bool:
    hook = getattr(pm.hook, hook_name, None)
    return hook is not None and any(impl.plugin is plugin for impl in hook.get_hookimpls())


def _package(plugin: Any) -> ModuleType | None:
    return plugin if isinstance(plugin, ModuleType) and hasattr(plugin, "__path__") else None


def resolve(reference: str, plugin: Any) -> Any:
    """The object a ``"module:name"`` reference names (a leading dot: relative to the plugin's package)."""
    module_name, _, attr = reference.partition(":")
    package = getattr(plugin, "__name__", None)
    try:
        module = importlib.import_module(module_name, package=package if module_name.startswith(".") else None)
        return getattr(module, attr)
    except (ImportError, AttributeError, TypeError) as exc:
        raise PluginError(f"{reference!r} cannot be found: {exc}") from exc


def _expand(value: Any, plugin: Any, kwargs: dict[str, Any]) -> Iterator[Any]:
    if isinstance(value, str) and ":" in value:
        value = resolve(value, plugin)
        if inspect.isfunction(value):
            params = inspect.signature(value).parameters
            value = value(**{k: v for k, v in kwargs.items() if k in params})
    if isinstance(value, (list, tuple)):
        for item in value:
            yield from _expand(item, plugin, kwargs)
    elif value is not None:
        yield value


def _convention(plugin: Any, hook_name: str) -> list[Any]:
    package = _package(plugin)
    if package is None:
        return []
    if hook_name == "crm_register_models":
        if importlib.util.find_spec(f"{package.__name__}.models") is None:
            return []
        models = importlib.import_module(f"{package.__name__}.models")
        if hasattr(models, "MODELS"):
            return list(models.MODELS)
        return [obj for obj in vars(models).values()
                if inspect.isclass(obj) and getattr(obj, "__module__", None) == models.__name__ and hasattr(obj, "__table__")]
    folder = FOLDER_CONVENTIONS.get(hook_name)
    if folder is not None:
        path = Path(next(iter(package.__path__))) / folder
        return [str(path)] if path.is_dir() else []
    return []


def declared(pm: pluggy.PluginManager, plugin_name: str, plugin: Any, hook_name: str, **kwargs: Any) -> list[Any]:
    """What a plugin registers for ``hook_name`` without implementing it: its declaration, else its
    package's convention; nothing when it implements the hook itself."""
    if _implements(pm, plugin, hook_name):
        return []
    attr = declared_attributes(plugin).get(hook_name)
    try:
        if attr is not None:
            return list(_expand(getattr(plugin, attr), plugin, kwargs))
        return _convention(plugin, hook_name)
    except PluginError as exc:
        raise PluginError(f"plugin {plugin_name!r}: {exc.message}") from exc
    except Exception as exc:  # noqa: BLE001 - name the plugin
        raise PluginError(f"plugin {plugin_name!r} failed in {hook_name}: {exc}") from exc


def template_folders(pm: pluggy.PluginManager) -> Iterable[tuple[str, str]]:
    """``(plugin name, folder)`` of every plugin package with a ``templates/`` folder, in load order."""
    for name, plugin in pm.list_name_plugin():
        package = _package(plugin)
        if package is None:
            continue
        folder = Path(next(iter(package.__path__))) / "templates"
        if folder.is_dir():
            yield name, str(folder)


def call_per_plugin(pm: pluggy.PluginManager, hook_name: str, **kwargs: Any) -> Iterable[tuple[str, Any]]:
    """Yield (plugin name, item) for each item each plugin registers for a collector hook, in pluggy's
    calling order (the plugin loaded last first; ``tryfirst``/``trylast`` respected): what its hook
    implementation returns, else its ``CRM_*`` declaration or its package's convention
    (this module), placed as an implementation would be."""
    hook = getattr(pm.hook, hook_name)
    impls: dict[str, list[Any]] = {}
    for impl in hook.get_hookimpls():
        impls.setdefault(impl.plugin_name, []).append(impl)

    def rank(name: str) -> int:
        first = impls.get(name, [None])[0]
        return 0 if first is not None and first.trylast else 2 if first is not None and first.tryfirst else 1

    names = sorted((n for n, p in pm.list_name_plugin() if p is not None), key=rank)
    for name in reversed(names):
        if name not in impls:
            for item in declared(pm, name, pm.get_plugin(name), hook_name, **kwargs):
                yield name, item
            continue
        for impl in reversed(impls[name]):
            try:
                result = impl.function(*[kwargs[a] for a in impl.argnames])
            except Exception as exc:  # noqa: BLE001 - name the plugin
                raise PluginError(f"plugin {impl.plugin_name!r} failed in {hook_name}: {exc}") from exc
            for item in result or ():
                yield impl.plugin_name, item
