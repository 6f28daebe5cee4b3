"""Issue 12, defect 2: size caps count decoded bytes. A small compressed answer (``Content-Encoding``
gzip, deflate, br, zstd) that inflates to 32 MiB must fail at ``max_response_bytes`` (OpenAI chats
and streams, Mendix Cloud chats and streams) or ``fetch_max_bytes`` (the host's file downloads),
sync and async, saying that the decoded answer went past the limit — and without being inflated:
the call's memory peak stays far below what the bomb inflates to. A compressed answer under the
cap still decodes as before."""

from __future__ import annotations

import asyncio
import json
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from faults_servers import FaultProxy, Reply
from faults_support import MODES, chat, http_host, one_usage_record, persistent_failure, stream
from hardening_bombs import CODINGS, INFLATED, bomb, bounded, compress, peak_of

from genai_commons import (
    Config,
    DeployedModel,
    FileCollection,
    FileContent,
    FileFetchError,
    Host,
    Modality,
    ProviderError,
    Request,
)
from genai_commons.answer_limit import AnswerTooLarge, cap
from genai_commons.config import FileSettings
from genai_commons.testing import FakeProvider, UsageRecorder

pytestmark = pytest.mark.timeout(60)

LIMIT = 256 * 1024
KEY = "sk-test"

#: A chat completion whose text is the bomb's filler.
COMPLETION = (
    b'{"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini", "choices": '
    b'[{"index": 0, "message": {"role": "assistant", "content": "',
    b'"}, "finish_reason": "stop"}], "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}',
)
#: A completion stream with one enormous text chunk.
CHUNKS = (
    b'data: {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini", "choices": '
    b'[{"index": 0, "delta": {"content": "',
    b'"}, "finish_reason": "stop"}]}\n\ndata: [DONE]\n\n',
)
#: A Converse answer (Mendix Cloud) and a Converse stream, the same way.
CONVERSE = (
    b'{"output": {"message": {"role": "assistant", "content": [{"text": "',
    b'"}]}}, "stopReason": "end_turn", "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2}}',
)
CONVERSE_EVENTS = (
    b'event: CONTENT_BLOCK_DELTA\ndata: {"contentBlockIndex": 0, "delta": {"text": "',
    b'"}}\n\n',
)


def compressed(coding: str, parts: tuple[bytes, bytes], kind: str = "application/json") -> Reply:
    """An answer whose body is a bomb in ``coding``, sent as it is."""
    return Reply(200, bomb(coding, *parts), {"content-type": kind, "content-encoding": coding})


def too_large(error: BaseException, coding: str, setting: str) -> None:
    text = str(error)
    assert "too large" in text and f"decoded from {coding} goes past the limit of {LIMIT} bytes" in text, text
    assert setting in text, text
    assert isinstance(error.__cause__, AnswerTooLarge) and error.__cause__.decoded == coding


@pytest.fixture
def proxy() -> Iterator[FaultProxy]:
    """Answers only what a test scripts."""
    with FaultProxy() as running:
        yield running
    assert running.problems == []


@pytest.fixture
def recorder() -> UsageRecorder:
    return UsageRecorder()


@pytest.fixture
def make_host(proxy: FaultProxy, recorder: UsageRecorder, tmp_path: Path) -> Iterator[Callable[..., Host]]:
    """``make_host(provider)``: a host whose ``openai`` or ``mxcloud`` provider talks to the proxy
    with answers capped at :data:`LIMIT` bytes."""
    hosts: list[Host] = []

    def make(provider: str) -> Host:
        host = http_host(provider, proxy.url, tmp_path, recorder, max_response_bytes=LIMIT)
        hosts.append(host)
        return host

    yield make
    for host in hosts:
        host.close()


# -- OpenAI --------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("coding", CODINGS)
def test_a_compressed_openai_answer_is_capped_decoded_without_inflating_it(
    coding: str, mode: str, make_host: Callable[..., Host], proxy: FaultProxy, recorder: UsageRecorder
) -> None:
    host = make_host("openai")
    fault = compressed(coding, COMPLETION)
    assert len(fault.body) < LIMIT < INFLATED
    peaks: list[int] = []
    call = peak_of(lambda: chat(host, mode, "openai:gpt-4o-mini", "hello"), peaks)
    error = persistent_failure(proxy, recorder, call, fault, ProviderError, attempts=1)
    too_large(error, coding, "raise max_response_bytes")
    bounded(peaks)


@pytest.mark.parametrize("mode", MODES)
def test_a_compressed_openai_stream_is_capped_decoded(
    mode: str, make_host: Callable[..., Host], proxy: FaultProxy, recorder: UsageRecorder
) -> None:
    host = make_host("openai")
    peaks: list[int] = []
    call = peak_of(lambda: stream(host, mode, "openai:gpt-4o-mini", "hello"), peaks)
    fault = compressed("gzip", CHUNKS, "text/event-stream")
    error = persistent_failure(proxy, recorder, call, fault, ProviderError, attempts=1)
    too_large(error, "gzip", "raise max_response_bytes")
    bounded(peaks)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("coding", CODINGS)
