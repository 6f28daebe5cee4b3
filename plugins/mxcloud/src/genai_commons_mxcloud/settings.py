"""The plugin's settings: ``[providers.mxcloud]`` in the configuration file, environment winning.

=====================  ===============================  ===============================================
setting                environment                      meaning
=====================  ===============================  ===============================================
``key_store``          ``GENAI_MXCLOUD_KEY_STORE``      file that keeps imported keys (under the home
                                                        directory unless absolute); by default
                                                        ``mxcloud-keys.json`` there; ``""``: none kept
``key_files``          ``GENAI_MXCLOUD_KEY_FILE``       file(s) holding one key each (base64 text)
(none)                 ``GENAI_MXCLOUD_KEY``            key(s) themselves, comma- or space-separated
``timeout``                                             seconds to wait for an answer (300)
``connect_timeout``                                     seconds to wait for a connection (10)
``max_response_bytes``                                  the most bytes one answer may have (128 MiB);
                                                        a longer one fails the call
``concurrency``                                         requests in flight for batched work (8)
``filter_overfetch``                                    for filters that are not exact-match pairs:
                                                        fetch this many times ``k``, then filter (10)
``monthly_tokens``                                      table: key name -> monthly token entitlement
``quota_warning``                                       share of an entitlement that warns (0.8)
``quota_hard_stop``                                     refuse calls once an entitlement is used up
=====================  ===============================  ===============================================
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from attrs import field, frozen

from genai_commons import ConfigurationError, ProviderSettings

__all__ = ["DEFAULT_KEY_STORE", "MxCloudSettings"]


def _positive(value: float, what: str) -> float:
    if value <= 0:
        raise ConfigurationError(f"[providers.mxcloud] {what} must be more than 0, got {value}")
    return value


_MAX_RESPONSE = 128 * 1024 * 1024
#: The key store's file under the genai home when ``key_store`` is not set.
DEFAULT_KEY_STORE = "mxcloud-keys.json"


def _whole(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"[providers.mxcloud] {what} must be a whole number of at least 1, got {value!r}")
    return value


@frozen(kw_only=True)
class MxCloudSettings:
    """The plugin's settings, checked; see the module docstring."""

    key_store: Path | None = None
    key_files: tuple[Path, ...] = ()
    timeout: float = 300.0
    connect_timeout: float = 10.0
    max_response_bytes: int = _MAX_RESPONSE
    concurrency: int = 8
    filter_overfetch: int = 10
    monthly_tokens: Mapping[str, int] = field(factory=dict)
    quota_warning: float = 0.8
    quota_hard_stop: bool = False

    @classmethod
    def read(cls, settings: ProviderSettings, home: Path) -> MxCloudSettings:
        def path(value: str) -> Path:
            candidate = Path(value).expanduser()
            return candidate if candidate.is_absolute() else home / candidate

        store = settings.get_str("key_store", env="GENAI_MXCLOUD_KEY_STORE", default=DEFAULT_KEY_STORE)
        files_value = settings.get("key_files", env="GENAI_MXCLOUD_KEY_FILE", default=())
        if isinstance(files_value, str):
            files_value = [part for part in files_value.split(",") if part.strip()]
        if not isinstance(files_value, list | tuple) or not all(isinstance(f, str) for f in files_value):
            raise ConfigurationError("[providers.mxcloud] key_files must be a list of file paths")
        quota = settings.get("monthly_tokens", default={})
        if not isinstance(quota, Mapping) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in quota.values()
        ):
            raise ConfigurationError(
                "[providers.mxcloud.monthly_tokens] maps key names to whole numbers of tokens, "
                'e.g. my-claude = 5000000 or "my-kb/embeddings" = 1000000'
            )
        warning = settings.get_float("quota_warning", default=0.8)
        assert warning is not None
        if not 0 < warning <= 1:
            raise ConfigurationError(f"[providers.mxcloud] quota_warning is a share between 0 and 1, got {warning}")
        return cls(
            key_store=path(store) if store else None,
            key_files=tuple(path(f.strip()) for f in files_value),
            timeout=_positive(settings.get_float("timeout", default=300.0) or 0, "timeout"),
            connect_timeout=_positive(settings.get_float("connect_timeout", default=10.0) or 0, "connect_timeout"),
            max_response_bytes=_whole(settings.get("max_response_bytes", default=_MAX_RESPONSE), "max_response_bytes"),
            concurrency=int(_positive(settings.get_float("concurrency", default=8) or 0, "concurrency")),
            filter_overfetch=int(
                _positive(settings.get_float("filter_overfetch", default=10) or 0, "filter_overfetch")
            ),
            monthly_tokens={str(k): int(v) for k, v in quota.items()},
            quota_warning=warning,
            quota_hard_stop=settings.get_bool("quota_hard_stop", default=False),
        )
