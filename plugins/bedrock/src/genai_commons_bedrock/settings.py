"""The plugin's settings: ``[providers.bedrock]`` in the configuration file, read once in ``configure``.

Nothing here needs credentials or the network: credentials are resolved by boto3 on the first call.

Precedence, for each value: the project's rule (an environment variable named here wins over the
file), then the file, then boto3's own chain (``AWS_REGION``, ``AWS_PROFILE``, ``~/.aws/config``,
SSO, container and instance roles, and ``AWS_ENDPOINT_URL_<SERVICE>``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from attrs import field, frozen

from genai_commons import ConfigurationError

if TYPE_CHECKING:
    from genai_commons import ProviderSettings, Secret

#: The services the plugin talks to, with the key of their endpoint setting and the standard
#: variable boto3 reads (``AWS_ENDPOINT_URL_`` + the service id in upper snake case).
ENDPOINT_SETTINGS: Mapping[str, tuple[str, str]] = {
    "bedrock-runtime": ("runtime_endpoint_url", "AWS_ENDPOINT_URL_BEDROCK_RUNTIME"),
    "bedrock": ("endpoint_url", "AWS_ENDPOINT_URL_BEDROCK"),
    "bedrock-agent-runtime": ("agent_runtime_endpoint_url", "AWS_ENDPOINT_URL_BEDROCK_AGENT_RUNTIME"),
    "bedrock-agent": ("agent_endpoint_url", "AWS_ENDPOINT_URL_BEDROCK_AGENT"),
}

#: ListFoundationModels filters: setting key -> request parameter, with the values Bedrock accepts.
MODEL_FILTERS: Mapping[str, tuple[str, frozenset[str] | None]] = {
    "by_provider": ("byProvider", None),
    "by_customization_type": (
        "byCustomizationType",
        frozenset({"FINE_TUNING", "CONTINUED_PRE_TRAINING", "DISTILLATION"}),
    ),
    "by_output_modality": ("byOutputModality", frozenset({"TEXT", "IMAGE", "EMBEDDING"})),
    "by_inference_type": ("byInferenceType", frozenset({"ON_DEMAND", "PROVISIONED"})),
}


@frozen(kw_only=True)
class ModelEntry:
    """A model named in ``models``: its id, and optionally a display name and the id of a model
    whose capabilities it shares (for ARNs of provisioned throughput or imported models)."""

    model_id: str
    display_name: str | None = None
    like: str | None = None


@frozen(kw_only=True)
class BedrockSettings:
    """Everything ``[providers.bedrock]`` can hold; see ``docs/bedrock.md``."""

    region: str | None = None
    profile: str | None = None
    role_arn: str | None = None
    role_session_name: str = "genai-commons"
    external_id: Secret | None = field(default=None, repr=False)
    role_duration_seconds: int | None = None
    access_key_id: Secret | None = field(default=None, repr=False)
    secret_access_key: Secret | None = field(default=None, repr=False)
    session_token: Secret | None = field(default=None, repr=False)
    connect_timeout: float = 10.0
    read_timeout: float = 300.0
    #: Calls one embedding request may run at once (Titan takes one text a call).
    max_concurrency: int = 16
    #: Service name -> endpoint URL, for the services given one in the file or the environment.
    endpoint_urls: Mapping[str, str] = field(factory=dict)
    #: Whether ``genai models`` asks ListFoundationModels (else: the configured or built-in list).
    list_models: bool = True
    #: ListFoundationModels parameters (``byProvider`` …) from the ``by_*`` settings.
    model_filters: Mapping[str, str] = field(factory=dict)
    models: tuple[ModelEntry, ...] = ()
    #: The agent alias invoked when an agent reference names none (the working draft's test alias).
    agent_alias_id: str = "TSTALIASID"
    #: How long a sync waits for its ingestion jobs, and how often it asks how they stand (seconds).
    ingestion_timeout: float = 3600.0
    ingestion_poll_interval: float = 5.0

    @classmethod
    def from_provider_settings(cls, settings: ProviderSettings) -> BedrockSettings:
        name = f"[providers.{settings.name}]"
        timeouts = {
            key: _positive(settings.get_float(key), f"{name} {key}")
            for key in ("connect_timeout", "read_timeout", "ingestion_timeout", "ingestion_poll_interval")
        }
        concurrency = settings.get("max_concurrency", default=16)
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or not 1 <= concurrency <= 256:
            raise ConfigurationError(f"{name} max_concurrency must be a whole number from 1 to 256")
        duration = settings.get("role_duration_seconds")
        if duration is not None and (isinstance(duration, bool) or not isinstance(duration, int) or duration < 900):
            raise ConfigurationError(f"{name} role_duration_seconds must be a whole number of at least 900")
        endpoints = {}
        for service, (key, env) in ENDPOINT_SETTINGS.items():
            url = settings.get_str(key, env=env)
            if url:
                if not url.startswith(("http://", "https://")):
                    raise ConfigurationError(f"{name} {key} (or {env}) must be an http(s) URL, got {url!r}")
                endpoints[service] = url
        filters = {}
        for key, (parameter, allowed) in MODEL_FILTERS.items():
            value = settings.get_str(key)
            if value:
                if allowed is not None and value.upper() not in allowed:
                    raise ConfigurationError(f"{name} {key} must be one of {', '.join(sorted(allowed))}")
                filters[parameter] = value.upper() if allowed is not None else value
        access_key = settings.get_secret("access_key_id")
        secret_key = settings.get_secret("secret_access_key")
        if (access_key is None) != (secret_key is None):
            raise ConfigurationError(f"{name} needs both access_key_id and secret_access_key, or neither")
        return cls(
            # AWS_REGION is the standard variable of the AWS SDKs, but botocore reads only
            # AWS_DEFAULT_REGION (and the profile's region) on its own.
            region=settings.get_str("region") or settings.environ.get("AWS_REGION") or None,
            profile=settings.get_str("profile"),
            role_arn=settings.get_str("role_arn"),
            role_session_name=settings.get_str("role_session_name", default="genai-commons") or "genai-commons",
            external_id=settings.get_secret("external_id"),
            role_duration_seconds=duration,
            access_key_id=access_key,
            secret_access_key=secret_key,
            session_token=settings.get_secret("session_token"),
            connect_timeout=timeouts["connect_timeout"] or 10.0,
            read_timeout=timeouts["read_timeout"] or 300.0,
            max_concurrency=concurrency,
            endpoint_urls=endpoints,
            list_models=settings.get_bool("list_models", default=True),
            model_filters=filters,
            models=_models(settings.get("models", default=()), name),
            agent_alias_id=_alias(settings.get_str("agent_alias_id"), name),
            ingestion_timeout=timeouts["ingestion_timeout"] or 3600.0,
            ingestion_poll_interval=timeouts["ingestion_poll_interval"] or 5.0,
        )


def _positive(value: float | None, what: str) -> float | None:
    if value is not None and value <= 0:
        raise ConfigurationError(f"{what} must be a positive number of seconds")
    return value


def _alias(value: str | None, name: str) -> str:
    if value is None:
        return "TSTALIASID"
    if not value.isalnum() or len(value) > 10:
        raise ConfigurationError(f"{name} agent_alias_id must be an agent alias id (up to 10 letters and digits)")
    return value


def _models(value: Any, name: str) -> tuple[ModelEntry, ...]:
    """``models = ["id", ...]`` or ``[providers.bedrock.models."id"]`` tables with
    ``display_name`` and ``like``."""
    if isinstance(value, str):
        value = [value]
    if isinstance(value, Mapping):
        entries = []
        for model_id, table in value.items():
            if not isinstance(table, Mapping) or set(table) - {"display_name", "like"}:
                raise ConfigurationError(f'{name} models."{model_id}" may hold only display_name and like')
            entries.append(
                ModelEntry(model_id=model_id, display_name=table.get("display_name"), like=table.get("like"))
            )
        return tuple(entries)
    if isinstance(value, list | tuple) and all(isinstance(v, str) and v for v in value):
        return tuple(ModelEntry(model_id=v) for v in value)
    raise ConfigurationError(f"{name} models must be a list of model ids or a table of model tables")
