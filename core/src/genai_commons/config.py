"""Configuration: one TOML file plus environment variables, all relocatable with ``GENAI_HOME``.

Lookup order for the file: the ``path`` argument, ``$GENAI_CONFIG``, ``$GENAI_HOME/config.toml``.
Environment variables override the file (see ``docs/configuration.md`` for the full list). A
provider's table ``[providers.NAME]`` is handed to that provider's plugin as
:class:`ProviderSettings`; secrets read through it are :class:`Secret` values that never show in
a repr, a log line or an error message.
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import attrs
from attrs import field, frozen

from .aliases import DefaultModels, alias_table, check_defaults, defaults_from_env
from .budget_settings import BudgetSettings
from .deadlines import positive_seconds
from .errors import ConfigurationError, MissingCredentialsError
from .model.enums import SearchType
from .prices import Price, check_price_refs, prices_of

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
#: The values of ``[knowledge] search_type``.
SEARCH_TYPES = tuple(kind.value for kind in SearchType)


class Secret:
    """A secret value (API key, connection key) that never shows itself in ``repr`` or ``str``."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself; pass it only to the transport that needs it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


def default_home(environ: Mapping[str, str] | None = None) -> Path:
    """``$GENAI_HOME``, or the platform's per-user data directory for ``genai-commons``."""
    environ = os.environ if environ is None else environ
    if environ.get("GENAI_HOME"):
        return Path(environ["GENAI_HOME"]).expanduser()
    import platformdirs  # noqa: PLC0415

    return platformdirs.user_data_path("genai-commons", appauthor=False)


