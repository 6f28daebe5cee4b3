"""The plugin's settings: ``[providers.mxcloud]`` in the configuration file, environment winning,
as a typed class the host checks (an unknown key or a wrong type is refused naming the file and key).

=====================  ===============================  ===============================================
setting                environment                      meaning
=====================  ===============================  ===============================================
``key_store``          ``GENAI_MXCLOUD_KEY_STORE``      file that keeps imported keys (under the home
                                                        directory unless absolute); by default
                                                        ``mxcloud-keys.json`` there; ``""``: none kept
``key_files``          ``GENAI_MXCLOUD_KEY_FILE``       file(s) holding one key each (base64 text)
``keys``                                                key(s) themselves: a list, or one key
(none)                 ``GENAI_MXCLOUD_KEY``            key(s) themselves, comma- or space-separated
                                                        (read as well as ``keys``)
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
from typing import Any

from attrs import Attribute, field, frozen

from genai_commons.typed_settings import at_least, positive, setting

__all__ = ["DEFAULT_KEY_STORE", "MxCloudSettings"]

_MAX_RESPONSE = 128 * 1024 * 1024
#: The key store's file under the genai home when ``key_store`` is not set.
DEFAULT_KEY_STORE = "mxcloud-keys.json"


def _files(value: tuple[str, ...] | str) -> tuple[str, ...]:
    """A list of paths, or one string of comma-separated paths."""
    parts = value.split(",") if isinstance(value, str) else value
    return tuple(part.strip() for part in parts if part.strip())


def _keys(value: Any) -> tuple[str, ...]:
    """A list of keys, or one key; checked without quoting what was given (it may be a key)."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(key, str) for key in value):
        raise ValueError(
            "keys must be a list of connection keys (strings) or one key; not shown here: keys are secrets"
        )
    return tuple(value)


def _quota(_instance: object, _attribute: Attribute[Any], value: Mapping[str, Any]) -> None:
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value.values()):
        raise ValueError(
            "monthly_tokens maps key names to whole numbers of tokens, "
            'e.g. my-claude = 5000000 or "my-kb/embeddings" = 1000000'
        )


def _share(_instance: object, _attribute: Attribute[Any], value: float) -> None:
    if not 0 < value <= 1:
        raise ValueError(f"quota_warning is a share between 0 and 1, got {value}")


def _under(home: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else home / path


@frozen(kw_only=True)
class MxCloudSettings:
    """The plugin's settings, checked by the host as a typed class
    (:mod:`genai_commons.typed_settings`); see the module docstring."""

    #: The key store's file (under the home unless absolute); ``""``: none kept.
    key_store: str = setting(default=DEFAULT_KEY_STORE, env="GENAI_MXCLOUD_KEY_STORE")
    key_files: tuple[str, ...] = setting(default=(), env="GENAI_MXCLOUD_KEY_FILE", converter=_files)
    #: Connection keys written in the file (``GENAI_MXCLOUD_KEY`` is read with the others by the catalog).
    keys: tuple[str, ...] = setting(default=(), converter=_keys, repr=False)
    timeout: float = setting(default=300.0, validator=positive())
    connect_timeout: float = setting(default=10.0, validator=positive())
    max_response_bytes: int = setting(default=_MAX_RESPONSE, validator=at_least(1))
    concurrency: int = setting(default=8, validator=at_least(1))
    filter_overfetch: int = setting(default=10, validator=at_least(1))
    monthly_tokens: Mapping[str, int] = field(factory=dict, validator=_quota)
    quota_warning: float = setting(default=0.8, validator=_share)
    quota_hard_stop: bool = False

    def key_store_path(self, home: Path) -> Path | None:
        """The key store's file, relative paths under ``home``; None when turned off."""
        return _under(home, self.key_store) if self.key_store else None

    def key_file_paths(self, home: Path) -> tuple[Path, ...]:
        """The files of ``key_files``, relative paths under ``home``."""
        return tuple(_under(home, name) for name in self.key_files)
