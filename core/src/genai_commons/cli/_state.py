"""State shared by the commands: the host, created on first use."""

from __future__ import annotations

import json
from typing import Any

import click

from ..host import Host


class CliState:
    """Holds the host; pass one with ``host=`` to run the commands against it (tests, tools)."""

    def __init__(self, *, host: Host | None = None, config_path: str | None = None) -> None:
        self._host = host
        self.config_path = config_path

    @property
    def host(self) -> Host:
        if self._host is None:
            from ..config import Config  # noqa: PLC0415

            self._host = Host(Config.load(self.config_path))
        return self._host


pass_state = click.make_pass_decorator(CliState)


def echo_json(data: Any) -> None:
    """Print plain data (from the domain model's cattrs form) as indented JSON."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))