def parse_bool(value: str, *, name: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigurationError(f"{name}={value!r} is not a boolean; use true or false")


#: Keys of ``[providers.NAME]`` that the host reads for every provider; a plugin that refuses
#: unknown keys accepts these.
HOST_PROVIDER_KEYS = frozenset({"deadline"})


T = TypeVar("T")


@frozen(kw_only=True)
class ProviderSettings:
    """One provider's table from the configuration file, with environment fallbacks."""

    name: str
    values: Mapping[str, Any] = field(factory=dict, repr=False)
    environ: Mapping[str, str] = field(factory=lambda: dict(os.environ), repr=False, eq=False)
    #: The configuration file the table came from, for messages.
    source: Path | None = field(default=None, eq=False)

    def typed(self, cls: type[T]) -> T:
        """The table as the plugin's settings class (see :mod:`genai_commons.typed_settings`):
        unknown keys and wrong types refused, naming the file and the key."""
        from .typed_settings import typed_settings  # noqa: PLC0415 - typed_settings imports this module

        return typed_settings(cls, self.name, self.values, self.environ, self.source)

    def get(self, key: str, *, env: str | None = None, default: Any = None) -> Any:
        """The value of ``key``: from ``env`` if that variable is set, else the file, else ``default``."""
        if env is not None and self.environ.get(env):
            return self.environ[env]
        return self.values.get(key, default)

    def get_str(self, key: str, *, env: str | None = None, default: str | None = None) -> str | None:
        value = self.get(key, env=env, default=default)
        if value is not None and not isinstance(value, str):
            raise ConfigurationError(f"[providers.{self.name}] {key} must be a string")
        return value

    def get_float(self, key: str, *, env: str | None = None, default: float | None = None) -> float | None:
        value = self.get(key, env=env, default=default)
        if value is None:
            return None
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigurationError(f"[providers.{self.name}] {key} must be a number, got {value!r}") from None

    def get_bool(self, key: str, *, env: str | None = None, default: bool = False) -> bool:
        value = self.get(key, env=env, default=default)
        if isinstance(value, bool):
            return value
        return parse_bool(str(value), name=f"[providers.{self.name}] {key}")

    def get_secret(self, key: str, *, env: str | None = None, required: bool = False) -> Secret | None:
        """A secret from ``env`` or the file; ``required`` raises :class:`MissingCredentialsError`."""
        value = self.get(key, env=env)
        if value is None or value == "":
            if required:
                where = f"set {env} or " if env else ""
                raise MissingCredentialsError(
                    f"provider {self.name!r} needs {key}: {where}add {key} to [providers.{self.name}] "
                    "in the configuration file"
                )
            return None
        if not isinstance(value, str):
            raise ConfigurationError(f"[providers.{self.name}] {key} must be a string")
        return Secret(value)


@frozen(kw_only=True)
class RetryPolicy:
    """The host's retry loop: exponential backoff with full jitter, honouring Retry-After."""

    #: Calls in all, the first included; 1 turns retries off.
    max_attempts: int = 3
    initial_delay: float = 0.5
    max_delay: float = 20.0
    multiplier: float = 2.0
    #: A Retry-After longer than this is not waited for; the error is raised instead.
    max_retry_after: float = 60.0
    #: Seconds one call may take in all — attempts, waits and a stream's events — before it ends
    #: with :class:`DeadlineExceededError`; ``deadline`` in ``[providers.NAME]`` overrides it.
    deadline: float = 900.0

    def __attrs_post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigurationError("[retry] max_attempts must be at least 1")
        if not positive_seconds(self.deadline):
            raise ConfigurationError("[retry] deadline must be a positive number of seconds")
        numbers = (self.initial_delay, self.max_delay, self.multiplier, self.max_retry_after)
        if not all(math.isfinite(v) for v in numbers):
            raise ConfigurationError("[retry] delays and multiplier must be finite numbers, not nan or inf")
        if min(self.initial_delay, self.max_delay, self.max_retry_after) < 0 or self.multiplier < 1:
            raise ConfigurationError("[retry] delays must be positive and multiplier at least 1")


@frozen(kw_only=True)
class UsageSettings:
    """The seed's ``StoreUsageMetrics`` and ``Usage_CleanUpAfterDays``."""

    store: bool = False
    #: Records older than this many days are deleted by clean-up; None or 0 keeps everything.
    cleanup_after_days: int | None = None
    #: The SQLite file of the default usage store; relative paths are under the home directory.
    database: str = "usage.db"

    def __attrs_post_init__(self) -> None:
        if self.cleanup_after_days is not None and self.cleanup_after_days < 0:
            raise ConfigurationError("[usage] cleanup_after_days must be 0 (keep everything) or more")


@frozen(kw_only=True)
class PluginSettings:
    """Which plugins a host loads."""

    entry_points: bool = True
    #: When set, only these plugin names load.
    allow: tuple[str, ...] | None = None
    block: tuple[str, ...] = ()


@frozen(kw_only=True)
class ToolSettings:
    """The tool-calling loop."""

    max_steps: int = 10

    def __attrs_post_init__(self) -> None:
        if self.max_steps < 1:
            raise ConfigurationError("[tools] max_steps must be at least 1")


@frozen(kw_only=True)
class KnowledgeSettings:
    """Knowledge bases: where an unconfigured name lives, and how ingestion embeds."""

    #: The provider of a knowledge base named without ``PROVIDER:`` and not configured.
    default_provider: str = "local"
    #: The embedding model of a new knowledge base that names none (``GENAI_EMBEDDING_MODEL``).
    default_embedding_model: str = "local:all-MiniLM-L6-v2"
    #: Texts per embedding call when the model declares no limit of its own.
    embed_batch_size: int = 64
    #: Embedding calls in flight at once during ingestion.
    embed_concurrency: int = 4
    #: How a retrieval that names no search type ranks (``GENAI_SEARCH_TYPE``): ``vector``,
    #: ``keyword`` or ``hybrid``; a knowledge base that does not offer it searches by vector.
    search_type: str = "hybrid"
    #: The model that reranks every retrieval that names none (``GENAI_RERANK_MODEL``):
    #: ``PROVIDER:MODEL`` of a rerank model or a chat model; None (the default): no reranking.
    rerank_model: str | None = None
    #: Candidates retrieved for the reranker to choose ``k`` from; None: ``max(4 * k, 20)``.
    rerank_candidates: int | None = None

    def __attrs_post_init__(self) -> None:
        if self.rerank_model is not None and ":" not in self.rerank_model:
            raise ConfigurationError(
                f"[knowledge] rerank_model = {self.rerank_model!r} must be PROVIDER:MODEL, "
                "for example bedrock:amazon.rerank-v1:0"
            )
        if self.rerank_candidates is not None and not 1 <= self.rerank_candidates <= 10_000:
            raise ConfigurationError("[knowledge] rerank_candidates must be between 1 and 10000")
        if self.embed_batch_size < 1 or self.embed_concurrency < 1:
            raise ConfigurationError("[knowledge] embed_batch_size and embed_concurrency must be at least 1")
        if ":" not in self.default_embedding_model:
            raise ConfigurationError("[knowledge] default_embedding_model must be PROVIDER:MODEL")
        if self.search_type not in SEARCH_TYPES:
            raise ConfigurationError(
                f"[knowledge] search_type = {self.search_type!r}: use one of {', '.join(map(repr, SEARCH_TYPES))}"
            )


@frozen(kw_only=True)
class FileSettings:
    """Files attached to chat messages by URL: whether the host may download them."""

    #: Download ``http(s)`` file URLs for models that take only inline bytes (``GENAI_FETCH_URLS``).
    fetch_urls: bool = False
    #: The largest file the host downloads, in bytes.
    fetch_max_bytes: int = 20 * 1024 * 1024
    #: Seconds to connect and between bytes read.
    fetch_timeout: float = 20.0
    #: Whether URLs may point at loopback, private, link-local or reserved addresses.
    fetch_private_networks: bool = False

    def __attrs_post_init__(self) -> None:
        if self.fetch_max_bytes < 1 or self.fetch_timeout <= 0:
            raise ConfigurationError("[files] fetch_max_bytes and fetch_timeout must be positive")


@frozen(kw_only=True)
class _FileSchema:
    plugins: PluginSettings = field(factory=PluginSettings)
    retry: RetryPolicy = field(factory=RetryPolicy)
    usage: UsageSettings = field(factory=UsageSettings)
    tools: ToolSettings = field(factory=ToolSettings)
    knowledge: KnowledgeSettings = field(factory=KnowledgeSettings)
    files: FileSettings = field(factory=FileSettings)
    prices: dict[str, Price] = field(factory=dict)
    budgets: BudgetSettings = field(factory=BudgetSettings)
    providers: dict[str, dict[str, Any]] = field(factory=dict)
    knowledge_bases: dict[str, dict[str, Any]] = field(factory=dict)
    aliases: dict[str, Any] = field(factory=dict, converter=alias_table)
    defaults: DefaultModels = field(factory=DefaultModels)


@frozen(kw_only=True)
class Config:
    """Everything a :class:`Host` is configured with."""

    home: Path
    #: The file read, if any.
    path: Path | None = None
    plugins: PluginSettings = field(factory=PluginSettings)
    retry: RetryPolicy = field(factory=RetryPolicy)
    usage: UsageSettings = field(factory=UsageSettings)
    tools: ToolSettings = field(factory=ToolSettings)
    knowledge: KnowledgeSettings = field(factory=KnowledgeSettings)
    files: FileSettings = field(factory=FileSettings)
    #: ``[prices."PROVIDER:MODEL"]``: prices that override or extend the shipped table.
    prices: Mapping[str, Price] = field(factory=dict, converter=prices_of, validator=check_price_refs)
    #: ``[budgets]``: monthly limits (see :mod:`genai_commons.budget_settings`).
    budgets: BudgetSettings = field(factory=BudgetSettings)
    providers: Mapping[str, Mapping[str, Any]] = field(factory=dict, repr=False)
    #: ``[knowledge_bases.NAME]`` tables: ``provider``, ``collection``, ``embedding_model``,
    #: ``description``, and keys of the provider's own.
    knowledge_bases: Mapping[str, Mapping[str, Any]] = field(factory=dict, repr=False)
    #: ``[aliases]``: name → its targets in order (see :mod:`genai_commons.aliases`).
    aliases: Mapping[str, tuple[str, ...]] = field(factory=dict, converter=alias_table)
    #: ``[defaults]``: the chat, embedding and image model of a call that names none.
    default_models: DefaultModels = field(factory=DefaultModels, validator=check_defaults)
    environ: Mapping[str, str] = field(factory=lambda: dict(os.environ), repr=False, eq=False)

    @classmethod
    def load(cls, path: str | Path | None = None, *, environ: Mapping[str, str] | None = None) -> Config:
        """Read the file (when there is one) and apply the environment on top."""
        environ = dict(os.environ if environ is None else environ)
        home = default_home(environ)
        explicit = path is not None or bool(environ.get("GENAI_CONFIG"))
        file = Path(path or environ.get("GENAI_CONFIG") or home / "config.toml").expanduser()
        data: dict[str, Any] = {}
        if file.exists() and not file.is_file():
            raise ConfigurationError(f"configuration file {file} is not a file")
        if file.is_file():
            try:
                data = tomllib.loads(file.read_text(encoding="utf-8"))
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                raise ConfigurationError(f"{file}: not valid TOML: {exc}") from None
            except OSError as exc:
                raise ConfigurationError(f"{file}: cannot read: {exc.strerror}") from None
        elif explicit:
            raise ConfigurationError(f"configuration file {file} does not exist")
        schema = _structure_file(data, file) if data else _FileSchema()
        return cls(
            home=home,
            path=file if file.is_file() else None,
            plugins=_plugins_from_env(schema.plugins, environ),
            retry=schema.retry,
            usage=_usage_from_env(schema.usage, environ),
            tools=schema.tools,
            knowledge=_knowledge_from_env(schema.knowledge, environ),
            files=_files_from_env(schema.files, environ),
            prices=schema.prices,
            budgets=schema.budgets,
            providers=schema.providers,
            knowledge_bases=schema.knowledge_bases,
            aliases=schema.aliases,
            default_models=defaults_from_env(schema.defaults, environ),
            environ=environ,
        )

    @classmethod
    def defaults(cls, home: str | Path, **kwargs: Any) -> Config:
        """A configuration with no file and no environment, for tests and embedding tools."""
        return cls(home=Path(home), environ={}, **kwargs)

    def provider(self, name: str) -> ProviderSettings:
        """The settings of one provider (empty when the file has no ``[providers.NAME]`` table)."""
        return ProviderSettings(
            name=name, values=dict(self.providers.get(name, {})), environ=self.environ, source=self.path
        )

    def deadline(self, provider: str) -> tuple[float, str]:
        """Seconds a call to ``provider`` may take, and the setting that says so: ``deadline`` in
        its ``[providers.NAME]`` table, else ``[retry] deadline``."""
        value = self.providers.get(provider, {}).get("deadline")
        if value is None:
            return self.retry.deadline, "[retry] deadline"
        where = f"[providers.{provider}] deadline"
        if not positive_seconds(value):
            raise ConfigurationError(f"{where} must be a positive number of seconds, got {value!r}")
        return float(value), where

    @property
    def usage_database(self) -> Path:
        path = Path(self.usage.database).expanduser()
        return path if path.is_absolute() else self.home / path


def _structure_file(data: dict[str, Any], file: Path) -> _FileSchema:
    import cattrs  # noqa: PLC0415

    converter = cattrs.Converter(forbid_extra_keys=True)
    for kind in (bool, int, float, str):  # no coercion: "false" is not a boolean, 2.5 not an int
        converter.register_structure_hook(kind, _strict(kind))
    string_list = tuple[str, ...]
    converter.register_structure_hook_func(lambda t: t == string_list, _string_list)  # "ab" is not ("a", "b")
    try:
        return converter.structure(data, _FileSchema)
    except ConfigurationError as exc:
        raise ConfigurationError(f"{file}: {exc}") from None
    except cattrs.BaseValidationError as exc:
        problems = "; ".join(cattrs.transform_error(exc, path="config", format_exception=_format_problem))
        raise ConfigurationError(f"{file}: {problems}") from None


def _format_problem(exc: BaseException, type_: Any) -> str:
    if isinstance(exc, ConfigurationError | ValueError):
        return str(exc)
    from cattrs.v import format_exception  # noqa: PLC0415

    return format_exception(exc, type_)


def _strict(kind: type) -> Any:
    def structure(value: Any, _type: Any) -> Any:
        accepted = (int, float) if kind is float else kind
        if isinstance(value, bool) != (kind is bool) or not isinstance(value, accepted):
            raise ValueError(f"expected {kind.__name__}, got {value!r}")
        return kind(value)

    return structure


def _string_list(value: Any, _type: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"expected a list of strings, got {value!r}")
    return tuple(value)


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _plugins_from_env(settings: PluginSettings, environ: Mapping[str, str]) -> PluginSettings:
    entry_points = settings.entry_points
    if "GENAI_ENTRY_POINTS" in environ:
        entry_points = parse_bool(environ["GENAI_ENTRY_POINTS"], name="GENAI_ENTRY_POINTS")
    allow = _split(environ["GENAI_PLUGINS_ALLOW"]) if environ.get("GENAI_PLUGINS_ALLOW") else settings.allow
    block = (*settings.block, *_split(environ.get("GENAI_PLUGINS_BLOCK", "")))
    return PluginSettings(entry_points=entry_points, allow=allow, block=block)


def _usage_from_env(settings: UsageSettings, environ: Mapping[str, str]) -> UsageSettings:
    store = settings.store
    if "GENAI_STORE_USAGE_METRICS" in environ:
        store = parse_bool(environ["GENAI_STORE_USAGE_METRICS"], name="GENAI_STORE_USAGE_METRICS")
    days = settings.cleanup_after_days
    raw = environ.get("GENAI_USAGE_CLEANUP_AFTER_DAYS")
    if raw:
        try:
            days = int(raw)
        except ValueError:
            raise ConfigurationError(f"GENAI_USAGE_CLEANUP_AFTER_DAYS={raw!r} is not a whole number of days") from None
        if days < 0:
            raise ConfigurationError(f"GENAI_USAGE_CLEANUP_AFTER_DAYS={raw!r} must be 0 (keep everything) or more")
    return UsageSettings(store=store, cleanup_after_days=days, database=settings.database)


def _knowledge_from_env(settings: KnowledgeSettings, environ: Mapping[str, str]) -> KnowledgeSettings:
    model = environ.get("GENAI_EMBEDDING_MODEL")
    if model:
        if ":" not in model:
            raise ConfigurationError(f"GENAI_EMBEDDING_MODEL={model!r} must be PROVIDER:MODEL")
        settings = attrs.evolve(settings, default_embedding_model=model)
    search_type = environ.get("GENAI_SEARCH_TYPE", "").strip().lower()
    if search_type:
        if search_type not in SEARCH_TYPES:
            raise ConfigurationError(
                f"GENAI_SEARCH_TYPE={environ['GENAI_SEARCH_TYPE']!r}: use one of {', '.join(SEARCH_TYPES)}"
            )
        settings = attrs.evolve(settings, search_type=search_type)
    rerank = environ.get("GENAI_RERANK_MODEL", "").strip()
    if rerank.lower() == "none":
        settings = attrs.evolve(settings, rerank_model=None)
    elif rerank:
        if ":" not in rerank:
            raise ConfigurationError(f"GENAI_RERANK_MODEL={rerank!r} must be PROVIDER:MODEL (or none)")
        settings = attrs.evolve(settings, rerank_model=rerank)
    return settings


def _files_from_env(settings: FileSettings, environ: Mapping[str, str]) -> FileSettings:
    if "GENAI_FETCH_URLS" not in environ:
        return settings
    return attrs.evolve(settings, fetch_urls=parse_bool(environ["GENAI_FETCH_URLS"], name="GENAI_FETCH_URLS"))
