"""The agent part of the local service: InvokeAgent (``bedrock-agent-runtime``) answered with a real
``application/vnd.amazon.eventstream`` response — ``chunk`` events (base64 bytes, with attribution
citations when the agent's knowledge base answered) and, with ``enableTrace``, ``trace`` events
for pre-processing, orchestration (model input, rationale, knowledge-base lookup, observation)
and post-processing; a scripted failure adds a ``failureTrace`` and an exception event.

An agent answers from its knowledge base (the first sentence of the best passage, cited) or else
echoes the input; session attributes are kept for the session (until ``endSession``) and named at
the end of the answer, so tests can see what reached the wire.
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from attrs import define, field

from . import eventstream
from .answers import Answer, error_answer
from .knowledge import LocalKnowledge


@define
class LocalAgent:
    """An agent: its aliases and, optionally, the knowledge base it answers from."""

    agent_id: str
    aliases: tuple[str, ...] = ("TSTALIASID",)
    knowledge_base_id: str | None = None
    foundation_model: str = "anthropic.claude-3-haiku-20240307-v1:0"


@define
class _Session:
    attributes: dict[str, str] = field(factory=dict)
    turns: int = 0


class LocalAgents:
    """Agents and their sessions; part of :class:`~.service.LocalBedrock`."""

    def __init__(self, knowledge: LocalKnowledge) -> None:
        self.knowledge = knowledge
        self.agents: dict[str, LocalAgent] = {}
        self.sessions: dict[str, _Session] = {}
        self._failures: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def add_agent(
        self, agent_id: str, *, aliases: Iterable[str] = ("TSTALIASID",), knowledge_base_id: str | None = None
    ) -> LocalAgent:
        agent = LocalAgent(agent_id=agent_id, aliases=tuple(aliases), knowledge_base_id=knowledge_base_id)
        with self._lock:
            self.agents[agent_id] = agent
        return agent

    def fail_next(self, reason: str, exception_type: str = "dependencyFailedException") -> None:
        """Make the next invocation fail after its pre-processing: a ``failureTrace`` with ``reason``
        (when traced), then an exception event of ``exception_type``."""
        with self._lock:
            self._failures.append((reason, exception_type))

    # -- the operation ------------------------------------------------------------------------

    def invoke(self, path: Mapping[str, str], body: Any, stream_fault: tuple[int, str] | None) -> Answer:
        agent = self.agents.get(path["agentId"])
        if agent is None or path["agentAliasId"] not in agent.aliases:
            what = "Agent" if agent is None else "Agent alias"
            name = path["agentId"] if agent is None else path["agentAliasId"]
            return error_answer(404, "ResourceNotFoundException", f"{what} with id {name} does not exist")
        if not isinstance(body, Mapping) or not isinstance(body.get("inputText"), str) or not body["inputText"]:
            return error_answer(400, "ValidationException", "inputText must be a non-empty string")
        for flag in ("enableTrace", "endSession"):
            if flag in body and not isinstance(body[flag], bool):
                return error_answer(400, "ValidationException", f"{flag} must be a boolean")
        session_id = path["sessionId"]
        with self._lock:
            session = self.sessions.setdefault(session_id, _Session())
            state = body.get("sessionState") or {}
            session.attributes.update(state.get("sessionAttributes") or {})
            session.turns += 1
            failure = self._failures.pop(0) if self._failures else None
            if body.get("endSession"):
                del self.sessions[session_id]
        text, citations, references = self._answer(agent, body["inputText"], session)
        frames = _Frames(agent, path, session_id, traced=bool(body.get("enableTrace")))
        frames.pre_processing(body["inputText"])
        if failure is not None:
            frames.trace({"failureTrace": {"traceId": frames.trace_id("failure"), "failureReason": failure[0]}})
            frames.frames.append(eventstream.exception(failure[1], failure[0]))
        else:
            frames.orchestration(agent, body["inputText"], text, references, state)
            frames.answer(text, citations)
        out = frames.frames
        if stream_fault is not None:
            after, kind = stream_fault
            out = [*out[:after], eventstream.exception(kind, "The stream was interrupted.")]
        headers = {
            "content-type": "application/vnd.amazon.eventstream",
            "x-amzn-bedrock-agent-content-type": "application/json",
            "x-amz-bedrock-agent-session-id": session_id,
        }
        return Answer(headers=headers, frames=tuple(out))

    def _answer(self, agent: LocalAgent, text: str, session: _Session) -> tuple[str, list[Any], list[Any]]:
        citations: list[Any] = []
        references: list[Any] = []
        answer = f"You said: {text}"
        kb = self.knowledge.knowledge_bases.get(agent.knowledge_base_id or "")
        if kb is not None:
            found = self.knowledge._search(kb, text, {"vectorSearchConfiguration": {"numberOfResults": 1}})
            if found and found[0]["score"] > 0:
                passage = found[0]["content"]["text"]
                answer = passage.split(". ")[0].rstrip(".") + "."
                references = [{k: found[0][k] for k in ("content", "location", "metadata")}]
                span = {"start": 0, "end": len(answer) - 1}
                citations = [{
                    "generatedResponsePart": {"textResponsePart": {"text": answer, "span": span}},
                    "retrievedReferences": references,
                }]  # fmt: skip
        if session.attributes:
            answer += " [session: " + ", ".join(f"{k}={v}" for k, v in sorted(session.attributes.items())) + "]"
        return answer, citations, references


class _Frames:
    """The event-stream messages of one invocation."""

    def __init__(self, agent: LocalAgent, path: Mapping[str, str], session_id: str, *, traced: bool) -> None:
        self.traced = traced
        self.part = {"agentId": agent.agent_id, "agentAliasId": path["agentAliasId"], "sessionId": session_id,
                     "agentVersion": "DRAFT"}  # fmt: skip
        self.model = agent.foundation_model
        self.frames: list[bytes] = []
        self._run = uuid.uuid4().hex[:8]

    def trace_id(self, step: str) -> str:
        return f"{self._run}-{step}-0"

    def trace(self, trace: Mapping[str, Any]) -> None:
        if self.traced:
            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            self.frames.append(eventstream.event("trace", {**self.part, "eventTime": now, "trace": trace}))

    def _model_input(self, step: str, text: str) -> dict[str, Any]:
        return {"traceId": self.trace_id(step.lower()), "text": text, "type": step, "foundationModel": self.model,
                "promptCreationMode": "DEFAULT", "parserMode": "DEFAULT",
                "inferenceConfiguration": {"maximumLength": 2048, "temperature": 0.0, "topP": 1.0, "topK": 250,
                                           "stopSequences": ["</answer>"]}}  # fmt: skip

    def pre_processing(self, text: str) -> None:
        self.trace({"preProcessingTrace": {"modelInvocationInput": self._model_input("PRE_PROCESSING", text)}})
        parsed = {"isValid": True, "rationale": "The input is a question the agent can answer."}
        output = {"traceId": self.trace_id("pre_processing"), "parsedResponse": parsed}
        self.trace({"preProcessingTrace": {"modelInvocationOutput": output}})

    def orchestration(
        self, agent: LocalAgent, text: str, answer: str, references: list[Any], state: Mapping[str, Any]
    ) -> None:
        prompt = f"{text}\n{json.dumps(state.get('promptSessionAttributes') or {}, sort_keys=True)}"
        step = self.trace_id("orchestration")
        self.trace({"orchestrationTrace": {"modelInvocationInput": self._model_input("ORCHESTRATION", prompt)}})
        rationale = "Look the question up in the knowledge base." if agent.knowledge_base_id else "Answer directly."
        self.trace({"orchestrationTrace": {"rationale": {"traceId": step, "text": rationale}}})
        if agent.knowledge_base_id:
            lookup = {"knowledgeBaseId": agent.knowledge_base_id, "text": text}
            self.trace({"orchestrationTrace": {"invocationInput": {
                "traceId": step, "invocationType": "KNOWLEDGE_BASE", "knowledgeBaseLookupInput": lookup}}})  # fmt: skip
            self.trace({"orchestrationTrace": {"observation": {
                "traceId": step, "type": "KNOWLEDGE_BASE",
                "knowledgeBaseLookupOutput": {"retrievedReferences": references}}}})  # fmt: skip
        final = {"traceId": step, "type": "FINISH", "finalResponse": {"text": answer}}
        self.trace({"orchestrationTrace": {"observation": final}})
        self.trace({"postProcessingTrace": {"modelInvocationInput": self._model_input("POST_PROCESSING", answer)}})

    def answer(self, text: str, citations: list[Any]) -> None:
        """The answer in two chunks, cut through the middle of its UTF-8 bytes (a character may
        straddle them); the citations travel with the last."""
        raw = text.encode("utf-8")
        half = len(raw) // 2
        for i, piece in enumerate((raw[:half], raw[half:])):
            chunk: dict[str, Any] = {"bytes": base64.b64encode(piece).decode("ascii")}
            if i == 1 and citations:
                chunk["attribution"] = {"citations": citations}
            self.frames.append(eventstream.event("chunk", chunk))
