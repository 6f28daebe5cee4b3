"""Issue 12, defect 4: deeply nested JSON. An answer of 200 KB nested 100,000 levels deep — or one
nested just deep enough to parse and then break whatever walks it — is an error of the core
hierarchy, never a ``RecursionError``: the class each plugin uses for an answer that is not JSON
(OpenAI ``ProviderError``, Mendix Cloud ``ServiceUnavailableError``, OpenSearch ``ProviderError``),
sync, async and streamed, in error answers too; and ``genai chat`` prints it as one line."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from badinput_cli import assert_error, clean_env, invoke
from faults_servers import FaultProxy, Reply
from faults_support import ATTEMPTS, FAST, MODES, chat, http_host, persistent_failure, stream
from hardening_bombs import DEEP, deep
from osmem_server import OsmemClone

from genai_commons import (
    BadRequestError,
    ChunkCollection,
    Config,
    Host,
    KnowledgeBaseChunk,
    ProviderError,
    RetrievalQuery,
    ServiceUnavailableError,
    ToolCall,
    ValidationError,
)
from genai_commons.config import KnowledgeSettings
from genai_commons.jsonparse import MAX_DEPTH, JSONTooDeep, check_depth, loads
from genai_commons.testing import FakeProvider, UsageRecorder
from genai_commons_opensearch import OpenSearchProvider

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "opensearch"))

from opensearch_standin import OpenSearchStandIn

pytestmark = pytest.mark.timeout(60)

KEY = "sk-test"
OPENAI = "openai:gpt-4o-mini"
MXCLOUD = "mxcloud:claude"
#: Deep enough for the interpreter's parser to give up (100,000 levels), and deep enough to parse
#: (900 levels; orjson takes up to 1024) but not to be walked by ``json.dumps`` or ``repr`` after.
DEPTHS = {"100000 levels": DEEP, "900 levels": deep(900)}
SSE = {"content-type": "text/event-stream"}


def sse(*data: bytes) -> Reply:
    return Reply(200, b"".join(b"data: " + d + b"\n\n" for d in data), SSE, chunked=True)


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
def make_host(proxy: FaultProxy, recorder: UsageRecorder, tmp_path: Path) -> Iterator[Callable[[str], Host]]:
    hosts: list[Host] = []

    def make(provider: str) -> Host:
        host = http_host(provider, proxy.url, tmp_path, recorder)
        hosts.append(host)
        return host

    yield make
    for host in hosts:
        host.close()


# -- the core's parser ---------------------------------------------------------------------------


def test_loads_refuses_json_nested_past_the_limit_as_a_decode_error() -> None:
    assert loads(deep(MAX_DEPTH)) == json.loads(deep(MAX_DEPTH))
    for text in (deep(MAX_DEPTH + 1), DEEP, DEEP.decode(), b'{"a": ' * 5000 + b"1" + b"}" * 5000):
        with pytest.raises(JSONTooDeep, match=f"nested more than {MAX_DEPTH} levels") as caught:
            loads(text)
        assert isinstance(caught.value, json.JSONDecodeError | ValueError)


def test_levels_are_lists_and_objects_not_brackets_in_strings() -> None:
    text = json.dumps({"text": "[" * 5000 + '\\"{' * 100, "list": [["ok"]] * 400, "vector": [0.5] * 3072})
    value = loads(text)
    assert value["list"][0] == ["ok"]
    check_depth(value, limit=3)
    with pytest.raises(JSONTooDeep, match="more than 2 levels"):
        check_depth(value, limit=2)


def test_a_models_deeply_nested_tool_arguments_are_a_validation_error() -> None:
    call = ToolCall(id="call_1", name="lookup", arguments='{"q": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(ValidationError, match="not valid JSON: the JSON is nested more than"):
        call.parsed_arguments()


# -- OpenAI --------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("depth", list(DEPTHS))
def test_a_deeply_nested_openai_answer_is_not_the_apis_json(
    depth: str, mode: str, make_host: Callable[[str], Host], proxy: FaultProxy, recorder: UsageRecorder
) -> None:
    host = make_host("openai")
    fault = Reply(200, DEPTHS[depth])
    error = persistent_failure(
        proxy, recorder, lambda: chat(host, mode, OPENAI, "hi"), fault, ProviderError, attempts=1
    )
    assert "not the OpenAI API's JSON" in str(error) and not error.retryable


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "fault",
    [
        sse(DEEP),
        sse(b'{"error": ' + deep(900) + b"}"),
        Reply(200, b'{"choices": ' + deep(900) + b"}"),  # not an event stream: read as a whole answer
        Reply(200, DEEP),
    ],
    ids=["event", "error event", "plain answer to a stream", "plain deep answer"],
)
def test_a_deeply_nested_openai_stream_event_is_not_the_apis_json(
    fault: Reply, mode: str, make_host: Callable[[str], Host], proxy: FaultProxy, recorder: UsageRecorder
) -> None:
    host = make_host("openai")
    call = lambda: stream(host, mode, OPENAI, "hi")  # noqa: E731
    error = persistent_failure(proxy, recorder, call, fault, ProviderError, attempts=1)
    assert "not the OpenAI API's JSON" in str(error)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("status", "cls"), [(400, BadRequestError), (503, ServiceUnavailableError)])
def test_a_deeply_nested_openai_error_answer_keeps_its_status_class(
    status: int,
    cls: type[ProviderError],
    mode: str,
    make_host: Callable[[str], Host],
    proxy: FaultProxy,
    recorder: UsageRecorder,
) -> None:
    host = make_host("openai")
    body = b'{"error": {"message": ' + deep(900, b'"deep"') + b"}}"
    attempts = 1 if status == 400 else ATTEMPTS
    for fault in (Reply(status, DEEP), Reply(status, body)):
        persistent_failure(proxy, recorder, lambda: chat(host, mode, OPENAI, "hi"), fault, cls, attempts=attempts)


def test_the_cli_prints_one_line_for_a_deeply_nested_answer(proxy: FaultProxy, tmp_path: Path) -> None:
    env = clean_env(tmp_path, OPENAI_API_KEY=KEY, OPENAI_BASE_URL=f"{proxy.url}/v1")
    for args in (["chat", OPENAI, "hi"], ["chat", "--stream", OPENAI, "hi"]):
        proxy.script(Reply(200, DEEP))
        assert_error(invoke(args, env=env), 1, "not the OpenAI API's JSON")
        assert proxy.pending == 0


# -- Mendix Cloud --------------------------------------------------------------------------------

#: A Converse answer whose tool input is nested 1000 levels: orjson parses it, ``json.dumps`` cannot.
DEEP_TOOL_INPUT = (
    b'{"output": {"message": {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "f", '
    b'"input": {"q": '
    + deep(1000)
    + b'}}}]}}, "stopReason": "tool_use", "usage": {"inputTokens": 1, "outputTokens": 1}}'
)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "fault",
    [
        Reply(200, DEEP),
        Reply(200, DEEP_TOOL_INPUT),
        Reply(500, b'{"message": ' + deep(900) + b"}"),
        Reply(500, DEEP),
    ],
    ids=["answer", "tool input", "error answer", "very deep error answer"],
)
def test_a_deeply_nested_mxcloud_answer_is_service_unavailable(
    fault: Reply, mode: str, make_host: Callable[[str], Host], proxy: FaultProxy, recorder: UsageRecorder
) -> None:
    host = make_host("mxcloud")
    persistent_failure(proxy, recorder, lambda: chat(host, mode, MXCLOUD, "hi"), fault, ServiceUnavailableError)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("depth", list(DEPTHS))
def test_a_deeply_nested_mxcloud_stream_event_is_service_unavailable(
    depth: str, mode: str, make_host: Callable[[str], Host], proxy: FaultProxy, recorder: UsageRecorder
) -> None:
    host = make_host("mxcloud")
    fault = Reply(200, b"event: CONTENT_BLOCK_DELTA\ndata: " + DEPTHS[depth] + b"\n\n", SSE, chunked=True)
    error = persistent_failure(
        proxy, recorder, lambda: stream(host, mode, MXCLOUD, "hi"), fault, ServiceUnavailableError
    )
    assert "not JSON" in str(error)


# -- OpenSearch ----------------------------------------------------------------------------------

KB = "opensearch:docs"
SEARCH = "/_search"


@pytest.fixture
def cluster(osmem_clone: OsmemClone) -> Iterator[FaultProxy]:
    """A proxy in front of the OpenSearch stand-in (osmem-server, k-NN answered by the stand-in)."""
    with OpenSearchStandIn(osmem_clone.url) as standin, FaultProxy(standin.url) as running:
        yield running
    assert running.problems == []


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("status", [200, 500])
def test_a_deeply_nested_opensearch_answer_is_not_json(
    status: int, mode: str, cluster: FaultProxy, recorder: UsageRecorder, tmp_path: Path
) -> None:
    table = {"url": cluster.url, "timeout": 10}
    knowledge = KnowledgeSettings(default_embedding_model="fake:embed")
    config = Config.defaults(tmp_path, retry=FAST, knowledge=knowledge, providers={"opensearch": table})
    host = Host(config, load_entry_points=False, plugins=[OpenSearchProvider, FakeProvider(), recorder])
    chunk = KnowledgeBaseChunk(chunk_id="a", input_text="text of a", vector=[1.0, 0.0, 0.0, 0.0])
    query = RetrievalQuery(vector=[1.0, 0.0, 0.0, 0.0], k=1)
    try:
        host.ingest(KB, ChunkCollection(chunks=(chunk,)))

        def retrieve() -> Any:
            return host.retrieve(KB, query) if mode == "sync" else asyncio.run(host.aretrieve(KB, query))

        fault = Reply(status, DEEP)
        error = persistent_failure(cluster, recorder, retrieve, fault, ProviderError, path=SEARCH, attempts=1)
    finally:
        host.close()
    assert "nested too deeply" in str(error) and "url in [providers.opensearch]" in str(error)
