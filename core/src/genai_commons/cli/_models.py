"""Model arguments of the commands: aliases of ``[aliases]``, and the ``[defaults]`` model when a
command's MODEL is left out (``genai chat "Hi"``)."""

from __future__ import annotations

import click

from ._state import CliState


def is_alias(ctx: click.Context | None, value: str) -> bool:
    """Whether ``value`` is an alias of the configuration (the host is made to read it)."""
    state = ctx.find_object(CliState) if ctx is not None else None
    return state is not None and ":" not in value and value in state.host.config.aliases


def _names_a_model(ctx: click.Context, value: str) -> bool:
    """Whether a lone argument is a MODEL rather than a PROMPT: an alias, or ``PROVIDER:MODEL``
    of an installed provider written without spaces."""
    if is_alias(ctx, value):
        return True
    provider, sep, model_id = value.partition(":")
    if not sep or not model_id or any(c.isspace() for c in value):
        return False
    return provider in ctx.find_object(CliState).host.providers()  # type: ignore[union-attr]


def model_and_text(ctx: click.Context, first: str | None, second: str | None, kind: str) -> tuple[str, str | None]:
    """MODEL and the text argument of a command whose MODEL may be left out: with one argument,
    it is the MODEL when it names one (see :func:`_names_a_model`) and otherwise the text, for
    the ``[defaults]`` model of ``kind``. The text is None when only a MODEL was given."""
    from ._common import model_ref  # noqa: PLC0415 - _common imports this module

    if first is None:
        return _default(ctx, kind), None
    if second is not None:
        return model_ref(ctx, _param(ctx, "model"), first), second
    if first != "-" and _names_a_model(ctx, first):
        return first, None
    return _default(ctx, kind), first


def _default(ctx: click.Context, kind: str) -> str:
    state = ctx.find_object(CliState)
    assert state is not None  # the group always sets it
    return state.host.default_model(kind)  # type: ignore[arg-type]


def _param(ctx: click.Context, name: str) -> click.Parameter:
    return next(p for p in ctx.command.params if p.name == name)
