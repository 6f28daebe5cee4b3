"""An OpenAI chat model as a reranker: the host's rerank prompt goes out as one chat completion
through ``httpx.MockTransport``, the JSON answer becomes the ranking, the usage one rerank record."""

from __future__ import annotations

import asyncio

import pytest

from genai_commons import ProviderError
from genai_commons_openai.testing import FakeOpenAI

TEXTS = ["Cats purr.", "Invoices are due within 30 days.", "Dogs bark."]


def test_a_chat_model_reranks_over_the_wire(mock_host, service: FakeOpenAI, recorder) -> None:
    host = mock_host()
    service.script('```json\n{"scores": {"1": 1, "2": 10, "3": 0}}\n```')
    result = host.rerank("openai:gpt-4o-mini", "when are invoices due?", TEXTS, top_n=2)
    assert result.indexes == [1, 0]
    assert [r.relevance_score for r in result] == [1.0, 0.1]
    sent = service.calls[-1]
    assert sent.path == "/v1/chat/completions"
    [message] = sent.body["messages"]
    assert message["role"] == "user" and "[2] Invoices are due within 30 days." in message["content"]
    assert "temperature" not in sent.body
    assert recorder.operations == ["rerank"]
    assert recorder.last.provider == "openai" and recorder.last.input_tokens > 0


def test_an_unreadable_answer_is_an_error_and_async_works(mock_host, service: FakeOpenAI, recorder) -> None:
    host = mock_host()
    service.script("The second passage answers it.")
    with pytest.raises(ProviderError, match="no readable relevance scores") as info:
        host.rerank("openai:gpt-4o-mini", "q", TEXTS)
    assert info.value.provider == "openai"
    service.script('{"scores": [2, 3, 9]}')
    result = asyncio.run(host.arerank("openai:gpt-4o-mini", "q", TEXTS))
    assert result.indexes == [2, 1, 0]
    assert recorder.operations == ["rerank"]
