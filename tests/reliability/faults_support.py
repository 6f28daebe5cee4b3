"""What the fault suites share: the retry policy, calls made sync or async through a host, and the
two checks every fault meets — retried until the call succeeds with one usage record, or (when it
persists) the documented error with no usage record and no more attempts than the policy allows."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from faults_servers import Fault, FaultProxy

from genai_commons import ChatStreamEvent, Config, Host, ProviderError, Response, RetryPolicy, TextDelta
from genai_commons.testing import UsageRecorder

#: Tiny waits, so that retried calls cost milliseconds; a Retry-After up to 2 s is honoured.
FAST = RetryPolicy(max_attempts=3, initial_delay=0.001, max_delay=0.005, max_retry_after=2.0)
ATTEMPTS = FAST.max_attempts
MODES = ("sync", "async")
#: Seconds a client waits for an answer in the tests of slow servers (the others wait longer, so
#: that a loaded machine does not turn a slow answer into a fault).
SHORT_TIMEOUT = 0.4
#: How long a stalled server keeps a client waiting: well past :data:`SHORT_TIMEOUT`.
STALL = 3.0
#: Where a stream is cut: inside the event (SSE) or frame (event stream) that carries "said:",
#: the second text delta of every fake's echo.
MID_EVENT = b"said:"


def http_host(
    provider: str,
    url: str,
    home: Path,
    recorder: UsageRecorder,
    *,
    retry: RetryPolicy = FAST,
    key_name: str = "claude",
    **settings: Any,
) -> Host:
    """A host whose ``openai`` or ``mxcloud`` provider talks to the server at ``url`` (a proxy, or a
    misbehaving server), with ``settings`` added to the provider's table; the Mendix Cloud model is
    ``mxcloud:KEY_NAME``. Close it when done."""
    from genai_commons_mxcloud import MxCloudProvider
    from genai_commons_mxcloud.testing import make_key
    from genai_commons_openai import OpenAIProvider

    plugin: Any
    if provider == "openai":
        table: dict[str, Any] = {"base_url": f"{url}/v1", "api_key": "sk-test", **settings}
        plugin = OpenAIProvider
    else:
        table = {"keys": [make_key("TEXT_GENERATION", url, "tok-test", name=key_name)], **settings}
        plugin = MxCloudProvider
    config = Config(home=home, retry=retry, providers={provider: table}, environ={})
    return Host(config, load_entry_points=False, plugins=[plugin, recorder])


def mid_event(body: bytes) -> int:
    """A position two bytes into the event that carries :data:`MID_EVENT`."""
    return body.index(MID_EVENT) + 2


def chat(host: Host, mode: str, model: str, prompt: str) -> Response:
    """``host.chat``, or ``host.achat`` on a fresh event loop."""
    if mode == "sync":
        return host.chat(model, prompt)
    return asyncio.run(host.achat(model, prompt))


def stream(host: Host, mode: str, model: str, prompt: str) -> tuple[list[ChatStreamEvent], Response | None]:
    """Every event of ``host.stream`` (or ``astream``) and the assembled response. An error is raised
    with the events that came before it in its ``events`` attribute."""
    events: list[ChatStreamEvent] = []
    try:
        if mode == "sync":
            chat_stream = host.stream(model, prompt)
            events.extend(chat_stream)
            return events, chat_stream.response

        async def consume() -> Response | None:
            async_stream = await host.astream(model, prompt)
            async for event in async_stream:
                events.append(event)
            return async_stream.response

        return events, asyncio.run(consume())
    except ProviderError as exc:
        exc.events = events  # type: ignore[attr-defined]
        raise


def text_of(events: list[ChatStreamEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


@contextmanager
def one_usage_record(recorder: UsageRecorder, operation: str = "chat") -> Iterator[None]:
    """The block records exactly one usage record of ``operation``."""
    before = len(recorder.records)
    yield
    made = recorder.records[before:]
    assert [r.operation for r in made] == [operation], f"expected one {operation} usage record, got {made}"


def retried_until_success(
    proxy: FaultProxy,
    recorder: UsageRecorder,
    call: Callable[[], Any],
    faults: list[Fault | None],
    *,
    path: str | None = None,
    operation: str = "chat",
    requests: int | None = None,
) -> Any:
    """Play ``faults`` on the next requests (to ``path``; None lets one through), then let one through: the call is
    retried past them and succeeds, with one usage record; the result of ``call``. ``requests``:
    how many requests to ``path`` that takes (by default one per fault, and the one that worked)."""
    assert len(faults) < ATTEMPTS
    before = len(proxy.calls(path))
    proxy.script(*faults, path=path)
    with one_usage_record(recorder, operation):
        result = call()
    expected = len(faults) + 1 if requests is None else requests
    assert len(proxy.calls(path)) - before == expected, "one attempt per fault, then the one that worked"
    assert proxy.pending == 0
    return result


def persistent_failure(
    proxy: FaultProxy,
    recorder: UsageRecorder,
    call: Callable[[], Any],
    fault: Fault,
    error: type[ProviderError],
    *,
    path: str | None = None,
    attempts: int = ATTEMPTS,
) -> ProviderError:
    """Play ``fault`` on every attempt the policy allows: the call fails with ``error`` (exactly
    that class), after ``attempts`` attempts, with no usage record; the error raised."""
    before, records = len(proxy.calls(path)), len(recorder.records)
    proxy.script(*[fault] * attempts, path=path)
    with pytest.raises(ProviderError) as info:
        call()
    assert type(info.value) is error, f"{type(info.value).__name__}: {info.value}"
    kept = info.value.__cause__ is not None or info.value.body
    assert kept, "the provider's own error is kept as the cause (or, for an answer of the wrong shape, the body)"
    assert len(proxy.calls(path)) - before == attempts
    assert len(recorder.records) == records, "no usage is recorded for a failed call"
    assert proxy.pending == 0
    return info.value
