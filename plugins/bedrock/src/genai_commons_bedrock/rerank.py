"""Reranking with Bedrock's rerank models: the Rerank operation of ``bedrock-agent-runtime``.

Rerank takes the query and up to 1,000 inline text sources and answers each source's ``index``
and ``relevanceScore`` (0 to 1), most relevant first; a long answer comes in pages
(``nextToken``), which are followed. The model is named by ARN: a model id such as
``amazon.rerank-v1:0`` or ``cohere.rerank-v3-5:0`` becomes
``arn:aws:bedrock:REGION::foundation-model/ID``; an ARN is sent as it is. Rerank reports no token
usage: the host records the call with its duration only.
"""

from __future__ import annotations

import math
import time
from typing import Any

from genai_commons import ConfigurationError, DeployedModel, ValidationError
from genai_commons.model import RerankRequest, RerankResponse, RerankResult

from .errors import translated_errors
from .families import base_model_id

#: The most sources one Rerank call takes.
MAX_SOURCES = 1000
#: The most characters of a query or a source; longer sources are cut (the models read far less).
MAX_TEXT = 32_000
#: Pages of results read at most, whatever the service answers.
_MAX_PAGES = 100


def model_arn(model: DeployedModel, region: str | None) -> str:
    """The ``modelArn`` of a rerank model: its ARN, or the foundation-model ARN of its id."""
    if model.model_id.startswith("arn:"):
        return model.model_id
    if not region:
        raise ConfigurationError(
            f"reranking with {model.ref} needs a region for the model's ARN: set region in [providers.bedrock] "
            "or AWS_REGION, or name the model by its ARN"
        )
    return f"arn:aws:bedrock:{region}::foundation-model/{base_model_id(model.model_id)}"


def rerank_request(model: DeployedModel, request: RerankRequest, region: str | None) -> dict[str, Any]:
    """The keyword arguments of Rerank."""
    if len(request.documents) > MAX_SOURCES:
        raise ValidationError(
            f"Bedrock reranks at most {MAX_SOURCES} documents in one call, got {len(request.documents)}; "
            "give fewer candidates (rerank_candidates, --rerank-candidates)"
        )
    if len(request.query) > MAX_TEXT:
        raise ValidationError(f"Bedrock's rerank query is at most {MAX_TEXT} characters, got {len(request.query)}")
    return {
        "queries": [{"type": "TEXT", "textQuery": {"text": request.query}}],
        "sources": [
            {"type": "INLINE", "inlineDocumentSource": {"type": "TEXT", "textDocument": {"text": text[:MAX_TEXT]}}}
            for text in request.documents
        ],
        "rerankingConfiguration": {
            "type": "BEDROCK_RERANKING_MODEL",
            "bedrockRerankingConfiguration": {
                "numberOfResults": request.wanted,
                "modelConfiguration": {"modelArn": model_arn(model, region)},
            },
        },
    }


def _score(value: Any) -> float:
    score = float(value)
    return min(max(score, 0.0), 1.0) if math.isfinite(score) else 0.0


def rerank(client: Any, model: DeployedModel, request: RerankRequest, *, region: str | None) -> RerankResponse:
    """Rerank the request's documents, following ``nextToken``; the results most relevant first,
    at most ``request.wanted``, each candidate once."""
    kwargs = rerank_request(model, request, region)
    started = time.perf_counter()
    found: dict[int, float] = {}
    token = None
    for _ in range(_MAX_PAGES):
        with translated_errors(region=region, model_id=model.model_id):
            page = client.rerank(**kwargs, **({"nextToken": token} if token else {}))
        results = page.get("results") or []
        for result in results:
            index = int(result["index"])
            if 0 <= index < len(request.documents):
                found.setdefault(index, _score(result["relevanceScore"]))
        token = page.get("nextToken")
        if not token or not results or len(found) >= request.wanted:
            break
    ranked = sorted(found.items(), key=lambda item: -item[1])[: request.wanted]
    return RerankResponse(
        results=[RerankResult(index=index, relevance_score=score) for index, score in ranked],
        duration_ms=(time.perf_counter() - started) * 1000,
        model_id=model.model_id,
    )
