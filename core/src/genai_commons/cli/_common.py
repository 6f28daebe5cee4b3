"""Helpers shared by the ``genai`` commands: model references, prompts, bad-argument errors."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from ..errors import ValidationError


def model_ref(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """Check a ``PROVIDER:MODEL`` argument, or an alias of ``[aliases]``; a reference is split at
    the first colon (Bedrock ids contain colons)."""
    provider, sep, model_id = value.partition(":")
    if not sep or not provider.strip() or not model_id.strip():
        from ._models import is_alias  # noqa: PLC0415

        if not sep and is_alias(ctx, value):
            return value
        raise click.BadParameter(
            f"{value!r} is not a model reference; use PROVIDER:MODEL, for example openai:gpt-4o-mini "
            "(see `genai models`), or an alias of [aliases]",
            param=param,
        )
    return value


def read_prompt(value: str, what: str = "PROMPT") -> str:
    """The argument itself, or standard input when it is ``-``; a blank prompt is a usage error."""
    text = sys.stdin.read() if value == "-" else value
    if value == "-":
        text = text.rstrip("\r\n")
    if not text.strip():
        source = "standard input" if value == "-" else what
        raise click.BadParameter(f"{source} is empty; give some text", param_hint=what)
    return text


@contextmanager
def bad_arguments(param_hint: str | None = None) -> Iterator[None]:
    """Turn the domain model's :class:`ValidationError` about the user's arguments into a usage error."""
    try:
        yield
    except ValidationError as exc:
        if param_hint is None:
            raise click.UsageError(str(exc)) from None
        raise click.BadParameter(str(exc), param_hint=param_hint) from None


def unstructure(value: object) -> Any:
    """The domain model's JSON form; the converter is imported on first use, to keep start-up fast."""
    from ..serialization import unstructure as convert  # noqa: PLC0415

    return convert(value)


def verbosity() -> int:
    """How many ``-v`` the user gave to ``genai``."""
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return 0
    return int(ctx.find_root().params.get("verbose") or 0)


def write_out(text: str) -> None:
    """Write ``text`` to standard output at once, without a newline (streamed output)."""
    click.echo(text, nl=False)
    sys.stdout.flush()


def table(rows: list[list[str]], headers: list[str]) -> str:
    """Left-aligned columns separated by two spaces; the last column is not padded."""
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers) - 1)]
    lines = []
    for row in [headers, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)
