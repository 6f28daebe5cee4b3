"""Plugin discovery and registration for one host.

Entry points in the group ``genai_commons`` name a class (instantiated once per host, so hosts
share nothing), a factory function, or a module (registered as it is, so keep it stateless). A
plugin that fails to import, to instantiate or to register is reported by name with its error;
the others keep working.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from attrs import field, frozen

from .config import PluginSettings
from .errors import PluginError
from .model.deployed import ProviderInfo
from .model.enums import Capability

ENTRY_POINT_GROUP = "genai_commons"


def _providers(value: Iterable[ProviderInfo]) -> tuple[ProviderInfo, ...]:
    return tuple(value)


@frozen(kw_only=True)
class PluginInfo:
    """A plugin as ``genai plugins`` shows it."""

    name: str
    version: str | None = None
    #: ``entry point`` or ``in-process``.
    source: str = "in-process"
    providers: tuple[ProviderInfo, ...] = field(default=(), converter=_providers)
    #: Why the plugin is not loaded, when it failed.
    error: str | None = None

    @property
    def capabilities(self) -> frozenset[Capability]:
        return frozenset(c for p in self.providers for c in p.capabilities)


def instantiate(obj: Any) -> Any:
    """A class or factory is called for a fresh plugin object; a module is used as it is."""
    if not _is_module(obj) and callable(obj):
        return obj()
    return obj


def _is_module(obj: Any) -> bool:
    import types  # noqa: PLC0415

    return isinstance(obj, types.ModuleType)


def selected_entry_points(settings: PluginSettings) -> list[EntryPoint]:
    """The entry points to load: one per name, filtered by the allow and block lists."""
    chosen: list[EntryPoint] = []
    seen: set[str] = set()
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in seen:
            continue
        seen.add(ep.name)
        if ep.name in settings.block or (settings.allow is not None and ep.name not in settings.allow):
            continue
        chosen.append(ep)
    return chosen


def load_entry_point(ep: EntryPoint, register: Callable[[Any, str], None]) -> PluginInfo | PluginError:
    """Load, instantiate and register one entry point; an error is returned, not raised."""
    version = ep.dist.version if ep.dist is not None else None
    try:
        obj = instantiate(ep.load())
        register(obj, ep.name)
    except Exception as exc:
        error = PluginError(
            f"plugin {ep.name!r} ({ep.value}) failed to load: {type(exc).__name__}: {exc}", plugin=ep.name
        )
        error.__cause__ = exc
        return error
    return PluginInfo(name=ep.name, version=version, source="entry point")
