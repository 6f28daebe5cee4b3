"""Secrets out of what a server answers: the messages and bodies that errors keep.

A server may quote the credentials it received: some OpenAI-compatible servers and proxies put the
whole API key in their 401 answer, OpenAI itself the key's beginning and end. A plugin that keeps
an error answer on an exception (``ProviderError.body``) or quotes it in a message passes it
through :func:`redact` with the secrets the request carried::

    body = redact(response.text, [api_key])

Each secret is replaced wherever it appears — as itself, percent-encoded, JSON-escaped, or inside
base64 (a quoted ``Authorization: Basic`` header) — and so is any beginning of it longer than
:data:`SHOWN` characters (a key masked after its first ten characters is still too much of it).

Every error path of a plugin goes through one place that redacts everything it lets out:
:func:`redacted_errors` around the plugin's calls redacts, in place, the message, ``body`` and
other texts of the error raised and of every exception it was raised from (:func:`redact_error`),
so that neither ``str``, ``repr`` nor a formatted traceback of the chain shows a secret, whichever
status or parsing failure produced it. :func:`url_credentials` gives the secrets a configured URL
holds (``https://user:password@host``).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote, quote_plus, unquote, urlsplit

from .config import Secret

__all__ = ["REDACTED", "SHOWN", "Secrets", "redact", "redact_error", "redacted_errors", "url_credentials"]

#: Secrets as :func:`redact` takes them: :class:`Secret` values, plain strings, None (ignored).
Secrets = Iterable[Secret | str | None]

#: What stands where a secret was.
REDACTED = "[redacted]"
#: The most characters of a secret's beginning that may show (OpenAI's masked keys show eight).
SHOWN = 8


def redact(text: str, secrets: Secrets) -> str:
    """``text`` without any of ``secrets`` (:class:`Secret` values or plain strings; None and
    empty ones are ignored) in any of the forms of the module docstring, nor any beginning of one
    longer than :data:`SHOWN` characters."""
    return _redact(text, _revealed(secrets))


def _revealed(secrets: Secrets) -> list[str]:
    values = (secret.reveal() if isinstance(secret, Secret) else secret for secret in secrets)
    return list(dict.fromkeys(value for value in values if value))


def _redact(text: str, values: list[str]) -> str:
    for value in values:
        text = _without(text, _forms(value))
        for core in _base64_cores(value):
            text = text.replace(core, REDACTED)
    return text


def _forms(secret: str) -> list[str]:
    """The secret as a server may quote it: itself, JSON-escaped (with ``/`` escaped or not),
    percent-encoded and form-encoded; longest first."""
    escaped = json.dumps(secret, ensure_ascii=False)[1:-1]
    forms = {secret, escaped, escaped.replace("/", "\\/"), quote(secret, safe=""), quote_plus(secret)}
    return sorted(forms, key=lambda form: (-len(form), form))


def _base64_cores(secret: str) -> Iterator[str]:
    """The part of ``secret``'s base64 text that depends on it alone, at each of the three
    alignments it can have inside a longer encoded text (a ``Basic`` header's ``user:password``)."""
    data = secret.encode("utf-8")
    for offset in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            text = encode(b"\0" * offset + data).decode("ascii").rstrip("=")
            core = text[4 if offset else 0 : -4]
            if len(core) >= 12:
                yield core


def _without(text: str, forms: list[str]) -> str:
    """``text`` without any of ``forms`` (those of one secret, longest first), nor any beginning
    of one longer than :data:`SHOWN` characters: at each such beginning, the longest match goes."""
    for form in forms:
        text = text.replace(form, REDACTED)
    heads = dict.fromkeys(form[: SHOWN + 1] for form in forms if len(form) > SHOWN)
    for head in heads:
        start = text.find(head)
        while start != -1:
            end = max(_matched(text, start, form) for form in forms if form.startswith(head))
            text = text[:start] + REDACTED + text[end:]
            start = text.find(head, start + len(REDACTED))
    return text


def _matched(text: str, start: int, form: str) -> int:
    """Where the part of ``text`` from ``start`` that ``form`` begins with ends."""
    end = start
    while end - start < len(form) and end < len(text) and text[end] == form[end - start]:
        end += 1
    return end


def redact_error(error: BaseException, secrets: Secrets) -> None:
    """Redact ``secrets``, in place, from ``error`` and from every exception of its chain (its
    ``__cause__`` and ``__context__``, and theirs): the texts and bytes of their ``args`` and of
    their attributes (a :class:`~genai_commons.errors.ProviderError`'s ``body``, a JSON error's
    ``doc``, ``__notes__``), however nested in lists, tuples and dicts."""
    values = _revealed(secrets)
    if not values:
        return
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        _scrub(current, values)
        pending += [current.__cause__, current.__context__]
        if isinstance(current, BaseExceptionGroup):
            pending += current.exceptions


def _scrub(error: BaseException, values: list[str]) -> None:
    names = ["args", *getattr(error, "__dict__", {})]
    if isinstance(error, UnicodeError):
        names.append("object")  # the undecodable text, shown by repr through args but kept here too
    for name in names:
        try:
            value = getattr(error, name)
            cleaned = _clean(value, values, 0)
            if cleaned is not value:
                setattr(error, name, cleaned)
        except (AttributeError, TypeError, ValueError):  # a read-only or validated attribute
            continue


#: How deep :func:`_clean` goes into nested containers; deeper ones become redacted text.
_DEPTH = 64


def _clean(value: Any, values: list[str], depth: int) -> Any:
    """``value`` with the secrets redacted; the same object when there was nothing to redact."""
    if isinstance(value, str):
        cleaned = _redact(value, values)
        return value if cleaned == value else cleaned
    if isinstance(value, bytes | bytearray):
        text = bytes(value).decode("utf-8", "surrogateescape")
        cleaned = _redact(text, values)
        return value if cleaned == text else type(value)(cleaned.encode("utf-8", "surrogateescape"))
    if not isinstance(value, list | tuple | dict):
        return value
    if depth >= _DEPTH:
        text = repr(value)
        cleaned = _redact(text, values)
        return value if cleaned == text else cleaned
    if isinstance(value, dict):
        items = [(_clean(k, values, depth + 1), _clean(v, values, depth + 1)) for k, v in value.items()]
        if all(k is old_k and v is old_v for (k, v), (old_k, old_v) in zip(items, value.items(), strict=True)):
            return value
        return dict(items)
    members = [_clean(member, values, depth + 1) for member in value]
    if all(new is old for new, old in zip(members, value, strict=True)):
        return value
    return type(value)(members) if type(value) in (list, tuple) else members


@contextmanager
def redacted_errors(secrets: Secrets | Callable[[], Secrets]) -> Iterator[None]:
    """Around a plugin's calls: any exception leaving the block is re-raised with ``secrets`` (or
    what the function returns, asked only when an error passes) redacted from it and from its chain
    (:func:`redact_error`)::

        with redacted_errors(lambda: [settings.password]):
            ...
    """
    try:
        yield
    except Exception as exc:
        redact_error(exc, secrets() if callable(secrets) else secrets)
        raise


def url_credentials(url: str | None) -> list[str]:
    """The user name and password of ``url``'s ``user:password@``, as written and decoded."""
    if not url or "@" not in url:
        return []
    try:
        parts = urlsplit(url if "://" in url else f"//{url}")
        found = [parts.username, parts.password]
    except ValueError:
        return []
    return list(dict.fromkeys(value for text in found if text for value in (text, unquote(text))))
