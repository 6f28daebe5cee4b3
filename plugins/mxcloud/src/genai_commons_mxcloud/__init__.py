"""genai-commons-mxcloud: Mendix Cloud GenAI resource packs for genai-commons, over httpx.

The entry point ``mxcloud = "genai_commons_mxcloud:MxCloudProvider"`` names the provider class;
each host makes its own instance. Connection keys (:class:`ConnectionKey`) load on first access,
so that the host's start-up pays only for the provider class.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .plugin import MxCloudProvider

if TYPE_CHECKING:
    from .keys import ConnectionKey, KeyType, MalformedKeyError

__all__ = ["ConnectionKey", "KeyType", "MalformedKeyError", "MxCloudProvider"]

_LAZY = frozenset({"ConnectionKey", "KeyType", "MalformedKeyError"})


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(".keys", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
