"""The plugin manager: core defaults, entry-point plugins, config enable/disable, requirements.

Built per app by :func:`build_plugin_manager` (never a module global), so each test and
each embedded app has its own. Environment, as in pytest and datasette:
``CRM_PLUGINS_AUTOLOAD=0`` turns entry-point loading off, ``CRM_PLUGINS_ALLOW=a,b`` loads only
those, ``CRM_PLUGINS_DISABLED=a,b`` skips those, ``CRM_PLUGINS=pkg.module`` loads modules
by import path.
"""
from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass, field
from functools import cached_property
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any, Iterable, TYPE_CHECKING

import pluggy

from . import PROJECT_NAME, hookspecs
from .contracts import MERGE_POLICIES, FieldType, Job, OutboxHandler, Permission
from .contracts_workflow import ApprovalProvider
from .declarations import call_per_plugin, check_declarations, check_hookimpls, declared, declared_attributes
from .errors import PluginError

if TYPE_CHECKING:
    from .runtime import ServiceContext

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "crmcore.plugins"
CORE_PLUGINS = ("crmcore.defaults",)


@dataclass
class PluginInfo:
    name: str
    module: str
    source: str  # core, entry point, config
    requires: tuple[str, ...] = ()
    dist: Any = field(default=None, repr=False, compare=False)  # the entry point's distribution

    @property
    def version(self) -> str | None:
        """The distribution's version, read when shown: parsing its metadata costs each command ~4 ms a plugin."""
        return str(self.dist.version) if self.dist is not None else None


class Registry:
    """What the plugins registered, each kind collected on first use and checked for duplicate names.

    A command that needs only the jobs imports no plugin's models, admin or providers; ``load_all``
    collects every kind at once (the web app does, so a broken plugin fails at start-up).
    """

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self._pm = pm

    @cached_property
    def permissions(self) -> dict[str, Permission]:
        return _collect(self._pm, "crm_register_permissions", "permission")

    @cached_property
    def field_types(self) -> dict[str, FieldType]:
        return _collect(self._pm, "crm_register_field_types", "field type")

    @cached_property
    def jobs(self) -> dict[str, Job]:
        return _collect(self._pm, "crm_register_jobs", "job")

    @cached_property
    def outbox_handlers(self) -> dict[str, OutboxHandler]:
        return _collect(self._pm, "crm_register_outbox_handlers", "outbox handler")

    @cached_property
    def oa_providers(self) -> dict[str, type[ApprovalProvider]]:
        return _collect(self._pm, "crm_register_oa_providers", "OA provider")

    @cached_property
    def _models(self) -> tuple[list[type], dict[str, str]]:
        from .models import load_all

        load_all()  # the core's tables first, which plugins' refer to

        models: list[type] = []
        owners: dict[str, str] = {}
        for plugin, model in call_per_plugin(self._pm, "crm_register_models"):
            models.append(model)
            table = getattr(model, "__table__", None)
            if table is not None:
                owners[table.name] = plugin
                _check_merge_policy(plugin, table)
        return models, owners

    @property
    def models(self) -> list[type]:
        return self._models[0]

    @property
    def table_owners(self) -> dict[str, str]:
        """Table name -> the plugin that registered it."""
        return self._models[1]

    @cached_property
    def migrations(self) -> list[str]:
        return [p for _, p in call_per_plugin(self._pm, "crm_register_migrations")]

    def load_all(self) -> "Registry":
        """Collect every kind now (and raise ``PluginError`` now for a broken plugin)."""
        for name in ("permissions", "field_types", "jobs", "outbox_handlers", "oa_providers", "models", "migrations"):
            getattr(self, name)
        return self


def plugin_items(pm: pluggy.PluginManager, hook_name: str, **kwargs: Any) -> list[Any]:
    """Every item the plugins register for a collector hook (implemented or declared), in calling order."""
    return [item for _, item in call_per_plugin(pm, hook_name, **kwargs)]


