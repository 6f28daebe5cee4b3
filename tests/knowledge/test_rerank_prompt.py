"""The chat-model reranker's prompt and the reading of its answers: the shapes models write, and
the answers that cannot be read."""

from __future__ import annotations

import pytest

from genai_commons import DeployedModel, ProviderError, Response
from genai_commons.knowledge.rerank_prompt import MAX_PASSAGE_CHARS, read_scores, rerank_request, response_from

MODEL = DeployedModel(provider="fake", model_id="chat")


@pytest.mark.parametrize(
    ("answer", "scores"),
    [
        ('{"scores": {"1": 7, "2": 0}}', {0: 0.7, 1: 0.0}),
        ('{"1": 10, "2": 3.5}', {0: 1.0, 1: 0.35}),
        ('{"scores": [4, 8]}', {0: 0.4, 1: 0.8}),
        ('[{"passage": 2, "score": 6}, {"id": "1", "relevance": "9"}]', {1: 0.6, 0: 0.9}),
        ('Sure!\n```json\n{"scores": {"[1]": 12, "2": -3}}\n```\nHope that helps.', {0: 1.0, 1: 0.0}),
        ('The scores: {"scores": {"passage 2": 5}} as asked', {1: 0.5}),
        ('{"scores": {"1": true, "2": 4, "9": 8}}', {1: 0.4}),
    ],
)
def test_answers_in_the_shapes_models_write_are_read(answer: str, scores: dict[int, float]) -> None:
    assert read_scores(answer, 2) == pytest.approx(scores)


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        ("Passage 2 is the best.", "did not answer with JSON"),
        ('{"verdict": "good"}', "holds no scores"),
        ('{"scores": {"5": 3}}', "scored no passage numbered 1 to 2"),
        ("[" * 5000 + "]" * 5000, "did not answer with JSON"),
    ],
)
def test_unreadable_answers_are_provider_errors(answer: str, why: str) -> None:
    with pytest.raises(ProviderError, match=why):
        read_scores(answer, 2)


def test_the_prompt_numbers_the_passages_and_clips_long_ones() -> None:
    request = rerank_request("what is due?", ["Invoices\nare due.", "x" * (MAX_PASSAGE_CHARS + 50)])
    [message] = request.messages
    text = message.content or ""
    assert "Query: what is due?" in text and "[1] Invoices are due." in text
    assert "x" * MAX_PASSAGE_CHARS + " …" in text and "x" * (MAX_PASSAGE_CHARS + 1) not in text
    assert request.temperature is None and request.max_tokens is None


def test_a_response_orders_scored_then_unscored_and_keeps_usage() -> None:
    answer = Response.of_text('{"scores": {"3": 5, "1": 5}}', input_tokens=40, output_tokens=6)
    result = response_from(answer, 4, 3, MODEL)
    assert result.indexes == [0, 2, 1]
    assert (result.input_tokens, result.output_tokens, result.total_tokens) == (40, 6, 46)
