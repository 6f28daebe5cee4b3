"""InvokeAgent: one turn with a Bedrock agent, its event stream decoded into the core's
:class:`AgentTextChunk` (text with the references it cites) and :class:`AgentTrace` (pre-processing,
orchestration with rationale, invocation input and observation, post-processing, failure,
guardrail), and the connector's asynchronous style: :func:`invoke_agent_in_background` runs a turn
in a background thread and hands the response to a handler.
"""

from __future__ import annotations

import base64
import codecs
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from datetime import datetime
from typing import TYPE_CHECKING, Any

from genai_commons import GenAIError, get_logger
from genai_commons.model import Agent, AgentEvent, AgentRequest, AgentResponse, AgentTextChunk, AgentTrace

from .errors import Resource, translated_errors
from .references import references_from_citations
from .shapes import checked_events, event_shapes

if TYPE_CHECKING:
    from genai_commons import Host

#: Bedrock's trace members and the core's step names.
STEPS: Mapping[str, str] = {
    "preProcessingTrace": "pre_processing",
    "orchestrationTrace": "orchestration",
    "postProcessingTrace": "post_processing",
    "failureTrace": "failure",
    "guardrailTrace": "guardrail",
    "routingClassifierTrace": "routing_classifier",
    "customOrchestrationTrace": "custom_orchestration",
}
#: What a trace part says of the agent and session, kept with each step's content.
_TRACE_PART = ("agentId", "agentAliasId", "agentVersion", "sessionId", "collaboratorName", "eventTime")


def agent_request(agent: Agent, request: AgentRequest, *, alias_id: str) -> dict[str, Any]:
    """The keyword arguments of InvokeAgent."""
    kwargs: dict[str, Any] = {
        "agentId": agent.agent_id,
        "agentAliasId": agent.alias_id or alias_id,
        "sessionId": request.session_id or uuid.uuid4().hex,
        "inputText": request.input_text,
        "enableTrace": request.enable_trace,
        "endSession": request.end_session,
    }
    state: dict[str, Any] = {}
    if request.session_attributes:
        state["sessionAttributes"] = dict(request.session_attributes)
    if request.prompt_session_attributes:
        state["promptSessionAttributes"] = dict(request.prompt_session_attributes)
    if state:
        kwargs["sessionState"] = state
    return kwargs


def json_safe(value: Any) -> Any:
    """A trace's content as JSON values: times as ISO 8601 text, bytes as base64."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    return value


def _rationale(step: str, content: Mapping[str, Any]) -> str | None:
    """The reasoning a step reports: an orchestration rationale, the pre-processing rationale, or
    the reason of a failure."""
    if step == "orchestration":
        return (content.get("rationale") or {}).get("text")
    if step == "pre_processing":
        parsed = (content.get("modelInvocationOutput") or {}).get("parsedResponse") or {}
        return parsed.get("rationale")
    if step == "failure":
        return content.get("failureReason")
    return None


def trace_events(part: Mapping[str, Any]) -> list[AgentTrace]:
    """The steps of one trace event (a ``TracePart``): usually one."""
    traces = []
    about = {key: part[key] for key in _TRACE_PART if part.get(key) is not None}
    for member, content in (part.get("trace") or {}).items():
        step = STEPS.get(member) or member.removesuffix("Trace")
        data = json_safe({**about, **(content or {})})
        traces.append(AgentTrace(step=step, content=data, rationale=_rationale(step, data)))
    return traces


def agent_events(stream: Any, *, enable_trace: bool) -> Iterator[AgentEvent]:
    """The core's events for InvokeAgent's ``completion`` stream (parsed by botocore). Text that is
    not valid UTF-8 raises ``UnicodeDecodeError`` (a damaged answer, mapped by :mod:`.errors`), as
    does a stream that ends inside a character."""
    decoder = codecs.getincrementaldecoder("utf-8")()  # strict; a character may span two chunks
    for event in stream:
        if "chunk" in event:
            chunk = event["chunk"]
            text = decoder.decode(chunk.get("bytes") or b"")
            citations = (chunk.get("attribution") or {}).get("citations") or ()
            references = references_from_citations(citations)
            if text or references:
                yield AgentTextChunk(text=text, references=references)
        elif "trace" in event:
            if enable_trace:
                yield from trace_events(event["trace"])
        elif "returnControl" in event:
            # The agent asks the caller to run an action group and answer in the next turn.
            yield AgentTrace(step="return_control", content=json_safe(event["returnControl"]))
        elif "files" in event:
            files = [{k: v for k, v in f.items() if k != "bytes"} for f in event["files"].get("files", ())]
            yield AgentTrace(step="files", content={"files": json_safe(files)})
    rest = decoder.decode(b"", final=True)
    if rest:
        yield AgentTextChunk(text=rest)


def invoke_agent(
    client: Any, agent: Agent, request: AgentRequest, *, alias_id: str, region: str | None
) -> Iterator[AgentEvent]:
    """One InvokeAgent call, its events decoded as they arrive. The request is sent at once, so
    that the host retries a failure before the stream (throttling, an unavailable service);
    closing the iterator early closes the connection."""
    kwargs = agent_request(agent, request, alias_id=alias_id)
    resource = Resource("agent", f"{agent.agent_id} (alias {kwargs['agentAliasId']})")
    with translated_errors(region=region, resource=resource):
        stream = client.invoke_agent(**kwargs)["completion"]
        shapes = event_shapes(client, "InvokeAgent", "completion")
    return _streamed(stream, shapes, request, region=region, resource=resource)


def _streamed(
    stream: Any, shapes: Any, request: AgentRequest, *, region: str | None, resource: Resource
) -> Iterator[AgentEvent]:
    """The turn's events; each of botocore's checked against the deadline and its shape first."""
    with translated_errors(region=region, resource=resource):
        try:
            events = checked_events(stream, shapes, what=f"the answer of {resource}")
            yield from agent_events(events, enable_trace=request.enable_trace)
        finally:
            stream.close()


def invoke_agent_in_background(
    host: Host,
    agent: Agent | str,
    request: AgentRequest | str,
    *,
    on_response: Callable[[AgentResponse], object],
    on_error: Callable[[GenAIError], object] | None = None,
) -> Future[AgentResponse]:
    """The connector's asynchronous InvokeAgent: the turn runs through ``host`` (its retries and
    usage record) in a background thread, which then calls ``on_response`` with the assembled
    response — or ``on_error`` with the error. Returns at once, with a future of the response.

    The handlers run in the background thread: hand their results to the rest of the application
    in a thread-safe way (a queue, ``loop.call_soon_threadsafe``, a websocket push).
    """
    future: Future[AgentResponse] = Future()
    future.set_running_or_notify_cancel()

    def run() -> None:
        try:
            response = host.invoke_agent(agent, request)
        except GenAIError as exc:
            future.set_exception(exc)
            if on_error is None:
                _log().warning("agent_invocation_failed", error=str(exc))
            else:
                _call_handler(on_error, exc)
            return
        except BaseException as exc:  # not a provider error: a bug, still reported through the future
            future.set_exception(exc)
            raise
        future.set_result(response)
        _call_handler(on_response, response)

    threading.Thread(target=run, name="genai-bedrock-agent", daemon=False).start()
    return future


def _call_handler(handler: Callable[[Any], object], value: Any) -> None:
    try:
        handler(value)
    except Exception as exc:  # a handler's own failure must not vanish in the thread
        _log().error("agent_handler_failed", handler=getattr(handler, "__qualname__", repr(handler)), error=repr(exc))


def _log() -> Any:
    return get_logger(__name__)
