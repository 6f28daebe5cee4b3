"""Issue 12, defect 7: a stream is complete only with its closing events, and its bytes are UTF-8.

Through the real HTTP stack (a loopback fault proxy answering as the service would, with bodies
that end cleanly), sync and async, for every streaming provider on httpx:

* (a) OpenAI (and so Azure): a stream that ends after its finish reason without the usage chunk
  and ``data: [DONE]`` — or with the usage chunk and without ``[DONE]``, or with ``[DONE]`` and
  without the usage chunk it asked for — is incomplete: :class:`ServiceUnavailableError`, and no
  usage record. Mendix Cloud GenAI: one that ends after ``MESSAGE_STOP`` without ``METADATA``.
* (b) invalid UTF-8 in a stream fails the call with the error class the same bytes in a plain
  answer give, never as text with U+FFFD in it.

Complete streams (and one without usage when ``stream_usage = false``) succeed with one record.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from faults_servers import FaultProxy, Reply
from faults_support import http_host

from genai_commons import (
    ChatStreamEvent,
    Host,
    ProviderError,
    Response,
    RetryPolicy,
    ServiceUnavailableError,
    TextDelta,
)
from genai_commons.testing import UsageRecorder

pytestmark = pytest.mark.timeout(60)

MODES = ("sync", "async")
SSE = {"content-type": "text/event-stream"}
JSON = {"content-type": "application/json"}
OPENAI, MXCLOUD = "openai:gpt-4o-mini", "mxcloud:claude"


def chunk(choices: list[Any], **extra: Any) -> bytes:
    body = {"id": "c1", "object": "chat.completion.chunk", "model": "gpt-4o-mini", "choices": choices, **extra}
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def text_chunk(raw: bytes) -> bytes:
    """A chunk whose text is ``raw``, bytes as they are (invalid UTF-8 included)."""
    return b'data: {"choices": [{"index": 0, "delta": {"content": "' + raw + b'"}, "finish_reason": null}]}\n\n'


HELLO = text_chunk(b"Hello")
FINISH = chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}])
USAGE = chunk([], usage={"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4})
DONE = b"data: [DONE]\n\n"


def mx_event(name: str, body: dict[str, Any] | bytes) -> bytes:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return b"event: " + name.encode() + b"\ndata: " + data + b"\n\n"


def mx_text(raw: bytes) -> bytes:
    return mx_event("CONTENT_BLOCK_DELTA", b'{"contentBlockIndex": 0, "delta": {"text": "' + raw + b'"}}')


MX_START = mx_event("MESSAGE_START", {"role": "assistant"}) + mx_text(b"Hello")
MX_STOP = mx_event("CONTENT_BLOCK_STOP", {"contentBlockIndex": 0}) + mx_event(
    "MESSAGE_STOP", {"stopReason": "end_turn"}
)
MX_METADATA = mx_event("METADATA", {"usage": {"inputTokens": 3, "outputTokens": 1, "totalTokens": 4}})


def streamed(body: bytes) -> Reply:
    """An event stream that ends cleanly (its last chunk sent, the connection closed)."""
    return Reply(200, body, SSE, chunked=True)


@pytest.fixture(scope="module")
def proxy() -> Iterator[FaultProxy]:
    with FaultProxy() as running:
        yield running
    assert running.problems == []


@pytest.fixture
def recorder() -> UsageRecorder:
    return UsageRecorder()


@pytest.fixture
def make_host(proxy: FaultProxy, recorder: UsageRecorder, tmp_path: Path) -> Iterator[Callable[..., Host]]:
    """``make_host(provider, **settings)``: a host whose provider's service is the proxy."""
    hosts: list[Host] = []
    proxy.clear()

    def make(provider: str, **settings: Any) -> Host:
        if provider == "openai":
            settings = {"discover": False, **settings}
        host = http_host(provider, proxy.url, tmp_path, recorder, retry=RetryPolicy(max_attempts=1), **settings)
        hosts.append(host)
        return host

    yield make
    for host in hosts:
        host.close()
    assert proxy.pending == 0, "every scripted answer was played"


def stream(host: Host, mode: str, model: str) -> tuple[list[ChatStreamEvent], Response | None]:
    """The events of ``host.stream`` (or ``astream``) and the response; an error carries the events
    that came before it as ``events``."""
    received: list[ChatStreamEvent] = []
    try:
        if mode == "sync":
            chat_stream = host.stream(model, "hi")
            received.extend(chat_stream)
            return received, chat_stream.response

        async def consume() -> Response | None:
            async_stream = await host.astream(model, "hi")
            async for event in async_stream:
                received.append(event)
            return async_stream.response

        return received, asyncio.run(consume())
    except ProviderError as exc:
        exc.events = received  # type: ignore[attr-defined]
        raise


