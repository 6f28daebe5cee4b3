"""Issue 12, the Bedrock plugin: botocore's parsing errors (defect 5), the call's deadline
(defect 6), stream completeness and invalid UTF-8 (defect 7), and ``genai models`` with AWS not
set up (first-time user).

Everything goes through botocore's real stack over loopback: a :class:`FaultProxy` answers with
event-stream frames damaged in every way botocore's decoder or parser refuses (or quietly
accepts), and a :class:`TrickleServer` sends an answer a byte at a time, or a stream's
keep-alives for ever.
"""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from faults_servers import FaultProxy, Reply
from faults_support import MODES, chat, persistent_failure, stream
from hardening_bedrock_wire import (
    DAMAGED_EVENTS,
    TrickleServer,
    closing,
    converse_answer,
    dripping_json,
    endless_frames,
    keep_alive,
    nested,
    opening,
    stream_reply,
    text,
)

import genai_commons
from genai_commons import (
    AgentRequest,
    Config,
    DeadlineExceededError,
    Host,
    RetryPolicy,
    ServiceUnavailableError,
    TextDelta,
)
from genai_commons.testing import UsageRecorder
from genai_commons_bedrock import BedrockProvider
from genai_commons_bedrock.testing.eventstream import event

pytestmark = pytest.mark.timeout(60)

REGION = "us-east-1"
CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"
MODEL = f"bedrock:{CLAUDE}"
TITAN = "bedrock:amazon.titan-embed-text-v2:0"
CONVERSE, STREAM, INVOKE, AGENTS = "/converse", "/converse-stream", "/invoke", "/agents/"
FAST = RetryPolicy(max_attempts=3, initial_delay=0.001, max_delay=0.005)
#: The deadline of the deadline tests, and how late a call may end after it on a loaded machine.
DEADLINE, SLACK = 1.0, 1.5

_LOADER: Any = None


def new_session() -> Any:
    """A boto3 session with fake keys, sharing one botocore data loader across tests."""
    import boto3
    import botocore.loaders
    import botocore.session

    global _LOADER  # noqa: PLW0603
    if _LOADER is None:
        _LOADER = botocore.loaders.create_loader()
    core = botocore.session.Session()
    core.register_component("data_loader", _LOADER)
    keys = {"aws_access_key_id": "AKIDHARDENING", "aws_secret_access_key": "fake-secret"}
    return boto3.Session(botocore_session=core, region_name=REGION, **keys)


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No AWS variable or file of the machine, no instance metadata."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def recorder() -> UsageRecorder:
    return UsageRecorder()


@pytest.fixture
def make_host(recorder: UsageRecorder, tmp_path: Path) -> Iterator[Callable[..., Host]]:
    """``make_host(url, **settings)``: a host whose Bedrock runtime and agent runtime are at ``url``."""
    hosts: list[Host] = []

    def make(url: str, **settings: Any) -> Host:
        table = {"region": REGION, "runtime_endpoint_url": url, "agent_runtime_endpoint_url": url,
                 "read_timeout": 10, "connect_timeout": 2, **settings}  # fmt: skip
        config = Config.defaults(tmp_path, retry=FAST, providers={"bedrock": table})
        host = Host(config, load_entry_points=False, plugins=[BedrockProvider(session=new_session()), recorder])
        hosts.append(host)
        return host

    yield make
    for host in hosts:
        host.close()


@pytest.fixture
def proxy() -> Iterator[FaultProxy]:
    with FaultProxy() as running:  # no upstream: every request gets what the test scripted
        yield running
    assert running.problems == []


@pytest.fixture
def host(make_host: Callable[..., Host], proxy: FaultProxy) -> Host:
    return make_host(proxy.url)


# -- defect 5: every damaged answer is a core error ----------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("damage", list(DAMAGED_EVENTS))
def test_a_damaged_event_mid_stream_is_service_unavailable(
    damage: str, mode: str, host: Host, proxy: FaultProxy, recorder: UsageRecorder
) -> None:
    proxy.script(stream_reply(*opening(), DAMAGED_EVENTS[damage](), *closing()), path=STREAM)
    with pytest.raises(ServiceUnavailableError, match="damaged in transit") as info:
        stream(host, mode, MODEL, "hi")
    assert info.value.events == [TextDelta(text="Hello")]  # type: ignore[attr-defined]
    assert info.value.__cause__ is not None
    assert "not json" not in str(info.value), "the answer's text is not quoted"
    assert len(proxy.calls(STREAM)) == 1, "a stream that has begun is not retried"
    assert recorder.records == []


@pytest.mark.parametrize("damage", ["payload not JSON", "payload nested 100,000 levels", "a duplicate header"])
def test_a_damaged_first_event_is_retried_then_raised(
    damage: str, host: Host, proxy: FaultProxy, recorder: UsageRecorder
) -> None:
    reply = stream_reply(event("messageStart", {"role": "assistant"}), DAMAGED_EVENTS[damage]())
    persistent_failure(proxy, recorder, lambda: stream(host, "sync", MODEL, "hi"), reply, ServiceUnavailableError,
                       path=STREAM)  # fmt: skip


