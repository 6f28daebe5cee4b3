"""The plugin-author kit: fake providers, a conformance suite, pytest fixtures and a loopback
HTTP server for fake services (:mod:`genai_commons.testing.http`).

Nothing here is imported by :mod:`genai_commons` itself; import it from tests::

    from genai_commons.testing import FakeProvider, UsageRecorder
    from genai_commons.testing.conformance import ProviderConformance

The pytest fixtures (``genai_home``, ``usage_recorder``, ``fake_provider``, ``make_host``) load
automatically through the ``pytest11`` entry point of the ``genai-commons`` distribution.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .failures import FAILURE_KINDS, make_failure
    from .fakes import (
        FakeAsyncProvider,
        FakeChatProvider,
        FakeProvider,
        RecordedCall,
        StreamFailure,
        UsageRecorder,
        default_models,
        make_fake_provider_class,
        tool_call,
    )
    from .http import HTTPAnswer, HTTPRequest, LoopbackServer, sse_event

__all__ = [
    "FAILURE_KINDS",
    "FakeAsyncProvider",
    "FakeChatProvider",
    "FakeProvider",
    "HTTPAnswer",
    "HTTPRequest",
    "LoopbackServer",
    "RecordedCall",
    "StreamFailure",
    "UsageRecorder",
    "default_models",
    "make_failure",
    "make_fake_provider_class",
    "sse_event",
    "tool_call",
]

_WHERE = {
    "FAILURE_KINDS": "failures",
    "make_failure": "failures",
    "HTTPAnswer": "http",
    "HTTPRequest": "http",
    "LoopbackServer": "http",
    "sse_event": "http",
}


def __getattr__(name: str) -> Any:
    """Load the kit's modules on first use, so that the pytest plugin stays cheap to import."""
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib  # noqa: PLC0415

    module = importlib.import_module(f"{__name__}.{_WHERE.get(name, 'fakes')}")
    return getattr(module, name)
