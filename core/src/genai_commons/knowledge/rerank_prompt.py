"""A chat model as a reranker: the prompt that asks it for relevance scores, and the reading of its
answer.

The host sends one request per rerank call (listwise): the query and the numbered candidates in a
single user message, asking for a JSON object that gives each passage number a score from 0 (does
not help answer the query) to 10 (answers it fully). :func:`read_scores` accepts the shapes models
write in practice — ``{"scores": {"1": 7, "2": 0}}``, ``{"1": 7}``, ``{"scores": [7, 0]}``,
``[{"passage": 1, "score": 7}]`` — inside a Markdown code fence or surrounded by prose. Scores are
divided by 10 (clamped to 0..10), so they read like a rerank model's 0..1; a candidate the model
did not score follows the scored ones, in its original order, with score 0. An answer with no
readable score at all is a :class:`ProviderError`.

The prompt holds the user's query and document text: it is never logged above DEBUG, nor stored.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import ProviderError
from ..jsonparse import loads
from ..model.chat import Request
from ..model.rerank import RerankResponse, RerankResult

if TYPE_CHECKING:
    from ..model import DeployedModel, Response

#: The instructions at the top of the prompt.
INSTRUCTIONS = (
    "You are a search relevance judge. Rate how well each numbered passage below helps answer the "
    "query, on a scale from 0 (irrelevant) to 10 (answers the query fully). Judge each passage on "
    "its own content. Reply with JSON only, no other text, in the form "
    '{"scores": {"1": 7, "2": 0}}, with one entry for every passage number.'
)
#: Characters of each candidate put in the prompt; the rest is left out.
MAX_PASSAGE_CHARS = 2000
#: The top of the 0..max scale the prompt asks for.
SCALE = 10.0

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)
_SCORE_KEYS = ("score", "relevance", "relevance_score", "rating")
_ID_KEYS = ("passage", "id", "index", "number", "n")


def rerank_request(query: str, documents: Sequence[str]) -> Request:
    """The chat request that asks for a relevance score of every document (one user message)."""
    passages = "\n\n".join(f"[{number}] {_clip(text)}" for number, text in enumerate(documents, start=1))
    prompt = f"{INSTRUCTIONS}\n\nQuery: {query}\n\nPassages:\n\n{passages}\n\nJSON:"
    # No temperature or max_tokens: reasoning models refuse the first and need room beyond the second.
    return Request.from_prompt(prompt)


def _clip(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= MAX_PASSAGE_CHARS else flat[:MAX_PASSAGE_CHARS] + " …"


def read_scores(text: str, count: int) -> dict[int, float]:
    """The scores in a chat model's answer, by candidate index (0-based), each 0 to 1; candidates
    the answer does not score (or numbers out of range) are absent.

    :raises ProviderError: when the answer holds no readable score.
    """
    value = _json_in(text)
    raw = _scores_of(value) if value is not None else None
    if not raw:
        raise _unreadable("it did not answer with JSON scores" if value is None else "its JSON holds no scores")
    scores: dict[int, float] = {}
    for number, score in raw.items():
        if 1 <= number <= count and number - 1 not in scores:
            scores[number - 1] = min(max(score, 0.0), SCALE) / SCALE
    if not scores:
        raise _unreadable(f"it scored no passage numbered 1 to {count}")
    return scores


def response_from(answer: Response, count: int, wanted: int, model: DeployedModel) -> RerankResponse:
    """The rerank response of a chat model's answer: scored candidates best first (ties keep their
    order), then the unscored ones in their order with score 0, cut to ``wanted``."""
    try:
        scores = read_scores(answer.text or "", count)
    except ProviderError as exc:
        exc.provider = model.provider
        raise
    ranked = sorted(scores, key=lambda i: (-scores[i], i))
    ranked += [i for i in range(count) if i not in scores]
    results = [RerankResult(index=i, relevance_score=scores.get(i, 0.0)) for i in ranked[:wanted]]
    return RerankResponse(
        results=results,
        input_tokens=answer.input_tokens,
        output_tokens=answer.output_tokens,
        total_tokens=answer.total_tokens,
        duration_ms=answer.duration_ms,
        model_id=answer.model_id or model.model_id,
    )


def _unreadable(why: str) -> ProviderError:
    return ProviderError(
        f"the chat model used as a reranker gave no readable relevance scores ({why}); use a model that "
        "follows JSON instructions better, or a rerank model (see `genai models`)",
        provider="",
        code="unreadable_rerank_scores",
    )


def _json_in(text: str) -> Any:
    """The first JSON value in the answer: the whole text, a fenced block, or the outermost
    ``{...}`` / ``[...]`` span; None when there is none."""
    candidates = [text.strip(), *(m.group(1).strip() for m in _FENCE.finditer(text))]
    for opening, closing in (("{", "}"), ("[", "]")):
        start, end = text.find(opening), text.rfind(closing)
        if 0 <= start < end:
            candidates.append(text[start : end + 1])
    for candidate in candidates:
        if not candidate:
            continue
        try:
            return loads(candidate)
        except ValueError:
            continue
    return None


def _number(value: Any) -> float | None:
    """A score as a finite float; None for anything else (booleans included)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def _passage(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        digits = value.strip().strip("[]#").removeprefix("passage").strip()
        return int(digits) if digits.isdigit() else None
    return None


def _scores_of(value: Any) -> dict[int, float]:
    """Passage number (1-based) to raw score, from any of the accepted shapes."""
    if isinstance(value, Mapping):
        for key in ("scores", "ratings", "results", "passages"):
            if key in value:
                return _scores_of(value[key])
        return _from_mapping(value)
    if isinstance(value, list):
        if all(_number(v) is not None for v in value):
            return {n: s for n, v in enumerate(value, start=1) if (s := _number(v)) is not None}
        return _from_items(value)
    return {}


def _from_mapping(value: Mapping[Any, Any]) -> dict[int, float]:
    out: dict[int, float] = {}
    for key, item in value.items():
        number, score = _passage(key), _number(item)
        if number is not None and score is not None:
            out.setdefault(number, score)
    return out


def _from_items(items: list[Any]) -> dict[int, float]:
    out: dict[int, float] = {}
    for position, item in enumerate(items, start=1):
        if not isinstance(item, Mapping):
            continue
        number = next((_passage(item[k]) for k in _ID_KEYS if k in item), position)
        score = next((_number(item[k]) for k in _SCORE_KEYS if k in item), None)
        if number is not None and score is not None:
            out.setdefault(number, score)
    return out