def test_a_compressed_answer_under_the_cap_decodes_as_before(
    coding: str, mode: str, make_host: Callable[..., Host], proxy: FaultProxy, recorder: UsageRecorder
) -> None:
    host = make_host("openai")
    body = COMPLETION[0] + b"small and squeezed " * 100 + COMPLETION[1]
    proxy.script(Reply(200, compress(body, coding), {"content-type": "application/json", "content-encoding": coding}))
    with one_usage_record(recorder):
        assert chat(host, mode, "openai:gpt-4o-mini", "hello").text == "small and squeezed " * 100


# -- Mendix Cloud --------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_a_compressed_mxcloud_answer_is_capped_decoded(
    coding: str, mode: str, make_host: Callable[..., Host], proxy: FaultProxy, recorder: UsageRecorder
) -> None:
    host = make_host("mxcloud")
    peaks: list[int] = []
    call = peak_of(lambda: chat(host, mode, "mxcloud:claude", "hello"), peaks)
    error = persistent_failure(proxy, recorder, call, compressed(coding, CONVERSE), ProviderError, attempts=1)
    too_large(error, coding, "max_response_bytes")
    bounded(peaks)


@pytest.mark.parametrize("mode", MODES)
def test_a_compressed_mxcloud_stream_is_capped_decoded(
    mode: str, make_host: Callable[..., Host], proxy: FaultProxy, recorder: UsageRecorder
) -> None:
    host = make_host("mxcloud")
    peaks: list[int] = []
    call = peak_of(lambda: stream(host, mode, "mxcloud:claude", "hello"), peaks)
    fault = compressed("gzip", CONVERSE_EVENTS, "text/event-stream")
    error = persistent_failure(proxy, recorder, call, fault, ProviderError, attempts=1)
    too_large(error, "gzip", "max_response_bytes")
    bounded(peaks)


# -- file downloads ------------------------------------------------------------------------------

INLINE_ONLY = DeployedModel(
    provider="fake",
    model_id="inline",
    input_modalities={Modality.TEXT, Modality.DOCUMENT},
    url_input_modalities=(),
)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("coding", CODINGS)
def test_a_compressed_file_download_is_capped_decoded(
    coding: str, mode: str, proxy: FaultProxy, tmp_path: Path
) -> None:
    """A 32 KB gzip "PDF" inflating to 32 MiB is refused at ``fetch_max_bytes``, never inlined."""
    provider = FakeProvider(models=[INLINE_ONLY])
    files = FileSettings(fetch_urls=True, fetch_private_networks=True, fetch_max_bytes=LIMIT)
    host = Host(Config.defaults(tmp_path, files=files), load_entry_points=False, plugins=[provider])
    proxy.script(compressed(coding, (b"%PDF-1.4\n", b"\n%%EOF\n"), "application/pdf"))
    url = f"{proxy.url}/paper.pdf?sig=s3cr3t"
    request = Request.from_prompt("what is this?", files=FileCollection.of(FileContent.from_url(url, "document")))
    peaks: list[int] = []

    def call() -> Any:
        if mode == "sync":
            return host.chat("fake:inline", request)
        return asyncio.run(host.achat("fake:inline", request))

    try:
        with pytest.raises(FileFetchError) as caught:
            peak_of(call, peaks)()
    finally:
        host.close()
    text = str(caught.value)
    assert f"decoded from {coding}, is larger than [files] fetch_max_bytes ({LIMIT} bytes)" in text, text
    assert "s3cr3t" not in text and isinstance(caught.value.__cause__, AnswerTooLarge)
    assert provider.calls == []
    bounded(peaks)


# -- the cap itself ------------------------------------------------------------------------------


def _capped_get(body: bytes, coding: str, limit: int = LIMIT) -> httpx.Response:
    def answer(request: httpx.Request) -> httpx.Response:
        pieces = [body[i : i + 1000] for i in range(0, len(body), 1000)]  # a streamed body, as from a socket
        return httpx.Response(200, headers={"content-encoding": coding}, content=iter(pieces))

    hooks = {"response": [lambda response: cap(response, limit)]}
    with httpx.Client(transport=httpx.MockTransport(answer), event_hooks=hooks) as client:
        return client.get("http://answers.test/")


def test_layered_and_unknown_codings_decode_as_httpx_decodes_them() -> None:
    text = json.dumps({"words": ["layered"] * 1000}).encode()
    twice = compress(compress(text, "deflate"), "gzip")
    for coding, body in [("deflate, gzip", twice), ("gzip, x-unknown", compress(text, "gzip")), ("x-unknown", text)]:
        response = _capped_get(body, coding)
        assert response.content == text, coding
        assert response.headers.get("content-encoding") == (coding if coding == "x-unknown" else None)
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)  # deflate without its zlib wrapper,
    raw = packer.compress(text) + packer.flush()  # which httpx takes too
    assert _capped_get(raw, "deflate").content == text


def test_a_damaged_compressed_answer_is_a_decoding_error() -> None:
    with pytest.raises(httpx.DecodingError):
        _capped_get(b"\x1f\x8b\x08\x00 not gzip at all", "gzip")


def test_each_layer_of_a_layered_bomb_counts() -> None:
    with pytest.raises(AnswerTooLarge, match="decoded from gzip, gzip goes past"):
        _capped_get(compress(bomb("gzip"), "gzip"), "gzip, gzip", limit=LIMIT)
