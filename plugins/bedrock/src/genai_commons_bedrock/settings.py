"""The plugin's settings: ``[providers.bedrock]`` in the configuration file, as a typed class the
host checks before ``configure`` (an unknown key or a wrong type is refused naming the file and key).

Nothing here needs credentials or the network: credentials are resolved by boto3 on the first call.

Precedence, for each value: the project's rule (an environment variable named here wins over the
file), then the file, then boto3's own chain (``AWS_REGION``, ``AWS_PROFILE``, ``~/.aws/config``,
SSO, container and instance roles, and ``AWS_ENDPOINT_URL_<SERVICE>``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from attrs import frozen

from genai_commons import Secret
from genai_commons.typed_settings import at_least, http_url, one_of, positive, setting, within

if TYPE_CHECKING:
    from genai_commons import ProviderSettings

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


def _text(value: str | None) -> str | None:
    """None for an empty string: the key is as good as not set."""
    return value or None


def _upper(value: str | None) -> str | None:
    return value.upper() if value else None


def _session_name(value: str) -> str:
    return value or "genai-commons"


def _alias(_instance: Any, attribute: Any, value: str) -> None:
    if not value.isalnum() or len(value) > 10:
        raise ValueError(f"{attribute.name} must be an agent alias id (up to 10 letters and digits), got {value!r}")


def _models(value: Any) -> tuple[ModelEntry, ...]:
    """``models = ["id", ...]`` or ``[providers.bedrock.models."id"]`` tables with
    ``display_name`` and ``like``."""
    if isinstance(value, str):
        value = [value]
    if isinstance(value, Mapping):
        entries = []
        for model_id, table in value.items():
            if not isinstance(table, Mapping) or set(table) - {"display_name", "like"}:
                raise ValueError(f'models."{model_id}" may hold only display_name and like')
            entries.append(
                ModelEntry(model_id=model_id, display_name=table.get("display_name"), like=table.get("like"))
            )
        return tuple(entries)
    if isinstance(value, list | tuple) and all(isinstance(v, ModelEntry) for v in value):
        return tuple(value)
    if isinstance(value, list | tuple) and all(isinstance(v, str) and v for v in value):
        return tuple(ModelEntry(model_id=v) for v in value)
    raise ValueError("models must be a list of model ids or a table of model tables")


@frozen(kw_only=True)
class BedrockSettings:
    """Everything ``[providers.bedrock]`` can hold, checked by the host as a typed class
    (:mod:`genai_commons.typed_settings`); see ``docs/bedrock.md``."""

    # AWS_REGION is the standard variable of the AWS SDKs, but botocore reads only
    # AWS_DEFAULT_REGION (and the profile's region) on its own; the file's region wins over it.
    region: str | None = setting(default=None, fallback_env="AWS_REGION", converter=_text)
    profile: str | None = setting(default=None, converter=_text)
    role_arn: str | None = setting(default=None, converter=_text)
    role_session_name: str = setting(default="genai-commons", converter=_session_name)
    external_id: Secret | None = setting(default=None, repr=False)
    role_duration_seconds: int | None = setting(default=None, validator=at_least(900))
    access_key_id: Secret | None = setting(default=None, repr=False)
    secret_access_key: Secret | None = setting(default=None, repr=False)
    session_token: Secret | None = setting(default=None, repr=False)
    connect_timeout: float = setting(default=10.0, validator=positive())
    read_timeout: float = setting(default=300.0, validator=positive())
    #: Calls one embedding request may run at once (Titan takes one text a call).
    max_concurrency: int = setting(default=16, validator=within(1, 256))
    #: Endpoint URLs of the four services (see :data:`ENDPOINT_SETTINGS`); the standard variables win.
    runtime_endpoint_url: str | None = setting(
        default=None, env="AWS_ENDPOINT_URL_BEDROCK_RUNTIME", converter=_text, validator=http_url
    )
    endpoint_url: str | None = setting(
        default=None, env="AWS_ENDPOINT_URL_BEDROCK", converter=_text, validator=http_url
    )
    agent_runtime_endpoint_url: str | None = setting(
        default=None, env="AWS_ENDPOINT_URL_BEDROCK_AGENT_RUNTIME", converter=_text, validator=http_url
    )
    agent_endpoint_url: str | None = setting(
        default=None, env="AWS_ENDPOINT_URL_BEDROCK_AGENT", converter=_text, validator=http_url
    )
    #: Whether ``genai models`` asks ListFoundationModels (else: the configured or built-in list).
    list_models: bool = True
    #: ListFoundationModels filters (see :data:`MODEL_FILTERS`).
    by_provider: str | None = setting(default=None, converter=_text)
    by_customization_type: str | None = setting(
        default=None, converter=_upper, validator=one_of(MODEL_FILTERS["by_customization_type"][1] or ())
    )
    by_output_modality: str | None = setting(
        default=None, converter=_upper, validator=one_of(MODEL_FILTERS["by_output_modality"][1] or ())
    )
    by_inference_type: str | None = setting(
        default=None, converter=_upper, validator=one_of(MODEL_FILTERS["by_inference_type"][1] or ())
    )
    models: tuple[ModelEntry, ...] = setting(default=(), converter=_models)
    #: The agent alias invoked when an agent reference names none (the working draft's test alias).
    agent_alias_id: str = setting(default="TSTALIASID", validator=_alias)
    #: How long a sync waits for its ingestion jobs, and how often it asks how they stand (seconds).
    ingestion_timeout: float = setting(default=3600.0, validator=positive())
    ingestion_poll_interval: float = setting(default=5.0, validator=positive())

    def __attrs_post_init__(self) -> None:
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise ValueError("needs both access_key_id and secret_access_key, or neither")

    @property
    def endpoint_urls(self) -> Mapping[str, str]:
        """Service name -> endpoint URL, for the services given one in the file or the environment."""
        urls = {service: getattr(self, key) for service, (key, _env) in ENDPOINT_SETTINGS.items()}
        return {service: url for service, url in urls.items() if url}

    @property
    def model_filters(self) -> Mapping[str, str]:
        """ListFoundationModels parameters (``byProvider`` …) from the ``by_*`` settings."""
        values = {parameter: getattr(self, key) for key, (parameter, _allowed) in MODEL_FILTERS.items()}
        return {parameter: value for parameter, value in values.items() if value}

    @classmethod
    def from_provider_settings(cls, settings: ProviderSettings) -> BedrockSettings:
        """The table checked and typed (what the host does before ``configure``)."""
        return settings.typed(cls)
