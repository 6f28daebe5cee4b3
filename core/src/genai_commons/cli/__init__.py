"""The ``genai`` command.

Each command group lives in its own module and registers on :data:`main`. A :class:`GenAIError`
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
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except GenAIError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Configuration file to read.")
@click.option("-v", "--verbose", count=True, help="Log more (-v info, -vv debug).")
@click.version_option(package_name="genai-commons")
@click.pass_context
def main(ctx: click.Context, config_path: str | None, verbose: int) -> None:
    """One vendor-neutral way to use generative AI."""
    from .._log import configure_logging  # noqa: PLC0415

    configure_logging(["WARNING", "INFO", "DEBUG"][min(verbose, 2)])
    if ctx.obj is None:
        ctx.obj = CliState(config_path=config_path)


from . import commands, usage  # noqa: E402 - each command module registers its commands

for _module in (commands, usage):
    _module.register(main)

__all__ = ["CliState", "main", "pass_state"]