def register_commands(pm: pluggy.PluginManager, cli: Any) -> None:
    """Add the plugins' commands to ``cli``: ``crm_register_commands`` and ``CRM_COMMANDS``."""
    pm.hook.crm_register_commands(cli=cli)
    for name, plugin in pm.list_name_plugin():
        for command in declared(pm, name, plugin, "crm_register_commands", cli=cli):
            cli.add_command(command)


def _collect(pm: pluggy.PluginManager, hook_name: str, kind: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    owner: dict[str, str] = {}
    for plugin, item in call_per_plugin(pm, hook_name):
        name = getattr(item, "name", None)
        if not name:
            raise PluginError(f"plugin {plugin!r} registered a {kind} without a name: {item!r}")
        if name in found:
            raise PluginError(
                f"{kind} {name!r} is registered by both plugin {owner[name]!r} and plugin {plugin!r}"
            )
        found[name] = item
        owner[name] = plugin
    return found


_CACHE = "_crm_collected"


def collected(ctx: ServiceContext, hook_name: str, kind: str) -> dict[str, Any]:
    """``{name: item}`` from a ``crm_register_*`` collector (a plugin's own hook spec too), collected once
    per runtime the first time it is asked for; duplicate names are a ``PluginError`` naming both plugins."""
    runtime = ctx.runtime
    cache: dict[str, dict[str, Any]] = runtime.__dict__.setdefault(_CACHE, {})
    if hook_name not in cache:
        cache[hook_name] = _collect(runtime.pm, hook_name, kind)
    return cache[hook_name]


def collect_registry(pm: pluggy.PluginManager, lazy: bool = False) -> Registry:
    """The plugins' registry: every ``crm_register_*`` collector called once, names checked unique;
    ``lazy``: each kind on first use instead of now."""
    reg = Registry(pm)
    return reg if lazy else reg.load_all()


def _check_merge_policy(plugin: str, table: Any) -> None:
    """A declared merge policy must be one the core's row mover knows."""
    policy = table.info.get("merge_policy")
    if policy is not None and policy not in MERGE_POLICIES:
        raise PluginError(f"plugin {plugin!r} declares merge_policy {policy!r} on table {table.name!r}; "
                          f"use one of {', '.join(MERGE_POLICIES)}")


def _add_plugin_hookspecs(pm: pluggy.PluginManager, obj: ModuleType | Any, name: str) -> None:
    """Add the hook specifications a plugin owns: its ``CRM_HOOKSPECS`` (a module, an import path
    or a list of them). Other plugins then implement them like the core's; an implementation of a
    spec whose plugin is not loaded fails ``check_pending`` unless marked ``optionalhook=True``."""
    specs = getattr(obj, "CRM_HOOKSPECS", None)
    if not specs:
        return
    for spec in specs if isinstance(specs, (list, tuple)) else [specs]:
        try:
            module = importlib.import_module(spec) if isinstance(spec, str) else spec
            pm.add_hookspecs(module)
        except Exception as exc:  # noqa: BLE001 - name the plugin
            raise PluginError(f"plugin {name!r} has hook specifications that cannot be added: {exc}") from exc


def _register(pm: pluggy.PluginManager, obj: ModuleType | Any, name: str) -> None:
    _add_plugin_hookspecs(pm, obj, name)
    try:
        pm.register(obj, name=name)
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"plugin {name!r} is not valid: {exc}") from exc
    except ValueError as exc:
        raise PluginError(f"plugin {name!r} could not be registered: {exc}") from exc


