"""A local Bedrock-compatible service: the HTTP API of Bedrock Runtime (Converse, ConverseStream,
InvokeModel), of the Bedrock control plane (ListFoundationModels), of Agents for Bedrock (knowledge
bases, data sources and ingestion jobs: :mod:`.knowledge`) and its runtime (Retrieve,
RetrieveAndGenerate, InvokeAgent: :mod:`.knowledge`, :mod:`.agents`) and STS AssumeRole, answered
in-process from the deterministic models of :mod:`.models`.

It knows nothing of the plugin: it reads and writes the wire format botocore sends and parses, and
it plays Bedrock's failures on demand (:meth:`LocalBedrock.fail_next`). Serve it on a loopback
port with :class:`~.server.LocalBedrockServer`, or answer a boto3 session's requests in-process
with :func:`~.server.attach`.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, unquote

from attrs import field, frozen

from . import eventstream
from .agents import LocalAgent, LocalAgents
from .answers import Answer
from .answers import error_answer as _error
from .answers import json_answer as _json
from .knowledge import Document, LocalKnowledge, LocalKnowledgeBase
from .models import Reply, ToolUse, as_reply, check_converse, colour, converse_reply, list_models, png, vector, words

#: Failure kinds: the HTTP status, error code and message Bedrock answers with.
FAULTS: Mapping[str, tuple[int, str, str]] = {
    "auth": (403, "UnrecognizedClientException", "The security token included in the request is invalid."),
    "permission": (403, "AccessDeniedException", "You don't have access to the model with the specified model ID."),
    "not_found": (
        404,
        "ResourceNotFoundException",
        "Could not resolve the foundation model from the provided model identifier.",
    ),
    "rate_limit": (429, "ThrottlingException", "Too many requests, please wait before trying again."),
    "unavailable": (503, "ServiceUnavailableException", "Bedrock is unable to process your request."),
    "bad_request": (400, "ValidationException", "Malformed input request, please reformat your input and try again."),
    "context_length": (400, "ValidationException", "Input is too long for requested model."),
    "quota": (400, "ServiceQuotaExceededException", "Your request exceeds the service quota for your account."),
    "model_timeout": (408, "ModelTimeoutException", "Model has timed out in processing the request."),
    "not_ready": (429, "ModelNotReadyException", "Model is not ready to serve inference requests."),
    "model_error": (424, "ModelErrorException", "The model returned an error."),
    "internal": (500, "InternalServerException", "The server encountered an internal error."),
}
#: A failure that is no answer at all: the client's read timeout expires.
TIMEOUT = "timeout"


@frozen(kw_only=True)
class Recorded:
    """A request the service received (the tests' view of the wire)."""

    operation: str
    model_id: str | None
    body: Any
    access_key_id: str | None
    #: The query parameters (ListFoundationModels' filters).
    query: Mapping[str, str] = field(factory=dict)
    #: The parameters in the path (``knowledgeBaseId``, ``agentId``, ``sessionId``, …).
    path: Mapping[str, str] = field(factory=dict)


class LocalBedrock:
    """The service. Thread-safe: one instance may serve concurrent requests."""

    def __init__(self, *, latency: float = 0.0, accepted_access_keys: Sequence[str] | None = None) -> None:
        #: Seconds each answer waits (a model's latency), for benchmarks.
        self.latency = latency
        #: When set, requests signed with other access keys are refused (403).
        self.accepted_access_keys = set(accepted_access_keys) if accepted_access_keys is not None else None
        #: Lifetime of the credentials AssumeRole issues.
        self.role_credentials_lifetime = timedelta(hours=1)
        self.requests: list[Recorded] = []
        self._faults: list[str] = []
        self._stream_faults: list[tuple[int, str]] = []
        self._replies: list[Reply] = []
        self._lock = threading.Lock()
        #: Knowledge bases, data sources and ingestion jobs (see :meth:`add_knowledge_base`).
        self.knowledge = LocalKnowledge()
        #: Agents and their sessions (see :meth:`add_agent`).
        self.agents = LocalAgents(self.knowledge)

    # -- what tests control -----------------------------------------------------------------

    def fail_next(self, kind: str, times: int = 1) -> None:
        """Make the next ``times`` requests fail as Bedrock does for ``kind`` (a key of
        :data:`FAULTS`, or ``"timeout"``)."""
        if kind != TIMEOUT and kind not in FAULTS:
            raise ValueError(f"unknown failure kind {kind!r}; use one of {', '.join([*FAULTS, TIMEOUT])}")
        with self._lock:
            self._faults.extend([kind] * times)

    def fail_stream(self, after_events: int, exception_type: str = "throttlingException") -> None:
        """Make the next ConverseStream break with an exception event after ``after_events`` events."""
        with self._lock:
            self._stream_faults.append((after_events, exception_type))

    def script(self, *replies: str | ToolUse | Reply | Sequence[ToolUse]) -> None:
        """Replies for the next chat calls, in order (instead of the echo)."""
        with self._lock:
            self._replies.extend(as_reply(r) for r in replies)

    def add_knowledge_base(
        self,
        name: str,
        documents: Sequence[Document] = (),
        *,
        knowledge_base_id: str | None = None,
        description: str | None = None,
        data_source_id: str | None = None,
    ) -> LocalKnowledgeBase:
        """A knowledge base whose one data source holds ``documents``, already ingested."""
        return self.knowledge.add_knowledge_base(
            name, documents, knowledge_base_id=knowledge_base_id, description=description, data_source_id=data_source_id
        )

    def add_agent(
        self, agent_id: str, *, aliases: Sequence[str] = ("TSTALIASID",), knowledge_base_id: str | None = None
    ) -> LocalAgent:
        """An agent with these aliases, answering from a knowledge base or else echoing."""
        return self.agents.add_agent(agent_id, aliases=aliases, knowledge_base_id=knowledge_base_id)

    def calls(self, operation: str | None = None) -> list[Recorded]:
        """The requests received, optionally of one operation only."""
        with self._lock:
            return [r for r in self.requests if operation is None or r.operation == operation]

    # -- the HTTP surface -------------------------------------------------------------------

    def handle(self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes) -> Answer:
        """Answer one HTTP request."""
        operation, found = _route(method, unquote(path), body)
        model_id = found.get("model")
        if self.latency:
            time.sleep(self.latency)
        lowered = {k.lower(): v for k, v in headers.items()}
        key = _access_key(lowered.get("authorization", ""))
        parsed = _parse_body(operation, body, lowered.get("content-type", ""))
        parameters = {name: values[0] for name, values in parse_qs(query).items()}
        recorded = Recorded(
            operation=operation, model_id=model_id, body=parsed, access_key_id=key, query=parameters, path=found
        )
        with self._lock:
            self.requests.append(recorded)
            fault = self._faults.pop(0) if self._faults else None
        if fault == TIMEOUT:
            return Answer(stall=True)
        refuse = _sts_error if operation == "assume_role" else _error
        if fault is not None:
            return refuse(*FAULTS[fault])
        if self.accepted_access_keys is not None and key not in self.accepted_access_keys:
            return refuse(*FAULTS["auth"])
        if operation in KNOWLEDGE_OPERATIONS:
            return self.knowledge.handle(operation, found, parsed)
        if operation == "invoke_agent":
            with self._lock:
                broken = self._stream_faults.pop(0) if self._stream_faults else None
            return self.agents.invoke(found, parsed, broken)
        handler = getattr(self, f"_{operation}", None)
        if handler is None:
            return _error(404, "UnknownOperationException", f"the local service does not serve {method} {path}")
        return handler(model_id, parsed, lowered, parameters)  # type: ignore[no-any-return]

    # -- operations -------------------------------------------------------------------------

    def _next_reply(self) -> Reply | None:
        with self._lock:
            return self._replies.pop(0) if self._replies else None

    def _converse(self, model_id: str, body: Any, headers: Mapping[str, str], query: Any) -> Answer:
        started = time.perf_counter()
        problem = check_converse(body)
        if problem is not None:
            return _error(400, "ValidationException", problem)
        content, stop, usage = converse_reply(body, self._next_reply())
        answer = {
            "output": {"message": {"role": "assistant", "content": content}},
            "stopReason": stop,
            "usage": usage,
            "metrics": {"latencyMs": int((time.perf_counter() - started) * 1000) + 1},
        }
        return _json(answer)

    def _converse_stream(self, model_id: str, body: Any, headers: Mapping[str, str], query: Any) -> Answer:
        problem = check_converse(body)
        if problem is not None:
            return _error(400, "ValidationException", problem)
        content, stop, usage = converse_reply(body, self._next_reply())
        frames = [eventstream.event("messageStart", {"role": "assistant"})]
        for index, block in enumerate(content):
            if "text" in block:
                pieces = re.findall(r"\S+\s*|\s+", block["text"])
                for piece in pieces:
                    frames.append(
                        eventstream.event("contentBlockDelta", {"contentBlockIndex": index, "delta": {"text": piece}})
                    )
            else:
                use = block["toolUse"]
                start = {"toolUse": {"toolUseId": use["toolUseId"], "name": use["name"]}}
                frames.append(eventstream.event("contentBlockStart", {"contentBlockIndex": index, "start": start}))
                arguments = json.dumps(use["input"])
                for i in range(0, len(arguments), 8):
                    delta = {"toolUse": {"input": arguments[i : i + 8]}}
                    frames.append(eventstream.event("contentBlockDelta", {"contentBlockIndex": index, "delta": delta}))
            frames.append(eventstream.event("contentBlockStop", {"contentBlockIndex": index}))
        frames.append(eventstream.event("messageStop", {"stopReason": stop}))
        frames.append(eventstream.event("metadata", {"usage": usage, "metrics": {"latencyMs": 1}}))
        with self._lock:
            broken = self._stream_faults.pop(0) if self._stream_faults else None
        if broken is not None:
            after, kind = broken
            frames = [*frames[:after], eventstream.exception(kind, "The stream was interrupted.")]
        return Answer(headers={"content-type": "application/vnd.amazon.eventstream"}, frames=tuple(frames))

    def _invoke(self, model_id: str, body: Any, headers: Mapping[str, str], query: Any) -> Answer:
        if not isinstance(body, Mapping):
            return _error(400, "ValidationException", "Malformed input request: the body is not a JSON object.")
        if model_id.startswith("amazon.titan-embed-text"):
            return self._titan_embed(model_id, body)
        if model_id.startswith(("cohere.embed-english-v3", "cohere.embed-multilingual-v3")):
            return self._cohere_embed(body)
        if model_id.startswith(("amazon.titan-image-generator", "amazon.nova-canvas")):
            return self._image(model_id, body)
        if model_id.startswith("anthropic.") and "messages" in body:
            return self._anthropic_messages(model_id, body)
        return _error(400, "ValidationException", f"The local service does not know the request body of {model_id}.")

    def _titan_embed(self, model_id: str, body: Mapping[str, Any]) -> Answer:
        text = body.get("inputText")
        if not isinstance(text, str) or not text:
            return _error(400, "ValidationException", "Malformed input request: #: required key [inputText] not found")
        v2 = "v2" in model_id
        dimensions = body.get("dimensions", 1024) if v2 else 1536
        if dimensions not in (256, 512, 1024, 1536):
            return _error(
                400, "ValidationException", "Malformed input request: #/dimensions: 300 is not a valid enum value"
            )
        values = vector(text, dimensions, normalize=bool(body.get("normalize", True)) or not v2)
        count = words(text)
        answer = {"embedding": values, "inputTextTokenCount": count}
        if v2:
            answer["embeddingsByType"] = {"float": values}
        return _json(answer, tokens=(count, 0))

    def _cohere_embed(self, body: Mapping[str, Any]) -> Answer:
        texts = body.get("texts")
        input_type = body.get("input_type")
        if not isinstance(texts, list) or not texts or len(texts) > 96:
            return _error(
                400, "ValidationException", "Malformed input request: #/texts: expected maximum item count: 96"
            )
        if input_type not in ("search_document", "search_query", "classification", "clustering"):
            return _error(400, "ValidationException", "Malformed input request: #: required key [input_type] not found")
        vectors = [vector(text, 1024, salt=input_type) for text in texts]
        answer: dict[str, Any] = {"id": str(uuid.uuid4()), "texts": texts}
        if body.get("embedding_types"):
            answer.update(embeddings={"float": vectors}, response_type="embeddings_by_type")
        else:
            answer.update(embeddings=vectors, response_type="embeddings_floats")
        return _json(answer, tokens=(sum(words(t) for t in texts), 0))

    def _image(self, model_id: str, body: Mapping[str, Any]) -> Answer:
        params = body.get("textToImageParams") or {}
        config = body.get("imageGenerationConfig") or {}
        prompt = params.get("text", "")
        if body.get("taskType") != "TEXT_IMAGE" or not prompt:
            return _error(
                400, "ValidationException", "Malformed input request: taskType TEXT_IMAGE needs textToImageParams.text"
            )
        count = config.get("numberOfImages", 1)
        width, height = config.get("width", 512), config.get("height", 512)
        if not 1 <= count <= 5 or width % 64 or height % 64:
            return _error(
                400, "ValidationException", "Malformed input request: numberOfImages 1-5, sizes in multiples of 64"
            )
        if "blocked" in prompt.lower():
            return _error(400, "ValidationException", "This request has been blocked by our content filters.")
        import base64  # noqa: PLC0415

        seed = int(config.get("seed", 0))
        images = [base64.b64encode(png(width, height, colour(prompt, seed + i))).decode("ascii") for i in range(count)]
        return _json({"images": images, "error": None})

    def _anthropic_messages(self, model_id: str, body: Mapping[str, Any]) -> Answer:
        converse = {
            "messages": [
                {
                    "role": m["role"],
                    "content": [{"text": m["content"]}] if isinstance(m["content"], str) else m["content"],
                }
                for m in body["messages"]
            ]
        }
        content, stop, usage = converse_reply(converse, self._next_reply())
        text = "".join(block.get("text", "") for block in content)
        answer = {
            "id": f"msg_{uuid.uuid4().hex[:24]}",
            "type": "message",
            "role": "assistant",
            "model": model_id,
            "content": [{"type": "text", "text": text}],
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": {"input_tokens": usage["inputTokens"], "output_tokens": usage["outputTokens"]},
        }
        return _json(answer, tokens=(usage["inputTokens"], usage["outputTokens"]))

    def _list_foundation_models(
        self, model_id: str | None, body: Any, headers: Mapping[str, str], query: Any
    ) -> Answer:
        return _json({"modelSummaries": list_models(query)})

    def _assume_role(self, model_id: str | None, body: Any, headers: Mapping[str, str], query: Any) -> Answer:
        role_arn = body.get("RoleArn", [""])[0]
        session = body.get("RoleSessionName", ["session"])[0]
        key = f"ASIA{uuid.uuid4().hex[:16].upper()}"
        secret = uuid.uuid4().hex
        with self._lock:
            if self.accepted_access_keys is not None:
                self.accepted_access_keys.add(key)
        expires = (datetime.now(UTC) + self.role_credentials_lifetime).strftime("%Y-%m-%dT%H:%M:%SZ")
        xml = (
            '<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>'
            f"<Credentials><AccessKeyId>{key}</AccessKeyId><SecretAccessKey>{secret}</SecretAccessKey>"
            f"<SessionToken>token-{secret}</SessionToken><Expiration>{expires}</Expiration></Credentials>"
            f"<AssumedRoleUser><AssumedRoleId>AROA0000000000:{session}</AssumedRoleId>"
            f"<Arn>{role_arn.replace(':role/', ':assumed-role/')}/{session}</Arn></AssumedRoleUser>"
            f"</AssumeRoleResult><ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
            "</AssumeRoleResponse>"
        )
        return Answer(headers={"content-type": "text/xml"}, body=xml.encode("utf-8"))


_MODEL_PATH = re.compile(r"^/model/(?P<model>.+)/(?P<op>converse|converse-stream|invoke)$")
_ID = r"[0-9a-zA-Z]+"
#: Agents for Bedrock and its runtime: (method, path pattern, operation).
_AGENT_ROUTES = tuple(
    (method, re.compile(f"^{pattern}$"), operation)
    for method, pattern, operation in (
        ("POST", "/knowledgebases/?", "list_knowledge_bases"),
        ("GET", f"/knowledgebases/(?P<knowledgeBaseId>{_ID})", "get_knowledge_base"),
        ("POST", f"/knowledgebases/(?P<knowledgeBaseId>{_ID})/datasources/?", "list_data_sources"),
        (
            "PUT",
            f"/knowledgebases/(?P<knowledgeBaseId>{_ID})/datasources/(?P<dataSourceId>{_ID})/ingestionjobs/?",
            "start_ingestion_job",
        ),
        (
            "GET",
            f"/knowledgebases/(?P<knowledgeBaseId>{_ID})/datasources/(?P<dataSourceId>{_ID})"
            f"/ingestionjobs/(?P<ingestionJobId>{_ID})",
            "get_ingestion_job",
        ),
        ("POST", f"/knowledgebases/(?P<knowledgeBaseId>{_ID})/retrieve", "retrieve"),
        ("POST", "/retrieveAndGenerate", "retrieve_and_generate"),
        ("POST", "/rerank", "rerank"),
        (
            "POST",
            f"/agents/(?P<agentId>{_ID})/agentAliases/(?P<agentAliasId>{_ID})/sessions/(?P<sessionId>[0-9a-zA-Z._:-]+)/text",
            "invoke_agent",
        ),
    )
)
#: The operations :class:`~.knowledge.LocalKnowledge` answers.
KNOWLEDGE_OPERATIONS = frozenset(op for _m, _p, op in _AGENT_ROUTES if op != "invoke_agent")


def _route(method: str, path: str, body: bytes) -> tuple[str, dict[str, str]]:
    """The operation and the parameters of the path."""
    found = _MODEL_PATH.match(path)
    if method == "POST" and found is not None:
        return found["op"].replace("-", "_"), {"model": found["model"]}
    if method == "GET" and path == "/foundation-models":
        return "list_foundation_models", {}
    if method == "POST" and path == "/" and b"Action=AssumeRole" in body:
        return "assume_role", {}
    for verb, pattern, operation in _AGENT_ROUTES:
        matched = pattern.match(path)
        if verb == method and matched is not None:
            return operation, matched.groupdict()
    return f"unknown {method} {path}", {}


def _parse_body(operation: str, body: bytes, content_type: str) -> Any:
    if operation == "assume_role":
        return parse_qs(body.decode("utf-8"))
    if not body:
        return {}
    try:
        return json.loads(body)
    except ValueError:
        return body


def _access_key(authorization: str) -> str | None:
    found = re.search(r"Credential=([^/]+)/", authorization)
    return found[1] if found else None


def _sts_error(status: int, code: str, message: str) -> Answer:
    """STS speaks the query protocol: errors are XML."""
    code = {"AccessDeniedException": "AccessDenied", "UnrecognizedClientException": "InvalidClientTokenId"}.get(
        code, code
    )
    xml = (
        '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
        f"<Code>{code}</Code><Message>{message}</Message></Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    )
    return Answer(status=status, headers={"content-type": "text/xml"}, body=xml.encode("utf-8"))
