"""InvokeAgent: the request (agent, alias, session, trace, end of session, attributes), the
response's ``application/vnd.amazon.eventstream`` frames — real frames, decoded by botocore's own
parser — as text chunks with references and traces, sync and async; errors in and before the
stream; and the connector's background style with response and error handlers."""

from __future__ import annotations

import asyncio
import io
import json
import threading
from collections.abc import Callable
from typing import Any

import pytest

from genai_commons import (
    Agent,
    AgentRequest,
    AgentTextChunk,
    GenAIError,
    Host,
    NotFoundError,
    ProviderError,
    RateLimitError,
    ServiceUnavailableError,
    SourceType,
)
from genai_commons.serialization import to_json
from genai_commons_bedrock import BedrockProvider, invoke_agent_in_background
from genai_commons_bedrock.testing import Document, LocalBedrock, attach
from genai_commons_bedrock.testing.answers import Answer
from genai_commons_bedrock.testing.eventstream import event

AGENT = "bedrock:AGENT00001"


@pytest.fixture
def local(make_host: Callable[..., Host], session: Any) -> tuple[Host, LocalBedrock]:
    service = attach(session, LocalBedrock())
    kb = service.add_knowledge_base(
        "handbook", [Document(uri="s3://docs/oncall.md", text="The rotation changes every Monday. It starts at ten.")]
    )
    service.add_agent("AGENT00001", aliases=("TSTALIASID", "PROD000001"), knowledge_base_id=kb.knowledge_base_id)
    service.add_agent("ECHO000001")
    return make_host(BedrockProvider(session=session)), service


def test_the_answer_its_references_and_traces(local) -> None:
    host, service = local
    request = AgentRequest(
        input_text="When does the rotation change?",
        session_id="session-1",
        enable_trace=True,
        session_attributes={"user": "ann"},
        prompt_session_attributes={"tz": "UTC"},
    )
    response = host.invoke_agent(AGENT, request)
    assert response.text == "The rotation changes every Monday. [session: user=ann]"
    (reference,) = response.references
    assert (reference.source, reference.source_type, reference.title) == (
        "s3://docs/oncall.md", SourceType.LOCATION, "oncall.md",
    )  # fmt: skip
    (citation,) = reference.citations
    assert response.text[citation.start_index : citation.end_index] == "The rotation changes every Monday."
    steps = [(t.step, t.rationale) for t in response.traces]
    assert steps == [
        ("pre_processing", None),
        ("pre_processing", "The input is a question the agent can answer."),
        ("orchestration", None),
        ("orchestration", "Look the question up in the knowledge base."),
        ("orchestration", None),
        ("orchestration", None),
        ("orchestration", None),
        ("post_processing", None),
    ]
    lookup = response.traces[4].content
    assert lookup["invocationInput"]["knowledgeBaseLookupInput"]["text"] == "When does the rotation change?"
    assert (lookup["agentId"], lookup["agentAliasId"], lookup["sessionId"]) == ("AGENT00001", "TSTALIASID", "session-1")
    assert isinstance(lookup["eventTime"], str)  # a time, as JSON
    observation = response.traces[5].content["observation"]
    assert observation["knowledgeBaseLookupOutput"]["retrievedReferences"][0]["location"]["type"] == "S3"
    assert json.loads(to_json(response))["traces"][3]["rationale"].startswith("Look the question up")
    sent = service.calls("invoke_agent")[-1]
    assert sent.path == {"agentId": "AGENT00001", "agentAliasId": "TSTALIASID", "sessionId": "session-1"}
    assert sent.body == {
        "inputText": "When does the rotation change?",
        "enableTrace": True,
        "endSession": False,
        "sessionState": {"sessionAttributes": {"user": "ann"}, "promptSessionAttributes": {"tz": "UTC"}},
    }


def test_without_trace_only_text_streams_and_the_session_lives_until_ended(local) -> None:
    host, service = local
    first = AgentRequest(input_text="hi", session_id="s2", session_attributes={"a": "1"})
    events = list(host.stream_agent("bedrock:ECHO000001", first))
    assert all(isinstance(e, AgentTextChunk) for e in events) and len(events) == 2
    assert "".join(e.text for e in events) == "You said: hi [session: a=1]"
    second = host.invoke_agent(
        "bedrock:ECHO000001", AgentRequest(input_text="again", session_id="s2", end_session=True)
    )
    assert second.text == "You said: again [session: a=1]" and second.traces == ()
    third = host.invoke_agent("bedrock:ECHO000001", AgentRequest(input_text="new", session_id="s2"))
    assert third.text == "You said: new"
    assert service.calls("invoke_agent")[1].body["endSession"] is True


