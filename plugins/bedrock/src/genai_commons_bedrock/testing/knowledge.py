"""The knowledge-base part of the local service: knowledge bases with data sources (the documents
of an S3 bucket, say), ingestion jobs that index what changed in a data source, Retrieve over the
indexed passages and RetrieveAndGenerate with citations and sessions — the wire format of
``bedrock-agent`` (ListKnowledgeBases, GetKnowledgeBase, ListDataSources, StartIngestionJob,
GetIngestionJob) and ``bedrock-agent-runtime`` (Retrieve, RetrieveAndGenerate).

Relevance is the cosine of hashing-trick vectors of the words (negative ones count as 0), so a
query sharing words with a passage finds it. A job completes after :attr:`LocalKnowledge.ingestion_polls`
GetIngestionJob calls; documents without text fail.
"""

from __future__ import annotations

import base64
import hashlib
import re
import threading
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from attrs import define, field, frozen

from .answers import Answer, error_answer, json_answer
from .filtering import FilterError, check, matches
from .models import FOUNDATION_MODELS, vector

_SENTENCE = re.compile(r"[^.!?]+[.!?]?")
_KMS_KEY = re.compile(r"^arn:aws(|-cn|-us-gov):kms:[a-zA-Z0-9-]*:[0-9]{12}:key/[a-zA-Z0-9-]{36}$")
_MODEL_ARN = re.compile(r"^arn:aws:bedrock:(?P<region>[a-z0-9-]+)::foundation-model/(?P<model>.+)$")
_PROFILE = re.compile(r"^(us|eu|apac|global)\.(?P<model>.+)$")
#: The reranking models Rerank accepts.
RERANK_MODELS = frozenset({"amazon.rerank-v1:0", "cohere.rerank-v3-5:0"})
NO_ANSWER = "Sorry, I am unable to assist you with this request."


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _id() -> str:
    return uuid.uuid4().hex[:10].upper()


@frozen(kw_only=True)
class Document:
    """A document of a data source: its address (``s3://…``, ``https://…``), text and metadata
    (JSON values, as in a ``.metadata.json`` file)."""

    uri: str
    text: str
    metadata: Mapping[str, Any] = field(factory=dict)


@define
class _Job:
    job_id: str
    data_source_id: str
    client_token: str | None
    status: str = "STARTING"
    polls: int = 0
    statistics: dict[str, int] = field(factory=dict)
    failure_reasons: list[str] = field(factory=list)
    started_at: str = field(factory=_now)
    updated_at: str = field(factory=_now)
    description: str | None = None


@define
class LocalKnowledgeBase:
    """A knowledge base: its data sources' documents, and what the last syncs indexed."""

    knowledge_base_id: str
    name: str
    description: str | None = None
    status: str = "ACTIVE"
    created_at: str = field(factory=_now)
    #: Data source id -> name and the documents it holds now.
    data_sources: dict[str, tuple[str, dict[str, Document]]] = field(factory=dict)
    #: Document address -> (data source id, the document as indexed).
    index: dict[str, tuple[str, Document]] = field(factory=dict)
    jobs: dict[str, _Job] = field(factory=dict)

    @property
    def data_source_ids(self) -> list[str]:
        return list(self.data_sources)

    def passages(self) -> list[tuple[str, Document, int, str]]:
        """Every indexed passage: data source, document, number, text (paragraphs of a document)."""
        out: list[tuple[str, Document, int, str]] = []
        for uri in sorted(self.index):
            source, document = self.index[uri]
            paragraphs = [p.strip() for p in re.split(r"\n\s*\n", document.text) if p.strip()]
            out.extend((source, document, n, text) for n, text in enumerate(paragraphs))
        return out


def _location(uri: str) -> dict[str, Any]:
    if uri.startswith("s3://"):
        return {"type": "S3", "s3Location": {"uri": uri}}
    if uri.startswith(("http://", "https://")):
        return {"type": "WEB", "webLocation": {"url": uri}}
    return {"type": "CUSTOM", "customDocumentLocation": {"id": uri}}


def _cosine(a: list[float], b: list[float]) -> float:
    return max(0.0, sum(x * y for x, y in zip(a, b, strict=True)))


class _Refused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.answer = error_answer(status, code, message)


def _invalid(message: str) -> _Refused:
    return _Refused(400, "ValidationException", message)


