"""Canary secrets for the security suites (``test_security_*.py``), the forms in which one could
leak, and a walk over the objects a host can reach whose reprs must not show one.

A canary is a secret of one kind (an OpenAI key, an AWS secret access key, a Mendix Cloud access
token, …) with a distinctive, fixed beginning, so that finding it anywhere is proof of a leak and
never a coincidence. :func:`leaks` looks for each canary as itself, its first nine characters (a
"masked" key that shows more than eight characters is a leak), percent-encoded, JSON-escaped and
base64-encoded at each of the three alignments a surrounding text can give it (so a Basic
``Authorization`` header, or a Mendix Cloud connection key that holds the token, is found too).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

__all__ = ["CANARIES", "PREFIX", "Finder", "exception_texts", "forms", "leaks", "reachable", "watched_reprs"]

#: Shown before a canary's kind in failure messages.
PREFIX = 9

#: One secret per kind. AWS secrets carry ``/``, ``+`` and ``=`` as real ones do, and the OpenSearch
#: password characters that URLs and Basic authentication must encode, so that the encoded forms
#: differ from the raw one.
CANARIES: Mapping[str, str] = {
    "openai_api_key": "sk-q7Zk3vX9wOpenAI-canary-5f2e81c4",
    "openai_wrong_key": "sk-j4Ls8HnB3wrongOpenAI-canary-0b7e",
    "azure_api_key": "b8Yh2LmQ4azure0canary0d41a77c3e9f",
    "azure_wrong_key": "c5Tg1NoP6azureWRONG0canary0e5b21",
    "aws_secret_access_key": "k3Pd9TzR1/AwsSecret+canary=7c0b5e",
    "aws_session_token": "w5Nc8GfJ2SessionToken/canary+9e0d==",
    "aws_external_id": "e4Rt7YuI1ExternalId-canary-6a2f",
    "mxcloud_token": "h2Vb6KsD0mxTokenCanary41af9d",
    "mxcloud_revoked_token": "m6Xc3WeZ8mxRevokedCanary7d0e",
    "opensearch_password": "r9Qe4XyU7:p@ss/w0rd canary&x%",
}


def _base64_cores(secret: bytes) -> Iterator[tuple[str, str]]:
    """The part of ``secret``'s base64 text that depends on it alone, at each alignment it can
    have inside a longer text (its first group and last group mix with neighbouring bytes)."""
    for offset in range(3):
        for name, encode in (("base64", base64.b64encode), ("base64url", base64.urlsafe_b64encode)):
            text = encode(b"\0" * offset + secret).decode("ascii").rstrip("=")
            core = text[4 if offset else 0 : -4]
            if len(core) >= 12:
                yield f"{name}@{offset}", core


def forms(secret: str) -> dict[str, str]:
    """The texts whose presence shows that ``secret`` leaked, by the name of the form."""
    found = {
        "raw": secret,
        f"first {PREFIX} characters": secret[:PREFIX],
        "percent-encoded": quote(secret, safe=""),
        "form-encoded": quote_plus(secret),
        "JSON-escaped": json.dumps(secret)[1:-1],
        "JSON-escaped (slashes)": json.dumps(secret)[1:-1].replace("/", "\\/"),
    }
    found.update(_base64_cores(secret.encode("utf-8")))
    return found


class Finder:
    """Looks for every form of a set of secrets in text or bytes."""

    def __init__(self, secrets: Mapping[str, str]) -> None:
        self._forms = [(kind, form, text) for kind, secret in secrets.items() for form, text in forms(secret).items()]

    def __call__(self, data: str | bytes | None) -> list[str]:
        """``kind (form)`` of each secret found in ``data``."""
        if not data:
            return []
        if isinstance(data, bytes):
            return [f"{kind} ({form})" for kind, form, text in self._forms if text.encode("utf-8") in data]
        return [f"{kind} ({form})" for kind, form, text in self._forms if text in data]


#: Every canary, in every form.
leaks = Finder(CANARIES)


# -- the objects a host can reach ----------------------------------------------------------------

#: Objects of these modules are walked into, and their reprs checked.
_OWN = ("genai_commons",)
#: Client objects of these libraries are not walked into, but their reprs are checked.
_CLIENTS = ("httpx", "botocore", "boto3", "opensearchpy", "urllib3")


def _module(obj: object) -> str:
    return type(obj).__module__ or ""


def _children(obj: object) -> Iterable[object]:
    if isinstance(obj, Mapping):
        yield from obj.values()
        return
    if isinstance(obj, list | tuple | set | frozenset):
        yield from obj
        return
    if not _module(obj).startswith(_OWN):
        return
    seen: set[str] = set()
    for cls in type(obj).__mro__:
        for name in getattr(cls, "__slots__", ()):
            if name not in seen and not name.startswith("__"):
                seen.add(name)
                try:
                    yield getattr(obj, name)
                except AttributeError:
                    continue
    yield from getattr(obj, "__dict__", {}).values()


def reachable(root: object, depth: int = 8) -> Iterator[object]:
    """``root`` and the objects reachable from it through the attributes of genai-commons objects
    and the items of containers (each once, at most ``depth`` steps away)."""
    stack: list[tuple[object, int]] = [(root, 0)]
    seen: set[int] = set()
    while stack:
        obj, level = stack.pop()
        if id(obj) in seen or isinstance(obj, str | bytes | int | float | bool | type(None)):
            continue
        seen.add(id(obj))
        yield obj
        if level < depth:
            stack.extend((child, level + 1) for child in _children(obj))


def watched_reprs(root: object) -> Iterator[tuple[str, str]]:
    """``(type name, repr)`` of each genai-commons object or client reachable from ``root``."""
    for obj in reachable(root):
        module = _module(obj)
        if module.startswith(_OWN) or module.split(".")[0] in _CLIENTS:
            name = f"{module}.{type(obj).__qualname__}"
            try:
                yield name, repr(obj)
                yield name, str(obj)
            except Exception as exc:  # a repr that fails is no leak, but say which
                yield name, f"<repr failed: {type(exc).__name__}>"


def exception_texts(exc: BaseException) -> Iterator[tuple[str, str]]:
    """Every text an error shows: its str, repr, args, ``body`` and ``__notes__``, and the same
    for its causes and contexts, with the formatted traceback of the whole chain."""
    import traceback

    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    for number, error in enumerate(chain):
        where = f"{type(error).__name__} (link {number})"
        yield f"{where} str", str(error)
        yield f"{where} repr", repr(error)
        for index, arg in enumerate(error.args):
            yield f"{where} args[{index}]", arg if isinstance(arg, str) else repr(arg)
        for attribute in ("body", "message", "response", "text"):
            value: Any = getattr(error, attribute, None)
            if value is not None:
                yield f"{where} .{attribute}", value if isinstance(value, str) else repr(value)
        for note in getattr(error, "__notes__", ()):
            yield f"{where} note", note
    yield "traceback", "".join(traceback.format_exception(exc))
