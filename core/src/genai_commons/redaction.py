"""Secrets out of what a server answers: the messages and bodies that errors keep.

A server may quote the credentials it received: some OpenAI-compatible servers and proxies put the
whole API key in their 401 answer, OpenAI itself the key's beginning and end. A plugin that keeps
an error answer on an exception (``ProviderError.body``) or quotes it in a message passes it
through :func:`redact` with the secrets the request carried::

    body = redact(response.text, [api_key])

Each secret is replaced wherever it appears, and so is any beginning of it longer than
:data:`SHOWN` characters (a key masked after its first ten characters is still too much of it).
"""

from __future__ import annotations

from collections.abc import Iterable

from .config import Secret

__all__ = ["REDACTED", "SHOWN", "redact"]

#: What stands where a secret was.
REDACTED = "[redacted]"
#: The most characters of a secret's beginning that may show (OpenAI's masked keys show eight).
SHOWN = 8


def redact(text: str, secrets: Iterable[Secret | str | None]) -> str:
    """``text`` without any of ``secrets`` (:class:`Secret` values or plain strings; None and
    empty ones are ignored), nor any beginning of one longer than :data:`SHOWN` characters."""
    for secret in secrets:
        value = secret.reveal() if isinstance(secret, Secret) else secret
        if value:
            text = _without(text, value)
    return text


def _without(text: str, secret: str) -> str:
    text = text.replace(secret, REDACTED)
    if len(secret) <= SHOWN:
        return text
    head = secret[: SHOWN + 1]
    start = text.find(head)
    while start != -1:
        end = start + len(head)
        while end - start < len(secret) and end < len(text) and text[end] == secret[end - start]:
            end += 1
        text = text[:start] + REDACTED + text[end:]
        start = text.find(head, start + len(REDACTED))
    return text