def test_aliases_a_text_split_inside_a_character_and_async(local, make_host, session) -> None:
    host, service = local
    prod = Agent(provider="bedrock", agent_id="ECHO000001", alias_id="PROD000001")
    with pytest.raises(NotFoundError, match=r"agent ECHO000001 \(alias PROD000001\).*Check the agent id and the alias"):
        host.invoke_agent(prod, "hello")
    answer = host.invoke_agent(host.agent(AGENT, alias_id="PROD000001"), "café crème")
    assert service.calls("invoke_agent")[-1].path["agentAliasId"] == "PROD000001"
    echo = host.invoke_agent("bedrock:ECHO000001", "café crème")
    assert echo.text == "You said: café crème"  # the é straddles the two chunks' bytes
    assert answer.session_id

    async def collect() -> list[Any]:
        return [e async for e in host.astream_agent("bedrock:ECHO000001", "async hello")]

    assert "".join(e.text for e in asyncio.run(collect())) == "You said: async hello"
    configured = make_host(BedrockProvider(session=session), {"agent_alias_id": "PROD000001"})
    assert configured.invoke_agent("bedrock:AGENT00001", "rotation").text.startswith("The rotation")
    assert service.calls("invoke_agent")[-1].path["agentAliasId"] == "PROD000001"


def test_a_failure_trace_then_the_streams_exception(local, recorder) -> None:
    host, service = local
    service.agents.fail_next("The action group's Lambda function timed out")
    events: list[Any] = []
    with pytest.raises(ProviderError, match="depends on failed") as info:
        events.extend(host.stream_agent(AGENT, AgentRequest(input_text="book it", enable_trace=True)))
    assert [e.step for e in events] == ["pre_processing", "pre_processing", "failure"]
    assert events[-1].rationale == "The action group's Lambda function timed out"
    assert info.value.code == "dependencyFailedException" and info.value.status == 424
    assert not info.value.retryable and recorder.records == []


@pytest.mark.parametrize(
    ("kind", "expected", "advice"),
    [
        ("throttlingException", RateLimitError, "throttled"),
        ("badGatewayException", ServiceUnavailableError, "could not be reached; the host retries it"),
    ],
)
def test_an_exception_inside_the_stream(local, kind, expected, advice) -> None:
    host, service = local
    service.fail_stream(after_events=1, exception_type=kind)
    with pytest.raises(expected, match=advice) as info:
        list(host.stream_agent("bedrock:ECHO000001", "hi"))
    assert info.value.__cause__ is not None and info.value.retryable


def test_a_failure_before_the_stream_is_retried(local, recorder) -> None:
    host, service = local
    service.fail_next("unavailable")
    assert host.invoke_agent("bedrock:ECHO000001", "retry me").text == "You said: retry me"
    assert len(service.calls("invoke_agent")) == 2 and recorder.operations == ["agent"]


CONTROL = {
    "functionInvocationInput": {
        "actionGroup": "booking",
        "function": "book",
        "parameters": [{"name": "day", "type": "string", "value": "Monday"}],
    }
}


def test_other_events_become_traces(make_host, session) -> None:
    """Frames written here, returned from a before-send handler, decoded by botocore."""
    frames = [
        event("trace", {"agentId": "A1", "trace": {"guardrailTrace": {"action": "INTERVENED", "traceId": "g"}}}),
        event("trace", {"trace": {"routingClassifierTrace": {"rationale": {"text": "route"}}}}),
        event("returnControl", {"invocationId": "inv-1", "invocationInputs": [CONTROL]}),
        event("files", {"files": [{"name": "chart.png", "type": "image/png", "bytes": "iVBORw0K"}]}),
        event("chunk", {"bytes": "RG9uZS4=", "attribution": {"citations": []}}),
    ]

    def answer(request: Any, **_: Any) -> Any:
        from botocore.awsrequest import AWSResponse
        from urllib3 import HTTPResponse

        body = Answer(frames=tuple(frames))
        headers = {"content-type": "application/vnd.amazon.eventstream", "x-amz-bedrock-agent-session-id": "s"}
        raw = HTTPResponse(body=io.BytesIO(b"".join(body.chunks())), headers=headers, status=200, preload_content=False)
        return AWSResponse(request.url, 200, headers, raw)

    session.events.register("before-send.bedrock-agent-runtime.InvokeAgent", answer)
    host = make_host(BedrockProvider(session=session))
    response = host.invoke_agent("bedrock:A1", AgentRequest(input_text="book", enable_trace=True))
    assert response.text == "Done."
    assert [t.step for t in response.traces] == ["guardrail", "routing_classifier", "return_control", "files"]
    guardrail, _, control, files = response.traces
    assert guardrail.content["action"] == "INTERVENED" and guardrail.content["agentId"] == "A1"
    assert control.content["invocationInputs"][0]["functionInvocationInput"]["function"] == "book"
    assert files.content == {"files": [{"name": "chart.png", "type": "image/png"}]}  # no bytes in a trace


def test_the_background_style_calls_the_handlers(local) -> None:
    host, _ = local
    done = threading.Event()
    answers: list[str] = []
    errors: list[GenAIError] = []

    def on_response(response: Any) -> None:
        answers.append(response.text)
        done.set()

    def on_error(error: GenAIError) -> None:
        errors.append(error)
        done.set()

    handlers = {"on_response": on_response, "on_error": on_error}
    future = invoke_agent_in_background(host, "bedrock:ECHO000001", "in the background", **handlers)
    assert future.result(timeout=10).text == "You said: in the background"
    assert done.wait(10) and answers == ["You said: in the background"]
    done.clear()
    failed = invoke_agent_in_background(host, "bedrock:NOSUCHAGNT", "hi", **handlers)
    assert done.wait(10) and isinstance(errors[0], NotFoundError)
    assert isinstance(failed.exception(timeout=10), NotFoundError)
