"""The ``genai`` command.

Each command group lives in its own module and registers on :data:`main`; plugins add commands
through entry points in the group ``genai_commons.cli`` (:mod:`._plugins`). A :class:`GenAIError`
ends the command with one clear line on stderr and exit status 1 (2 for bad arguments), never a
traceback. Tests and embedding tools pass their own host with ``main(obj=CliState(host=...))``.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from ..errors import GenAIError
from ._state import CliState, pass_state


class _Group(click.Group):
    """The ``genai`` group: built-in commands, then those plugins add (see :mod:`._plugins`)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        from ._plugins import plugin_command_names  # noqa: PLC0415

        return sorted({*super().list_commands(ctx), *plugin_command_names()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None:
            from ._plugins import plugin_command  # noqa: PLC0415

            command = plugin_command(cmd_name)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except GenAIError as exc:
            click.echo(f"error: {exc}", err=True)
            for note in getattr(exc, "__notes__", ()):  # what the host did about it (retries)
                click.echo(f"  {note}", err=True)
            sys.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Configuration file to read.")
@click.option("-v", "--verbose", count=True, help="Log more (-v info, -vv debug).")
@click.version_option(package_name="genai-commons")
@click.pass_context
def main(ctx: click.Context, config_path: str | None, verbose: int) -> None:
    """One vendor-neutral way to use generative AI."""
    from .._log import configure_logging  # noqa: PLC0415

    # Warnings as one plain line; with -v, structlog's full lines (time, level, fields).
    configure_logging(["WARNING", "INFO", "DEBUG"][min(verbose, 2)], plain=not verbose)
    if ctx.obj is None:
        ctx.obj = CliState(config_path=config_path)


from . import commands, kb, usage  # noqa: E402 - each command module registers its commands

for _module in (commands, kb, usage):
    _module.register(main)

__all__ = ["CliState", "main", "pass_state"]