def build_plugin_manager(settings: dict[str, Any] | None = None, extra: Iterable[tuple[str, Any]] = ()) -> pluggy.PluginManager:
    """Build a plugin manager for one app.

    :param settings: the CRM settings (``PLUGINS_DISABLED``, ``PLUGINS_AUTOLOAD``,
        ``PLUGINS_ALLOW``, ``PLUGINS``).
    :param extra: ``(name, plugin object)`` pairs to register too (embedding apps, tests).
    """
    settings = settings or {}
    disabled = set(settings.get("PLUGINS_DISABLED") or [])
    allow = settings.get("PLUGINS_ALLOW")
    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    infos: dict[str, PluginInfo] = {}

    for modname in CORE_PLUGINS:
        _register(pm, importlib.import_module(modname), "core")
        infos["core"] = PluginInfo("core", modname, "core")

    if settings.get("PLUGINS_AUTOLOAD", True):
        for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            if ep.name in disabled or (allow is not None and ep.name not in allow):
                continue
            if ep.name in infos:
                raise PluginError(f"two plugins are named {ep.name!r}; rename one of them")
            try:
                obj = ep.load()
            except Exception as exc:  # noqa: BLE001 - any import error names the plugin
                raise PluginError(f"plugin {ep.name!r} ({ep.value}) failed to load: {exc}") from exc
            _register(pm, obj, ep.name)
            infos[ep.name] = PluginInfo(ep.name, ep.value, "entry point", _requires(obj), ep.dist)

    for modname in settings.get("PLUGINS") or []:
        name = modname.rsplit(".", 1)[-1]
        if name in disabled or name in infos:
            continue
        try:
            obj = importlib.import_module(modname)
        except Exception as exc:  # noqa: BLE001
            raise PluginError(f"plugin {name!r} ({modname}) failed to load: {exc}") from exc
        _register(pm, obj, name)
        infos[name] = PluginInfo(name, modname, "config", _requires(obj))

    for name, obj in extra:
        _register(pm, obj, name)
        infos[name] = PluginInfo(name, getattr(obj, "__name__", type(obj).__name__), "app", _requires(obj))

    for info in infos.values():
        missing = [r for r in info.requires if r not in infos]
        if missing:
            why = "disabled" if any(m in disabled for m in missing) else "not installed or not enabled"
            raise PluginError(
                f"plugin {info.name!r} requires {', '.join(repr(m) for m in missing)}, which is {why}"
            )
    check_declarations(pm)
    check_hookimpls(pm)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        name = pm.get_name(exc.plugin) or repr(exc.plugin)
        unknown = sorted(h.name for h in pm.get_hookcallers(exc.plugin) or [] if h.spec is None and any(
            i.plugin is exc.plugin and not i.optionalhook for i in h.get_hookimpls())) or [str(exc)]
        raise PluginError(f"plugin {name!r} implements unknown hook(s) {', '.join(unknown)}; "
                          "check the spelling against crmcore.hookspecs") from exc
    pm.crm_plugin_info = infos  # type: ignore[attr-defined]
    pm.crm_disabled = sorted(disabled - set(infos))  # type: ignore[attr-defined]  # core cannot be disabled
    return pm


def _requires(obj: Any) -> tuple[str, ...]:
    return tuple(getattr(obj, "CRM_REQUIRES", ()) or ())


def plugin_summary(pm: pluggy.PluginManager) -> list[dict[str, Any]]:
    """Each loaded plugin with its source, version, requirements, hooks and ``CRM_*`` declarations; then disabled ones."""
    infos: dict[str, PluginInfo] = getattr(pm, "crm_plugin_info", {})
    out = []
    for name, plugin in pm.list_name_plugin():
        info = infos.get(name) or PluginInfo(name, getattr(plugin, "__name__", str(plugin)), "app")
        hooks = sorted(h.name for h in pm.get_hookcallers(plugin) or [])
        declares = sorted(declared_attributes(plugin).values())
        label = str(getattr(plugin, "CRM_LABEL", None) or name)  # the plugin's name in the reader's words
        out.append({"name": name, "label": label, "module": info.module, "source": info.source, "version": info.version,
                    "requires": list(info.requires), "hooks": hooks, "declares": declares, "enabled": True})
    for name in getattr(pm, "crm_disabled", []):
        out.append({"name": name, "label": name, "module": None, "source": "config", "version": None,
                    "requires": [], "hooks": [], "declares": [], "enabled": False})
    return out
