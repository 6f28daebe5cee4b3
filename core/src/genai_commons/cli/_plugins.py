"""Commands that plugins add to ``genai``: entry points in the group ``genai_commons.cli``.

Each entry point names a click command or group; it is added under the entry point's name
(``mxcloud = "genai_commons_mxcloud.cli:mxcloud_group"`` gives ``genai mxcloud …``). Entry points
are read only when a name is not a built-in command, or when ``genai --help`` lists every
command, so the built-in commands start as fast as before. A built-in command keeps its name; a
plugin command that fails to load, or is not a click command, is left out with a warning, and the
other commands keep working. ``GENAI_ENTRY_POINTS=0`` turns plugin commands off, as it turns
plugin loading off.
"""

from __future__ import annotations

import os
from typing import Any

import click

from .._log import get_logger

__all__ = ["GROUP", "plugin_command", "plugin_command_names"]

#: The entry-point group of plugin commands.
GROUP = "genai_commons.cli"

_log = get_logger(__name__)


def _entry_points() -> list[Any]:
    if os.environ.get("GENAI_ENTRY_POINTS", "1").strip().lower() in ("0", "false", "no", "off"):
        return []
    from importlib.metadata import entry_points  # noqa: PLC0415

    return list(entry_points(group=GROUP))


def plugin_command_names() -> list[str]:
    """The names of the commands plugins offer (not loaded)."""
    return sorted({ep.name for ep in _entry_points()})


def plugin_command(name: str) -> click.Command | None:
    """The command a plugin offers under ``name``, loaded now; None when there is none (or it is
    broken: then a warning names the plugin and its error)."""
    for ep in _entry_points():
        if ep.name != name:
            continue
        try:
            command = ep.load()
        except Exception as exc:
            _log.warning(
                "plugin_command_failed", command=name, entry_point=ep.value, error=f"{type(exc).__name__}: {exc}"
            )
            return None
        if not isinstance(command, click.Command):
            _log.warning("plugin_command_failed", command=name, entry_point=ep.value, error="not a click command")
            return None
        return command
    return None