#: Non-streamed Converse answers that botocore cannot parse, or parses into the wrong types.
DAMAGED_ANSWERS = {
    "nested 100,000 levels": b'{"output": ' + nested(100_000) + b"}",
    "not UTF-8": b'{"output": {"message": {"role": "assistant", "content": [{"text": "\xff"}]}}}',
    "a text that is a number": b'{"output": {"message": {"role": "assistant", "content": [{"text": 5}]}}, '
    b'"stopReason": "end_turn", "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2}, '
    b'"metrics": {"latencyMs": 1}}',
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("damage", list(DAMAGED_ANSWERS))
def test_a_damaged_converse_answer_is_service_unavailable(
    damage: str, mode: str, host: Host, proxy: FaultProxy, recorder: UsageRecorder
) -> None:
    reply = Reply(200, DAMAGED_ANSWERS[damage])
    error = persistent_failure(proxy, recorder, lambda: chat(host, mode, MODEL, "hi"), reply, ServiceUnavailableError,
                               path=CONVERSE)  # fmt: skip
    assert "damaged in transit" in str(error)


@pytest.mark.parametrize("mode", MODES)
def test_an_invoke_model_body_nested_too_deeply_is_service_unavailable(
    mode: str, host: Host, proxy: FaultProxy, recorder: UsageRecorder
) -> None:
    def embed() -> Any:
        return host.embed(TITAN, "hi") if mode == "sync" else asyncio.run(host.aembed(TITAN, "hi"))

    error = persistent_failure(proxy, recorder, embed, Reply(200, nested(100_000)), ServiceUnavailableError,
                               path=INVOKE)  # fmt: skip
    assert "not JSON" in str(error) and "nested" in str(error)


def test_invalid_utf8_in_an_agents_text_is_an_error_not_replaced(
    host: Host, proxy: FaultProxy, recorder: UsageRecorder
) -> None:
    def chunk(raw: bytes) -> bytes:
        return event("chunk", {"bytes": base64.b64encode(raw).decode()})

    proxy.script(stream_reply(chunk(b"Hel"), chunk(b"lo \xff\xfe"), chunk(b"there")), path=AGENTS)
    with pytest.raises(ServiceUnavailableError, match="not valid UTF-8") as info:
        host.invoke_agent("bedrock:AGENT00001", AgentRequest(input_text="hi"))
    assert type(info.value.__cause__) is UnicodeDecodeError
    assert recorder.records == []


def _cli_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a ``genai`` process: nothing of the machine's AWS set-up."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "GENAI_"))}
    empty = home / "empty"
    empty.parent.mkdir(parents=True, exist_ok=True)
    empty.write_text("")
    env.update(GENAI_HOME=str(home), GENAI_PLUGINS_ALLOW="bedrock", AWS_CONFIG_FILE=str(empty),
               AWS_SHARED_CREDENTIALS_FILE=str(empty), AWS_EC2_METADATA_DISABLED="true", **extra)  # fmt: skip
    return env


def _genai(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", "from genai_commons.cli import main; main()", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)


def test_the_cli_prints_a_damaged_stream_as_one_error_line(proxy: FaultProxy, tmp_path: Path) -> None:
    proxy.script(stream_reply(*opening(), DAMAGED_EVENTS["a delta of two kinds at once"](), *closing()), path=STREAM)
    env = _cli_env(tmp_path / "home", AWS_ENDPOINT_URL_BEDROCK_RUNTIME=proxy.url, AWS_REGION=REGION,
                   AWS_ACCESS_KEY_ID="AKIDHARDENING", AWS_SECRET_ACCESS_KEY="fake-secret")  # fmt: skip
    done = _genai(env, "chat", MODEL, "hi", "--stream")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert lines and lines[0].startswith("error: ") and "damaged in transit" in lines[0]
    assert all(line.startswith("  ") for line in lines[1:]), "one error line, then at most the host's notes"


# -- defect 6: the call's deadline ends a trickle, a stall and endless keep-alives ----------------


def _ends_at_the_deadline(call: Callable[[], Any], server: TrickleServer, recorder: UsageRecorder) -> None:
    started = time.monotonic()
    with pytest.raises(DeadlineExceededError, match="deadline"):
        call()
    took = time.monotonic() - started
    assert DEADLINE * 0.9 <= took < DEADLINE + SLACK, f"ended after {took:.2f} s"
    assert len(server.requests) == 1, "a deadline is not retried"
    assert server.wait_for_hang_up(2), "the connection is closed at once"
    assert recorder.records == []


@pytest.mark.parametrize("mode", MODES)
def test_a_converse_answer_dripping_a_byte_at_a_time_ends_at_the_deadline(
    mode: str, make_host: Callable[..., Host], recorder: UsageRecorder
) -> None:
    head, body = dripping_json(converse_answer("a long answer, sent very slowly"))
    with TrickleServer(head, body, interval=0.3) as server:
        host = make_host(server.url, deadline=DEADLINE)
        _ends_at_the_deadline(lambda: chat(host, mode, MODEL, "hi"), server, recorder)


@pytest.mark.parametrize("sent", ["the head", "nothing"])
def test_a_stall_ends_at_the_deadline_not_the_read_timeout(
    sent: str, make_host: Callable[..., Host], recorder: UsageRecorder
) -> None:
    """A server that sends the answer's head and then nothing, or nothing at all (botocore takes
    a per-request read timeout, which the plugin shortens to the deadline)."""
    head, body = dripping_json(converse_answer())
    with TrickleServer(head if sent == "the head" else b"", body, interval=30) as server:
        host = make_host(server.url, read_timeout=20)
        with genai_commons.deadline(DEADLINE):
            _ends_at_the_deadline(lambda: host.chat(MODEL, "hi"), server, recorder)


@pytest.mark.parametrize("mode", MODES)
def test_a_stream_of_keep_alives_for_ever_ends_at_the_deadline(
    mode: str, make_host: Callable[..., Host], recorder: UsageRecorder
) -> None:
    """Frames of a kind botocore does not know: it skips them without handing anything over."""
    head, body = endless_frames([], keep_alive())
    with TrickleServer(head, body, interval=0.05) as server:
        host = make_host(server.url, deadline=DEADLINE)
        _ends_at_the_deadline(lambda: stream(host, mode, MODEL, "hi"), server, recorder)


def test_a_begun_stream_of_events_without_content_ends_at_the_deadline(
    make_host: Callable[..., Host], recorder: UsageRecorder
) -> None:
    """Known events the plugin reads without yielding anything (a block's end, again and again)."""
    head, body = endless_frames(opening(), event("contentBlockStop", {"contentBlockIndex": 0}))
    with TrickleServer(head, body, interval=0.05) as server:
        host = make_host(server.url, deadline=DEADLINE)
        with pytest.raises(DeadlineExceededError) as info:
            stream(host, "sync", MODEL, "hi")
        assert info.value.events == [TextDelta(text="Hello")]  # type: ignore[attr-defined]
        assert server.wait_for_hang_up(2) and recorder.records == []


def test_an_agent_turn_of_hidden_traces_for_ever_ends_at_the_deadline(
    make_host: Callable[..., Host], recorder: UsageRecorder
) -> None:
    """Trace events, which the plugin drops when the caller did not ask for traces."""
    trace = event("trace", {"agentId": "AGENT00001", "trace": {"orchestrationTrace": {"rationale": {"text": "…"}}}})
    head, body = endless_frames([], trace)
    with TrickleServer(head, body, interval=0.05) as server:
        host = make_host(server.url, deadline=DEADLINE)
        request = AgentRequest(input_text="hi", enable_trace=False)
        _ends_at_the_deadline(lambda: host.invoke_agent("bedrock:AGENT00001", request), server, recorder)


def test_embeddings_fanned_out_to_worker_threads_end_at_the_deadline(
    make_host: Callable[..., Host], recorder: UsageRecorder
) -> None:
    """Titan embeds one text a call, in the plugin's worker threads: they see the caller's deadline."""
    head, body = dripping_json({"embedding": [0.25] * 16, "inputTextTokenCount": 1})
    with TrickleServer(head, body, interval=0.3) as server:
        host = make_host(server.url, deadline=DEADLINE)
        started = time.monotonic()
        with pytest.raises(DeadlineExceededError):
            host.embed(TITAN, ["one", "two"])
        assert time.monotonic() - started < DEADLINE + SLACK
        assert len(server.requests) == 2 and recorder.records == []


# -- first-time user: `genai models` with AWS not set up -------------------------------------------


@pytest.mark.parametrize("region", [None, REGION], ids=["no region", "a region but no credentials"])
def test_models_without_aws_set_up_are_inactive_and_not_a_warning(region: str | None, tmp_path: Path) -> None:
    env = _cli_env(tmp_path / "home", **({"AWS_REGION": region} if region else {}))
    done = _genai(env, "models")
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", "a plugin that is not set up is no warning"
    bedrock = [line for line in done.stdout.splitlines() if line.startswith("bedrock:")]
    assert bedrock and all(line.rstrip().endswith("(inactive)") for line in bedrock)
    verbose = _genai(env, "-v", "models")
    assert "model_listing_skipped" in verbose.stderr and "warning" not in verbose.stderr.lower()


def test_a_stream_ending_after_message_stop_without_its_metadata_is_incomplete(
    host: Host, proxy: FaultProxy, recorder: UsageRecorder
) -> None:
    proxy.script(stream_reply(*opening(), *closing()[:2]), path=STREAM)
    with pytest.raises(ServiceUnavailableError, match="metadata"):
        stream(host, "sync", MODEL, "hi")
    assert recorder.records == []
    proxy.script(stream_reply(*opening(), text(" there"), *closing()), path=STREAM)
    _, response = stream(host, "sync", MODEL, "hi")
    assert response is not None and response.text == "Hello there" and recorder.last.output_tokens == 2
