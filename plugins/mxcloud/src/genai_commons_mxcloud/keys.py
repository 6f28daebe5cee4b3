"""Connection keys: the base64-encoded JSON documents the Mendix Cloud GenAI portal creates.

A key names its resource type (text generation, embeddings or knowledge base), the base URL of
the resource and the access token sent as ``x-api-key``. A knowledge-base key carries the key of
its embeddings resource under ``embeddings``. :meth:`ConnectionKey.parse` reads one and fails with
a :class:`MalformedKeyError` that says which of the ways a key can be broken this one is —
never quoting the key, since it is a secret. Tokens are :class:`~genai_commons.Secret` values:
they do not show in a ``repr``, a log line or an error.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from enum import StrEnum
from pathlib import Path
from typing import Any

import attrs
from attrs import field, frozen

from genai_commons import Secret, ValidationError
from genai_commons.jsonparse import loads

__all__ = ["ENV_KEY", "ConnectionKey", "KeyType", "MalformedKeyError", "key_name"]

#: The environment variable that holds one key (or several, separated by commas or whitespace).
ENV_KEY = "GENAI_MXCLOUD_KEY"

_NAME = re.compile(r"[^a-z0-9._-]+")
_SPLIT = re.compile(r"[\s,]+")


class KeyType(StrEnum):
    """The resource a key opens."""

    TEXT_GENERATION = "TEXT_GENERATION"
    EMBEDDINGS_GENERATION = "EMBEDDINGS_GENERATION"
    KNOWLEDGE_BASE = "KNOWLEDGE_BASE"

    @property
    def label(self) -> str:
        return {"TEXT_GENERATION": "text generation", "EMBEDDINGS_GENERATION": "embeddings"}.get(
            self.value, "knowledge base"
        )


class MalformedKeyError(ValidationError):
    """A connection key that cannot be read.

    :param reason: ``empty``, ``not_base64``, ``not_json``, ``missing_fields``, ``unknown_type``
        or ``bad_url``.
    """

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def key_name(value: str) -> str:
    """A key's name as it appears in model references: lower case, letters, digits, ``.``, ``_``
    and ``-`` (``My Claude Key`` becomes ``my-claude-key``)."""
    name = _NAME.sub("-", value.strip().lower()).strip("-.")
    if not name:
        raise ValidationError(f"{value!r} gives an empty key name: use letters or digits")
    return name


def _secret_repr(value: Secret) -> str:
    return "Secret('**********')"


@frozen(kw_only=True)
class ConnectionKey:
    """One connection key (the JSON document inside the base64 text); see the module docstring.

    :param name: the key's name in this host (model reference ``mxcloud:NAME``), from the
        portal's key name unless chosen on import.
    """

    name: str
    key_type: KeyType
    base_url: str
    access_token: Secret = field(repr=_secret_repr)
    model: str = ""
    key_name: str = ""
    key_id: str = ""
    resource_id: str = ""
    environment: str = ""
    deep_link_url: str = ""
    schema_version: int | None = None
    #: The embeddings resource of a knowledge-base key.
    embeddings: ConnectionKey | None = None
    #: The base64 text the key was read from, kept to store it again; a secret too.
    encoded: Secret = field(repr=_secret_repr, eq=False)

    @property
    def host(self) -> str:
        """The host part of the base URL (shown by ``genai mxcloud key list``)."""
        return self.base_url.split("://", 1)[-1].split("/", 1)[0]

    # -- reading -----------------------------------------------------------------------------

    @classmethod
    def parse(cls, text: str, *, name: str | None = None, where: str = "the key") -> ConnectionKey:
        """The key in ``text`` (base64 of the portal's JSON). ``where`` names the source in errors
        (``GENAI_MXCLOUD_KEY``, a file name); the key itself never appears in them."""
        compact = "".join(text.split())
        if not compact:
            raise MalformedKeyError(
                f"{where} is empty: copy the key from the Mendix Cloud GenAI portal (it is shown once, when created)",
                reason="empty",
            )
        raw = _decode_base64(compact, where)
        try:
            data = loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise MalformedKeyError(
                f"{where} is base64 but not a JSON document: it is not a Mendix Cloud GenAI connection key "
                "(copy the whole key from the portal)",
                reason="not_json",
            ) from None
        if not isinstance(data, dict):
            raise MalformedKeyError(f"{where} is JSON but not an object: not a connection key", reason="not_json")
        key = _from_json(data, where, compact)
        chosen = name or key.key_name or str(data.get("name") or "") or key.key_id
        if not chosen:
            raise MalformedKeyError(f"{where} has no keyName: give the key a name", reason="missing_fields")
        return _evolve_name(key, key_name(chosen))

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> list[ConnectionKey]:
        """The keys in ``GENAI_MXCLOUD_KEY`` (several may be separated by commas or whitespace)."""
        environ = dict(os.environ) if environ is None else environ
        parts = [p for p in _SPLIT.split(environ.get(ENV_KEY, "")) if p]
        where = ENV_KEY if len(parts) == 1 else f"{ENV_KEY} (key {{n}} of {len(parts)})"
        return [cls.parse(p, where=where.format(n=n)) for n, p in enumerate(parts, 1)]

    @classmethod
    def from_file(cls, path: str | Path, *, name: str | None = None) -> ConnectionKey:
        """The key stored as text in a file."""
        file = Path(path).expanduser()
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not a text file"
            raise ValidationError(f"cannot read the key file {str(file)!r}: {reason}") from None
        return cls.parse(text, name=name, where=f"the key file {str(file)!r}")


def _decode_base64(compact: str, where: str) -> bytes:
    padded = compact + "=" * (-len(compact) % 4)
    alphabet = b"-_" if ("-" in compact or "_" in compact) else None
    try:
        return base64.b64decode(padded, altchars=alphabet, validate=True)
    except (binascii.Error, ValueError):
        if compact.lstrip().startswith("{"):
            hint = "it looks like the JSON itself: pass the base64 text the portal shows"
        else:
            hint = "copy the whole key from the Mendix Cloud GenAI portal, without quotes or line breaks"
        raise MalformedKeyError(f"{where} is not valid base64: {hint}", reason="not_base64") from None


def _from_json(data: dict[str, Any], where: str, encoded: str) -> ConnectionKey:
    raw_type = data.get("type")
    missing = [f for f in ("type", "accessToken") if not data.get(f)]
    if not (data.get("endpointUrl") or data.get("resourceBaseUrl")):
        missing.append("endpointUrl or resourceBaseUrl")
    if missing:
        raise MalformedKeyError(
            f"{where} lacks {', '.join(missing)}: it is incomplete or not a Mendix Cloud GenAI connection key; "
            "create a new key in the portal",
            reason="missing_fields",
        )
    if not isinstance(data["accessToken"], str):  # never quoted: it is the secret
        raise MalformedKeyError(
            f"{where} has an accessToken that is not text: it is damaged; copy the key from the portal again",
            reason="missing_fields",
        )
    try:
        if not isinstance(raw_type, str):
            raise ValueError(raw_type)
        key_type = KeyType(raw_type.upper())
    except ValueError:
        known = ", ".join(k.value for k in KeyType)
        shown = repr(raw_type[:40]) if isinstance(raw_type, str) else f"<{type(raw_type).__name__}>"
        raise MalformedKeyError(
            f"{where} has type {shown}, which this plugin does not know (known: {known}); "
            "a newer key format may need a newer genai-commons-mxcloud",
            reason="unknown_type",
        ) from None
    base_url = str(data.get("endpointUrl") or data.get("resourceBaseUrl")).strip().rstrip("/")
    if not base_url.startswith(("https://", "http://")):
        raise MalformedKeyError(f"{where} has a base URL that is not http(s)", reason="bad_url")
    embeddings = None
    if key_type is KeyType.KNOWLEDGE_BASE:
        inner = data.get("embeddings")
        if not isinstance(inner, dict):
            raise MalformedKeyError(
                f"{where} is a knowledge-base key without its embeddings key: create a new key in the portal",
                reason="missing_fields",
            )
        embeddings = _from_json(inner, f"the embeddings part of {where}", encoded)
        if embeddings.key_type is not KeyType.EMBEDDINGS_GENERATION:
            raise MalformedKeyError(
                f"the embeddings part of {where} has type {embeddings.key_type.value}, not EMBEDDINGS_GENERATION",
                reason="unknown_type",
            )
    version = data.get("schemaVersion")
    return ConnectionKey(
        name="",
        key_type=key_type,
        base_url=base_url,
        access_token=Secret(str(data["accessToken"])),
        model=str(data.get("model") or ""),
        key_name=str(data.get("keyName") or ""),
        key_id=str(data.get("keyId") or data.get("id") or ""),
        resource_id=str(data.get("id") or ""),
        environment=str(data.get("environment") or ""),
        deep_link_url=str(data.get("deepLinkUrl") or ""),
        schema_version=version if isinstance(version, int) else None,
        embeddings=embeddings,
        encoded=Secret(encoded),
    )


def _evolve_name(key: ConnectionKey, name: str) -> ConnectionKey:
    embeddings = key.embeddings
    if embeddings is not None:
        embeddings = attrs.evolve(embeddings, name=f"{name}/embeddings")
    return attrs.evolve(key, name=name, embeddings=embeddings)
