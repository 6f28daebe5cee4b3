"""``genai plugins``, ``models``, ``chat``, ``embed``, ``image``, ``agent``."""

from __future__ import annotations

import click

from .agent import agent_group
from .chat import chat_command
from .discovery import models_command, plugins_command
from .generate import embed_command, image_command


def register(main: click.Group) -> None:
    """Add this module's commands to the ``genai`` group."""
    for command in (plugins_command, models_command, chat_command, embed_command, image_command, agent_group):
        main.add_command(command)
