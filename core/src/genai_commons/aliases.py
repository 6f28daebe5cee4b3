"""Model aliases and default models: the ``[aliases]`` and ``[defaults]`` tables.

::

    [aliases]
    fast = "openai:gpt-4o-mini"
    smart = ["openai:gpt-4o", "bedrock:anthropic.claude-3-5-sonnet-20240620-v1:0"]

    [defaults]
    chat = "smart"                      # an alias or PROVIDER:MODEL
    embedding = "local:all-MiniLM-L6-v2"
    image = "openai:dall-e-3"

An alias stands wherever a model reference does; an alias of several targets falls back from one
to the next (:mod:`genai_commons.fallbacks`). Alias names hold no colon, so a reference is an
alias exactly when it has none. Targets are ``PROVIDER:MODEL`` references, not other aliases.
``GENAI_CHAT_MODEL``, ``GENAI_EMBEDDING_MODEL`` and ``GENAI_IMAGE_MODEL`` override ``[defaults]``;
with no embedding default, ``[knowledge] default_embedding_model`` is the default.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import attrs
from attrs import frozen

from .errors import ConfigurationError, ValidationError

if TYPE_CHECKING:
    from .config import Config

#: What :meth:`genai_commons.Host.default_model` takes.
DefaultKind = Literal["chat", "embedding", "image"]
#: ``[defaults]`` key → the environment variable that overrides it.
DEFAULT_ENV = {"chat": "GENAI_CHAT_MODEL", "embedding": "GENAI_EMBEDDING_MODEL", "image": "GENAI_IMAGE_MODEL"}


def _is_ref(value: str) -> bool:
    provider, sep, model_id = value.partition(":")
    return bool(sep and provider.strip() and model_id.strip())


def _optional_ref(key: str) -> Any:
    def check(_instance: object, _attribute: object, value: str | None) -> None:
        if value is not None and (not value.strip() or value != value.strip()):
            raise ConfigurationError(f"[defaults] {key} = {value!r} must be an alias or PROVIDER:MODEL")

    return check


@frozen(kw_only=True)
class DefaultModels:
    """The ``[defaults]`` table: the model of a call that names none (an alias or ``PROVIDER:MODEL``)."""

    chat: str | None = attrs.field(default=None, validator=_optional_ref("chat"))
    embedding: str | None = attrs.field(default=None, validator=_optional_ref("embedding"))
    image: str | None = attrs.field(default=None, validator=_optional_ref("image"))


def alias_table(table: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """``[aliases]`` checked: each name (no colon) → its targets in order (one or more
    ``PROVIDER:MODEL`` references, no repeats)."""
    if not isinstance(table, Mapping):
        raise ConfigurationError(f"[aliases] must be a table of NAME = PROVIDER:MODEL, got {table!r}")
    out: dict[str, tuple[str, ...]] = {}
    for name, value in table.items():
        if not isinstance(name, str) or not name.strip() or ":" in name or name != name.strip():
            raise ConfigurationError(f"[aliases] {name!r}: an alias name is a word without a colon")
        targets = (value,) if isinstance(value, str) else value
        if isinstance(targets, list | tuple) and not targets:
            raise ConfigurationError(f"[aliases] {name}: give at least one PROVIDER:MODEL target")
        if not isinstance(targets, list | tuple) or not all(isinstance(t, str) for t in targets):
            raise ConfigurationError(
                f"[aliases] {name} must be a PROVIDER:MODEL string or a list of them, got {value!r}"
            )
        for target in targets:
            if not _is_ref(target):
                hint = " (aliases cannot name other aliases)" if target in table else ""
                raise ConfigurationError(
                    f"[aliases] {name}: target {target!r} must be PROVIDER:MODEL, for example openai:gpt-4o-mini{hint}"
                )
        if len(set(targets)) != len(targets):
            raise ConfigurationError(f"[aliases] {name}: a target is listed twice")
        out[name] = tuple(targets)
    return out


def check_defaults(config: Config, _attribute: object, defaults: DefaultModels) -> None:
    """Each default is ``PROVIDER:MODEL`` or a configured alias (a validator of :class:`Config`)."""
    for key in DEFAULT_ENV:
        value = getattr(defaults, key)
        if value is not None and not _is_ref(value) and value not in config.aliases:
            raise ConfigurationError(
                f"[defaults] {key} = {value!r} is neither PROVIDER:MODEL nor an alias of [aliases]{_known(config)}"
            )


def defaults_from_env(defaults: DefaultModels, environ: Mapping[str, str]) -> DefaultModels:
    """``[defaults]`` with ``GENAI_CHAT_MODEL`` and ``GENAI_IMAGE_MODEL`` applied (the embedding
    variable already sets ``[knowledge] default_embedding_model``, which the embedding default
    falls back to)."""
    changes = {key: environ[var].strip() for key, var in DEFAULT_ENV.items() if key != "embedding" and environ.get(var)}
    return attrs.evolve(defaults, **changes) if changes else defaults


def default_reference(config: Config, kind: str) -> str:
    """The configured default model reference of ``kind`` (an alias or ``PROVIDER:MODEL``)."""
    if kind not in DEFAULT_ENV:
        raise ValidationError(f"no default model of kind {kind!r}: use one of {', '.join(DEFAULT_ENV)}")
    value: str | None = getattr(config.default_models, kind)
    if value is None and kind == "embedding":
        value = config.knowledge.default_embedding_model
    if value is None:
        raise ConfigurationError(
            f"no default {kind} model is configured: name a model, or set [defaults] {kind} = "
            f'"PROVIDER:MODEL" (or an alias) in the configuration file, or {DEFAULT_ENV[kind]}'
        )
    return value


def first_target(config: Config, name: str) -> str:
    """The first target of alias ``name``; a name that is no alias is an error saying what a
    reference looks like."""
    targets = config.aliases.get(name)
    if targets is None:
        raise ValidationError(
            f"model reference {name!r} must be PROVIDER:ID, for example openai:gpt-4o-mini, "
            f"or an alias of [aliases]{_known(config)}"
        )
    return targets[0]


def _known(config: Config) -> str:
    names = sorted(config.aliases)
    return f" (configured: {', '.join(names)})" if names else " (none configured)"