class LocalKnowledge:
    """Knowledge bases and their operations; part of :class:`~.service.LocalBedrock`."""

    def __init__(self, region: str = "us-east-1") -> None:
        self.region = region
        self.knowledge_bases: dict[str, LocalKnowledgeBase] = {}
        #: RetrieveAndGenerate sessions: id -> the questions asked in it, and its KMS key.
        self.sessions: dict[str, list[str]] = {}
        self.session_keys: dict[str, str] = {}
        #: GetIngestionJob calls until a job completes.
        self.ingestion_polls = 2
        #: The most results one Retrieve answer holds (None: all that were asked for).
        self.page_size: int | None = None
        #: The default page size of the listings.
        self.list_page_size = 10
        self._lock = threading.RLock()

    # -- what tests control -----------------------------------------------------------------

    def add_knowledge_base(
        self,
        name: str,
        documents: Iterable[Document] = (),
        *,
        knowledge_base_id: str | None = None,
        description: str | None = None,
        data_source_id: str | None = None,
        data_source_name: str = "documents",
    ) -> LocalKnowledgeBase:
        """A knowledge base with one data source holding ``documents``, already indexed."""
        kb = LocalKnowledgeBase(knowledge_base_id=knowledge_base_id or _id(), name=name, description=description)
        source = data_source_id or _id()
        kb.data_sources[source] = (data_source_name, {d.uri: d for d in documents})
        kb.index = {uri: (source, d) for uri, d in kb.data_sources[source][1].items()}
        with self._lock:
            self.knowledge_bases[kb.knowledge_base_id] = kb
        return kb

    def put_document(self, knowledge_base_id: str, document: Document, data_source_id: str | None = None) -> None:
        """Add or change a document in a data source (the first by default); a sync indexes it."""
        kb = self.knowledge_bases[knowledge_base_id]
        with self._lock:
            kb.data_sources[data_source_id or kb.data_source_ids[0]][1][document.uri] = document

    def remove_document(self, knowledge_base_id: str, uri: str) -> None:
        """Delete a document from its data source; a sync takes it out of the index."""
        with self._lock:
            for _name, documents in self.knowledge_bases[knowledge_base_id].data_sources.values():
                documents.pop(uri, None)

    # -- operations ---------------------------------------------------------------------------

    def handle(self, operation: str, path: Mapping[str, str], body: Any) -> Answer:
        try:
            with self._lock:
                return getattr(self, f"_{operation}")(path, body if isinstance(body, Mapping) else {})  # type: ignore[no-any-return]
        except _Refused as refused:
            return refused.answer

    def _kb(self, knowledge_base_id: str) -> LocalKnowledgeBase:
        kb = self.knowledge_bases.get(knowledge_base_id)
        if kb is None:
            message = f"Knowledge Base with id {knowledge_base_id} does not exist"
            raise _Refused(404, "ResourceNotFoundException", message)
        return kb

    def _page(self, items: list[Any], body: Mapping[str, Any]) -> tuple[list[Any], str | None]:
        size = body.get("maxResults") or self.list_page_size
        start = int(base64.b64decode(body["nextToken"]).decode()) if body.get("nextToken") else 0
        end = start + size
        return items[start:end], base64.b64encode(str(end).encode()).decode() if end < len(items) else None

    def _list_knowledge_bases(self, path: Mapping[str, str], body: Mapping[str, Any]) -> Answer:
        summaries = [
            {"knowledgeBaseId": kb.knowledge_base_id, "name": kb.name, "status": kb.status, "updatedAt": kb.created_at,
             **({"description": kb.description} if kb.description else {})}
            for kb in sorted(self.knowledge_bases.values(), key=lambda kb: kb.name)
        ]  # fmt: skip
        page, token = self._page(summaries, body)
        return json_answer({"knowledgeBaseSummaries": page, **({"nextToken": token} if token else {})})

    def _get_knowledge_base(self, path: Mapping[str, str], body: Mapping[str, Any]) -> Answer:
        kb = self._kb(path["knowledgeBaseId"])
        arn = f"arn:aws:bedrock:{self.region}:123456789012:knowledge-base/{kb.knowledge_base_id}"
        data = {
            "knowledgeBaseId": kb.knowledge_base_id, "name": kb.name, "knowledgeBaseArn": arn,
            "roleArn": "arn:aws:iam::123456789012:role/local-kb", "status": kb.status,
            "knowledgeBaseConfiguration": {
                "type": "VECTOR",
                "vectorKnowledgeBaseConfiguration": {
                    "embeddingModelArn": f"arn:aws:bedrock:{self.region}::foundation-model/amazon.titan-embed-text-v2:0"
                },
            },
            "createdAt": kb.created_at, "updatedAt": kb.created_at,
            **({"description": kb.description} if kb.description else {}),
        }  # fmt: skip
        return json_answer({"knowledgeBase": data})

    def _list_data_sources(self, path: Mapping[str, str], body: Mapping[str, Any]) -> Answer:
        kb = self._kb(path["knowledgeBaseId"])
        summaries = [
            {"knowledgeBaseId": kb.knowledge_base_id, "dataSourceId": source, "name": name, "status": "AVAILABLE",
             "updatedAt": kb.created_at}
            for source, (name, _documents) in kb.data_sources.items()
        ]  # fmt: skip
        page, token = self._page(summaries, body)
        return json_answer({"dataSourceSummaries": page, **({"nextToken": token} if token else {})})

    # -- ingestion ------------------------------------------------------------------------------

    def _job_data(self, kb: LocalKnowledgeBase, job: _Job) -> dict[str, Any]:
        data = {
            "knowledgeBaseId": kb.knowledge_base_id, "dataSourceId": job.data_source_id,
            "ingestionJobId": job.job_id, "status": job.status, "startedAt": job.started_at,
            "updatedAt": job.updated_at, "statistics": dict(job.statistics),
        }  # fmt: skip
        if job.failure_reasons:
            data["failureReasons"] = list(job.failure_reasons)
        if job.description:
            data["description"] = job.description
        return data

    def _start_ingestion_job(self, path: Mapping[str, str], body: Mapping[str, Any]) -> Answer:
        kb = self._kb(path["knowledgeBaseId"])
        source = path["dataSourceId"]
        if source not in kb.data_sources:
            raise _Refused(404, "ResourceNotFoundException", f"Data source with id {source} does not exist")
        token = body.get("clientToken")
        if not isinstance(token, str) or len(token) < 33:
            raise _invalid("clientToken must be a string of 33 to 256 characters")
        for job in kb.jobs.values():
            if job.client_token == token:  # idempotent: the same token starts nothing new
                return json_answer({"ingestionJob": self._job_data(kb, job)}, status=202)
            if job.data_source_id == source and job.status not in ("COMPLETE", "FAILED", "STOPPED"):
                raise _Refused(
                    409, "ConflictException",
                    f"There is an ongoing ingestion job {job.job_id} for data source {source}. Wait for it to finish.",
                )  # fmt: skip
        job = _Job(job_id=_id(), data_source_id=source, client_token=token, description=body.get("description"))
        kb.jobs[job.job_id] = job
        return json_answer({"ingestionJob": self._job_data(kb, job)}, status=202)

    def _get_ingestion_job(self, path: Mapping[str, str], body: Mapping[str, Any]) -> Answer:
        kb = self._kb(path["knowledgeBaseId"])
        job = kb.jobs.get(path["ingestionJobId"])
        if job is None or job.data_source_id != path["dataSourceId"]:
            raise _Refused(404, "ResourceNotFoundException", f"Ingestion job {path['ingestionJobId']} does not exist")
        if job.status in ("STARTING", "IN_PROGRESS"):
            job.polls += 1
            documents = kb.data_sources[job.data_source_id][1]
            job.statistics = {"numberOfDocumentsScanned": len(documents) if job.polls > 1 else 0}
            job.status = "IN_PROGRESS"
            if job.polls >= self.ingestion_polls:
                self._finish(kb, job)
            job.updated_at = _now()
        return json_answer({"ingestionJob": self._job_data(kb, job)})

    def _finish(self, kb: LocalKnowledgeBase, job: _Job) -> None:
        documents = kb.data_sources[job.data_source_id][1]
        stats = dict.fromkeys(
            ("numberOfNewDocumentsIndexed", "numberOfModifiedDocumentsIndexed", "numberOfDocumentsDeleted",
             "numberOfDocumentsFailed"), 0,
        )  # fmt: skip
        for uri, document in documents.items():
            if not document.text.strip():
                stats["numberOfDocumentsFailed"] += 1
                job.failure_reasons.append(f"{uri}: the document holds no text to index")
                continue
            indexed = kb.index.get(uri)
            if indexed is None:
                stats["numberOfNewDocumentsIndexed"] += 1
            elif indexed[1] != document:
                stats["numberOfModifiedDocumentsIndexed"] += 1
            kb.index[uri] = (job.data_source_id, document)
        for uri in [u for u, (source, _d) in kb.index.items() if source == job.data_source_id and u not in documents]:
            del kb.index[uri]
            stats["numberOfDocumentsDeleted"] += 1
        job.statistics = {"numberOfDocumentsScanned": len(documents), **stats}
        failed_all = documents and stats["numberOfDocumentsFailed"] == len(documents)
        job.status = "FAILED" if failed_all else "COMPLETE"

    # -- retrieval ------------------------------------------------------------------------------

    def _search(self, kb: LocalKnowledgeBase, text: Any, configuration: Any) -> list[dict[str, Any]]:
        if not isinstance(text, str) or not text.strip():
            raise _invalid("retrievalQuery.text must be a non-empty string")
        search = (configuration or {}).get("vectorSearchConfiguration") or {}
        count = search.get("numberOfResults", 5)
        if not isinstance(count, int) or not 1 <= count <= 100:
            raise _invalid("numberOfResults must be between 1 and 100")
        where = search.get("filter")
        if where is not None:
            try:
                check(where)
            except FilterError as exc:
                raise _invalid(f"Invalid filter: {exc}") from None
        query = vector(text, 256)
        results: list[dict[str, Any]] = []
        for source, document, number, passage in kb.passages():
            chunk_id = f"{hashlib.sha256(document.uri.encode()).hexdigest()[:12]}-{number}"
            metadata = {
                **document.metadata,
                "x-amz-bedrock-kb-source-uri": document.uri,
                "x-amz-bedrock-kb-chunk-id": chunk_id,
                "x-amz-bedrock-kb-data-source-id": source,
            }
            if where is not None and not matches(where, metadata):
                continue
            score = round(_cosine(query, vector(passage, 256)), 6)
            results.append({
                "content": {"text": passage, "type": "TEXT"}, "location": _location(document.uri),
                "metadata": metadata, "score": score,
            })  # fmt: skip
        results.sort(key=lambda r: (-r["score"], r["metadata"]["x-amz-bedrock-kb-chunk-id"]))
        return results[:count]

    def _retrieve(self, path: Mapping[str, str], body: Mapping[str, Any]) -> Answer:
        kb = self._kb(path["knowledgeBaseId"])
        results = self._search(kb, (body.get("retrievalQuery") or {}).get("text"), body.get("retrievalConfiguration"))
        start = 0
        if body.get("nextToken"):
            try:
                start = int(base64.b64decode(body["nextToken"]).decode())
            except ValueError:
                raise _invalid("nextToken is not valid") from None
        end = len(results) if self.page_size is None else min(len(results), start + self.page_size)
        answer: dict[str, Any] = {"retrievalResults": results[start:end]}
        if end < len(results):
            answer["nextToken"] = base64.b64encode(str(end).encode()).decode()
        return json_answer(answer)

    def _rerank(self, _path: Mapping[str, str], body: Mapping[str, Any]) -> Answer:
        """Rerank: each inline text source scored by the cosine of its hashed words with the
        query's, mapped to 0..1; ``numberOfResults`` best, no paging."""
        queries = body.get("queries") or []
        if len(queries) != 1 or (queries[0].get("textQuery") or {}).get("text") in (None, ""):
            raise _invalid("queries must hold exactly one TEXT query with its text")
        configuration = (body.get("rerankingConfiguration") or {}).get("bedrockRerankingConfiguration") or {}
        arn = (configuration.get("modelConfiguration") or {}).get("modelArn")
        found = _MODEL_ARN.match(arn) if isinstance(arn, str) else None
        if found is None or found["model"] not in RERANK_MODELS or found["region"] != self.region:
            raise _invalid(f"The provided model ARN {arn} is not a reranking model of this region")
        sources = body.get("sources") or []
        if not 1 <= len(sources) <= 1000:
            raise _invalid("sources must hold 1 to 1000 documents")
        query = vector(queries[0]["textQuery"]["text"], 256)
        texts = [((s.get("inlineDocumentSource") or {}).get("textDocument") or {}).get("text", "") for s in sources]
        scored = [
            {"index": i, "relevanceScore": round((1 + _cosine(query, vector(text, 256))) / 2, 6)}
            for i, text in enumerate(texts)
        ]
        scored.sort(key=lambda r: (-r["relevanceScore"], r["index"]))
        return json_answer({"results": scored[: configuration.get("numberOfResults") or len(scored)]})

    def _retrieve_and_generate(self, path: Mapping[str, str], body: Mapping[str, Any]) -> Answer:
        question = (body.get("input") or {}).get("text")
        configuration = body.get("retrieveAndGenerateConfiguration") or {}
        if configuration.get("type") != "KNOWLEDGE_BASE" or "knowledgeBaseConfiguration" not in configuration:
            raise _invalid("retrieveAndGenerateConfiguration must be of type KNOWLEDGE_BASE with its configuration")
        settings = configuration["knowledgeBaseConfiguration"]
        self._check_model(settings.get("modelArn"))
        kb = self._kb(settings.get("knowledgeBaseId", ""))
        generation = settings.get("generationConfiguration") or {}
        template = (generation.get("promptTemplate") or {}).get("textPromptTemplate")
        if template is not None and "$search_results$" not in template:
            raise _invalid("The prompt template must contain the $search_results$ placeholder")
        session = self._session(body)
        results = self._search(kb, question, settings.get("retrievalConfiguration"))
        answer: dict[str, Any] = {"sessionId": session}
        guardrail = generation.get("guardrailConfiguration")
        if guardrail is not None and "forbidden" in str(question).lower():
            answer.update(output={"text": "Sorry, the model cannot answer this question."})
            answer["guardrailAction"] = "INTERVENED"
            return json_answer(answer)
        text, citations = self._generate(results, generation)
        self.sessions[session].append(str(question))
        answer.update(output={"text": text}, citations=citations)
        if guardrail is not None:
            answer["guardrailAction"] = "NONE"
        return json_answer(answer)

    def _check_model(self, arn: Any) -> None:
        found = _MODEL_ARN.match(arn) if isinstance(arn, str) else None
        model = found["model"] if found else None
        if model is None and isinstance(arn, str) and _PROFILE.match(arn):
            model = _PROFILE.match(arn)["model"]  # type: ignore[index]
        known = {m["modelId"] for m in FOUNDATION_MODELS if m["outputModalities"] == ["TEXT"]}
        if model not in known or (found is not None and found["region"] != self.region):
            raise _invalid(f"The provided model ARN {arn} is not valid for this region or does not generate text")

    def _session(self, body: Mapping[str, Any]) -> str:
        given = body.get("sessionId")
        key = (body.get("sessionConfiguration") or {}).get("kmsKeyArn")
        if key is not None and not _KMS_KEY.match(key):
            raise _invalid("sessionConfiguration.kmsKeyArn is not a KMS key ARN")
        if given is None:
            session = str(uuid.uuid4())
            self.sessions[session] = []
            if key:
                self.session_keys[session] = key
            return session
        if given not in self.sessions:
            raise _invalid(f"Session with Id {given} is not valid. Please check and try again.")
        if self.session_keys.get(given) != key:
            raise _invalid(f"The KMS key of session {given} does not match the one it was created with")
        return str(given)

    def _generate(self, results: list[dict[str, Any]], generation: Mapping[str, Any]) -> tuple[str, list[Any]]:
        """The answer: the first sentence of each of the two best passages, each cited."""
        if not results or results[0]["score"] <= 0:
            return NO_ANSWER, []
        limit = ((generation.get("inferenceConfig") or {}).get("textInferenceConfig") or {}).get("maxTokens")
        parts: list[str] = []
        citations: list[Any] = []
        position = 0
        for result in results[:2]:
            sentence = _SENTENCE.match(result["content"]["text"])
            text = (sentence[0] if sentence else result["content"]["text"]).strip()
            if limit is not None:
                text = " ".join(text.split()[:limit])
            if parts:
                position += 1  # the space between the sentences
            span = {"start": position, "end": position + len(text) - 1}  # Bedrock's end is inclusive
            citations.append({
                "generatedResponsePart": {"textResponsePart": {"text": text, "span": span}},
                "retrievedReferences": [{k: result[k] for k in ("content", "location", "metadata")}],
            })  # fmt: skip
            parts.append(text)
            position += len(text)
        return " ".join(parts), citations