def chat(host: Host, mode: str, model: str) -> Response:
    return host.chat(model, "hi") if mode == "sync" else asyncio.run(host.achat(model, "hi"))


def incomplete(host: Host, mode: str, model: str, recorder: UsageRecorder) -> ServiceUnavailableError:
    """The stream fails as incomplete, after the text that came, with no usage record."""
    with pytest.raises(ServiceUnavailableError) as info:
        stream(host, mode, model)
    assert type(info.value) is ServiceUnavailableError and info.value.retryable
    assert info.value.events == [TextDelta(text="Hello")]  # type: ignore[attr-defined]
    assert recorder.records == [], "no usage is recorded for an incomplete stream"
    return info.value


# -- (a) a stream that ends without its closing events ---------------------------------------------

OPENAI_CUT = {
    "after its finish reason": HELLO + FINISH,
    "after its usage chunk, without [DONE]": HELLO + FINISH + USAGE,
    "with [DONE] but without the usage chunk it asked for": HELLO + FINISH + DONE,
    "before its finish reason": HELLO,
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", list(OPENAI_CUT))
def test_an_openai_stream_without_its_closing_events_is_incomplete(
    case: str, mode: str, make_host: Callable[..., Host], proxy: FaultProxy, recorder: UsageRecorder
) -> None:
    host = make_host("openai")
    proxy.script(streamed(OPENAI_CUT[case]))
    error = incomplete(host, mode, OPENAI, recorder)
    assert "ended before it finished" in str(error)
    if "usage chunk it asked for" in case:
        assert "stream_usage = false" in str(error), "the message says how to live with a server that never sends it"


@pytest.mark.parametrize("mode", MODES)
def test_a_complete_openai_stream_is_recorded_once_with_its_tokens(
    mode: str, make_host: Callable[..., Host], proxy: FaultProxy, recorder: UsageRecorder
) -> None:
    host = make_host("openai")
    proxy.script(streamed(HELLO + FINISH + USAGE + DONE))
    received, response = stream(host, mode, OPENAI)
    assert received[0] == TextDelta(text="Hello") and response is not None
    assert [(r.input_tokens, r.output_tokens) for r in recorder.records] == [(3, 1)]


@pytest.mark.parametrize("mode", MODES)
def test_without_stream_usage_done_alone_completes_the_stream(
    mode: str, make_host: Callable[..., Host], proxy: FaultProxy, recorder: UsageRecorder
) -> None:
    """``stream_usage = false``: usage is not asked for, so ``[DONE]`` alone closes the stream."""
    host = make_host("openai", stream_usage=False)
    proxy.script(streamed(HELLO + FINISH + DONE))
    _, response = stream(host, mode, OPENAI)
    assert response is not None and response.text == "Hello"
    assert len(recorder.records) == 1
    proxy.script(streamed(HELLO + FINISH))  # [DONE] is still needed
    incomplete(host, mode, OPENAI, UsageRecorder())


MX_CUT = {
    "after MESSAGE_STOP, without METADATA": MX_START + MX_STOP,
    "before MESSAGE_STOP": MX_START,
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", list(MX_CUT))
def test_a_mendix_cloud_stream_without_its_closing_events_is_incomplete(
    case: str, mode: str, make_host: Callable[..., Host], proxy: FaultProxy, recorder: UsageRecorder
) -> None:
    host = make_host("mxcloud")
    proxy.script(streamed(MX_CUT[case]))
    error = incomplete(host, mode, MXCLOUD, recorder)
    assert "incomplete" in str(error)


@pytest.mark.parametrize("mode", MODES)
def test_a_complete_mendix_cloud_stream_is_recorded_once_with_its_tokens(
    mode: str, make_host: Callable[..., Host], proxy: FaultProxy, recorder: UsageRecorder
) -> None:
    host = make_host("mxcloud")
    proxy.script(streamed(MX_START + MX_STOP + MX_METADATA))
    _, response = stream(host, mode, MXCLOUD)
    assert response is not None and response.text == "Hello"
    assert [(r.input_tokens, r.output_tokens) for r in recorder.records] == [(3, 1)]


# -- (b) invalid UTF-8 -----------------------------------------------------------------------------

#: Bytes that are not UTF-8: a Latin-1 "é", a lone continuation byte, a truncated sequence inside a
#: string, an overlong encoding, a surrogate.
INVALID = {"latin-1": b"caf\xe9", "continuation": b"a\x80b", "truncated": b"\xe2\x82 euro",
           "overlong": b"\xc0\xaf", "surrogate": b"\xed\xa0\x80"}  # fmt: skip


def plain_answer(provider: str, raw: bytes) -> Reply:
    """A plain (not streamed) answer whose text is ``raw``."""
    if provider == "openai":
        body = (b'{"id": "c1", "object": "chat.completion", "model": "gpt-4o-mini", "choices": [{"index": 0, '
                b'"message": {"role": "assistant", "content": "' + raw + b'"}, "finish_reason": "stop"}], '
                b'"usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}')  # fmt: skip
    else:
        body = (b'{"output": {"message": {"role": "assistant", "content": [{"text": "' + raw + b'"}]}}, '
                b'"stopReason": "end_turn", "usage": {"inputTokens": 3, "outputTokens": 1}}')  # fmt: skip
    return Reply(200, body, JSON)


def stream_answer(provider: str, raw: bytes) -> Reply:
    """A complete stream whose second text event is ``raw``."""
    if provider == "openai":
        return streamed(HELLO + text_chunk(raw) + FINISH + USAGE + DONE)
    return streamed(MX_START + mx_text(raw) + MX_STOP + MX_METADATA)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", list(INVALID))
@pytest.mark.parametrize("provider", ["openai", "mxcloud"])
def test_invalid_utf8_in_a_stream_fails_as_in_a_plain_answer(
    provider: str, kind: str, mode: str, make_host: Callable[..., Host], proxy: FaultProxy, recorder: UsageRecorder
) -> None:
    host = make_host(provider)
    model = OPENAI if provider == "openai" else MXCLOUD
    proxy.script(plain_answer(provider, INVALID[kind]))
    with pytest.raises(ProviderError) as plain:
        chat(host, mode, model)
    proxy.script(stream_answer(provider, INVALID[kind]))
    with pytest.raises(ProviderError) as streamed_error:
        stream(host, mode, model)
    assert type(streamed_error.value) is type(plain.value), "the same bytes, the same error"
    assert streamed_error.value.retryable == plain.value.retryable
    assert streamed_error.value.events == [TextDelta(text="Hello")]  # type: ignore[attr-defined]
    assert "UTF-8" in str(streamed_error.value)
    assert recorder.records == []


@pytest.mark.parametrize("provider", ["openai", "mxcloud"])
def test_valid_utf8_split_anywhere_streams_unchanged(
    provider: str, make_host: Callable[..., Host], proxy: FaultProxy, recorder: UsageRecorder
) -> None:
    """Multi-byte characters (and U+FFFD itself, sent as such) pass; here whole, and below split."""
    host = make_host(provider)
    text = "Grüße, 你好 😀 \ufffd"
    proxy.script(stream_answer(provider, text.encode()))
    _, response = stream(host, "sync", OPENAI if provider == "openai" else MXCLOUD)
    assert response is not None and response.text == "Hello" + text


def test_the_event_decoder_splits_nothing_it_should_not() -> None:
    """Every split of a stream into chunks gives the same events; invalid bytes fail wherever they fall."""
    from genai_commons.formats.sse import Event, EventDecoder, InvalidUTF8, events

    data = "\ufeffdata: Grüße 😀\r\n\r\n: comment\nevent: x\ndata: a\rdata: b\r\n\r\ndata: [DONE]\n\ndata: cut".encode()
    expected = [Event(data="Grüße 😀"), Event(event="x", data="a\nb"), Event(data="[DONE]")]
    for size in range(1, 12):
        assert list(events(data[i : i + size] for i in range(0, len(data), size))) == expected, size
    assert list(events([b"data: x\n\n\xe2\x82"])) == [Event(data="x")], "a character cut at the end is dropped"
    for raw in INVALID.values():
        decoder = EventDecoder()
        with pytest.raises(InvalidUTF8):
            for byte in b"data: " + raw + b"\n\n":
                decoder.feed(bytes([byte]))
            decoder.close()
        decoder = EventDecoder()  # in one chunk: the events before the damage come first
        assert decoder.feed(b"data: good\n\ndata: " + raw + b"\n\n") == [Event(data="good")]
        with pytest.raises(InvalidUTF8):
            decoder.close()
