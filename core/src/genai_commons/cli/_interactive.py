"""``genai chat`` with no PROMPT on a terminal: a conversation, one line per turn.

The history lives in memory only and is gone when the command ends; nothing is written to disk.
Commands: ``/exit`` (or end of input) ends the conversation, ``/system TEXT`` sets the system
prompt (``/system`` alone clears it), ``/model REF`` switches the model and keeps the history.
A failed turn prints one error line and leaves the history as it was.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import attrs
import click

from ..errors import GenAIError
from ..model import Message, Request, Response, Role
from ._state import CliState

__all__ = ["HELP", "converse"]

HELP = "/exit ends the conversation, /system TEXT sets the system prompt, /model REF switches the model"

#: Answers one turn: (model, request) -> response, printing the answer as it goes.
Answer = Callable[[str, Request], Response]


def _read_line() -> str | None:
    click.echo("> ", nl=False, err=True)
    line = sys.stdin.readline()
    return line.rstrip("\r\n") if line else None


def converse(state: CliState, model: str, template: Request, answer: Answer) -> None:
    """Read turns from standard input until ``/exit`` or its end; ``template`` holds the options
    (system prompt, temperature, tools, provider options) every turn's request starts from."""
    click.echo(f"Chatting with {model}. {HELP}.", err=True)
    history: tuple[Message, ...] = ()
    system = template.system_prompt
    while (line := _read_line()) is not None:
        text = line.strip()
        if not text:
            continue
        command, _, argument = text.partition(" ")
        if command in ("/exit", "/quit"):
            break
        if command == "/system":
            system = argument.strip() or None
            click.echo("system prompt set" if system else "system prompt cleared", err=True)
            continue
        if command == "/model":
            model = _switch(state, model, argument.strip())
            continue
        if command.startswith("/"):
            click.echo(f"unknown command {command}; {HELP}", err=True)
            continue
        request = attrs.evolve(
            template, system_prompt=system, messages=(*history, Message(role=Role.USER, content=line))
        )
        try:
            response = answer(model, request)
        except GenAIError as exc:
            click.echo(f"error: {exc}", err=True)
            continue
        history = request.messages
        if response.text:
            history = (*history, Message(role=Role.ASSISTANT, content=response.text))


def _switch(state: CliState, current: str, reference: str) -> str:
    if not reference:
        click.echo(f"the model is {current}; /model REF switches it", err=True)
        return current
    try:
        state.host.model(reference)
    except GenAIError as exc:
        click.echo(f"error: {exc}", err=True)
        return current
    click.echo(f"now chatting with {reference}", err=True)
    return reference
