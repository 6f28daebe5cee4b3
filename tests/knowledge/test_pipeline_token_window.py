"""The ingestion pipeline keeps chunks within the embedding model's window, counted by its
provider (``genai_count_tokens``) or estimated; embedding longer texts directly warns once."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import structlog

from genai_commons import Config, DeployedModel, Host, KnowledgeBase
from genai_commons.knowledge import Document, Ingestor
from genai_commons.knowledge.token_limits import estimate_tokens
from genai_commons.testing import FakeProvider, default_models

WINDOW = 40


class CountingProvider(FakeProvider):
    """A fake whose tokenizer makes one token of every character that is not a space."""

    def count_tokens(self, model: DeployedModel, texts: Sequence[str]) -> Sequence[int] | None:
        if model.model_id != "windowed":
            return None
        self.counted = getattr(self, "counted", 0) + len(texts)
        return [sum(not ch.isspace() for ch in text) + 2 for text in texts]


def windowed(provider: str = "fake") -> DeployedModel:
    return DeployedModel(provider=provider, model_id="windowed", output_modality="embeddings", max_input_tokens=WINDOW)


def make_host(tmp_path: Path, provider: FakeProvider) -> Host:
    return Host(Config.defaults(tmp_path / "home"), load_entry_points=False, plugins=[provider])


TEXT = "# Guide\n\n## Install\n\n" + " ".join(f"word{n}" for n in range(60)) + "\n\nShort end.\n"
DOCUMENT = Document(source_id="guide.md", text=TEXT, title="Guide", format="markdown")


def test_the_host_routes_token_counts_to_the_models_provider(tmp_path: Path) -> None:
    provider = CountingProvider(models=[*default_models(), windowed()])
    host = make_host(tmp_path, provider)
    assert host.count_tokens("fake:windowed", ["a b", "abc"]) == [4, 5]
    assert host.count_tokens("fake:embed", ["a b"]) is None, "a model the provider cannot count"


def test_chunks_fit_the_window_in_the_providers_tokens(tmp_path: Path) -> None:
    provider = CountingProvider(models=[*default_models(), windowed()])
    host = make_host(tmp_path, provider)
    kb = KnowledgeBase(provider="fake", name="docs", collection="docs", embedding_model=host.model("fake:windowed"))
    chunks = Ingestor(host, kb, progress=False).chunks_of(DOCUMENT)
    counts = host.count_tokens("fake:windowed", [c.input_text for c in chunks])
    assert counts is not None and len(chunks) > 3 and max(counts) <= WINDOW, counts
    assert provider.counted > 0
    assert all(f"word{n}" in " ".join(c.input_text for c in chunks) for n in range(60)), "split, not truncated"
    assert [c.metadata.get("headings") for c in chunks] == ["Guide > Install"] * len(chunks)


def test_without_a_count_the_estimate_keeps_chunks_within_the_window(tmp_path: Path) -> None:
    host = make_host(tmp_path, FakeProvider(models=[*default_models(), windowed()]))
    kb = KnowledgeBase(provider="fake", name="docs", collection="docs", embedding_model=host.model("fake:windowed"))
    chunks = Ingestor(host, kb, progress=False).chunks_of(DOCUMENT)
    assert max(estimate_tokens([c.input_text for c in chunks])) <= WINDOW
    assert len(chunks) > 3


def test_the_estimate_is_conservative_for_word_pieces() -> None:
    assert estimate_tokens(["hello world"]) == [6]  # 11 bytes / 3, rounded up, + 2 special tokens
    assert estimate_tokens(["a,b,c,d"]) == [9]  # 7 single-character tokens + 2
    assert estimate_tokens(["日本語"]) == [5]  # 9 bytes / 3 + 2


def test_a_model_without_a_window_leaves_the_chunker_alone(tmp_path: Path) -> None:
    host = make_host(tmp_path, CountingProvider())
    kb = KnowledgeBase(provider="fake", name="docs", collection="docs", embedding_model=host.model("fake:embed"))
    assert Ingestor(host, kb, progress=False).chunker.limit is None


def test_embedding_texts_over_the_window_warns_once_per_model_without_the_text(tmp_path: Path) -> None:
    host = make_host(tmp_path, CountingProvider(models=[*default_models(), windowed()]))
    secret = "confidential " * 20
    with structlog.testing.capture_logs() as logs:
        host.embed("fake:windowed", ["short text"])
        host.embed("fake:windowed", [secret])
        host.embed("fake:windowed", [secret, secret])
    warnings = [entry for entry in logs if entry["event"] == "embedding_input_truncated"]
    assert len(warnings) == 1, logs
    assert warnings[0]["model"] == "fake:windowed" and warnings[0]["max_input_tokens"] == WINDOW
    assert "confidential" not in repr(warnings[0])
