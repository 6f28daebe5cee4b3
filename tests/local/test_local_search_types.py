"""Keyword and hybrid search in the local store: the FTS5 index kept in the same transactions as
the chunks, stemming, BM25, query text that is never FTS5 syntax, common words, the fusion, the
migration of a store written before search types, and a keyword search that loads no model."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from local_helpers import MakeProvider, chunk, collection

from genai_commons import (
    ChunkCollection,
    DeployedModel,
    Host,
    IngestMode,
    KnowledgeBase,
    Modality,
    RetrievalQuery,
    SearchType,
    ValidationError,
)
from genai_commons.config import KnowledgeSettings
from genai_commons.knowledge.fusion import keyword_similarity
from genai_commons.testing import FakeProvider, UsageRecorder
from genai_commons.testing.pytest_plugin import MakeHost
from genai_commons_local import LocalProvider
from genai_commons_local.keywords import AUTOMERGE, COMMON_MIN, TOKENIZER, match_expression, table, terms
from genai_commons_local.settings import LocalSettings
from genai_commons_local.store import PAGE_SIZE, SCHEMA_VERSION, KnowledgeStore

TEXTS = {
    "run": "The dogs were running through the park.",
    "cafe": "Meet me at the café on the corner.",
    "bm25": "Retrieval ranks passages with BM25 and reciprocal rank fusion.",
    "quota": "ERR_QUOTA_42 means the monthly token quota ran out.",
    "plain": "Nothing special is written here.",
}


def keyword(provider: LocalProvider, kb: KnowledgeBase, text: str, k: int = 10, **extra: object) -> list[str]:
    query = RetrievalQuery(text=text, k=k, search_type=SearchType.KEYWORD, **extra)  # type: ignore[arg-type]
    return [c.chunk_id for c in provider.retrieve(kb, query)]


@pytest.fixture
def filled(provider: LocalProvider, kb: KnowledgeBase) -> LocalProvider:
    chunks = [chunk(cid, [1.0, float(i)], text=text, source=cid) for i, (cid, text) in enumerate(TEXTS.items())]
    provider.ingest(kb, collection(*chunks), IngestMode.INSERT)
    return provider


def fts_intact(database: Path, collection_id: int = 1) -> None:
    """The collection's index holds exactly the words of its chunk rows: FTS5's check of the index
    itself, then every term occurrence compared with an index built afresh from the rows."""
    name = table(collection_id)
    with sqlite3.connect(database) as conn:
        conn.execute(f"INSERT INTO {name} ({name}, rank) VALUES ('integrity-check', 0)")
        conn.execute(f"CREATE VIRTUAL TABLE temp.expected USING fts5(input_text, tokenize='{TOKENIZER}')")
        conn.execute(
            "INSERT INTO temp.expected (rowid, input_text) SELECT id, input_text FROM chunks WHERE collection_id = ?",
            (collection_id,),
        )
        conn.execute(f"CREATE VIRTUAL TABLE temp.actual_words USING fts5vocab(main, {name}, 'instance')")
        conn.execute("CREATE VIRTUAL TABLE temp.expected_words USING fts5vocab(temp, expected, 'instance')")
        actual = sorted(conn.execute("SELECT term, doc, offset FROM temp.actual_words"))
        expected = sorted(conn.execute("SELECT term, doc, offset FROM temp.expected_words"))
    conn.close()
    assert actual == expected


# -- the index and its queries --------------------------------------------------------------


def test_keyword_search_stems_and_folds_diacritics(filled: LocalProvider, kb: KnowledgeBase) -> None:
    assert keyword(filled, kb, "run") == ["run"]  # "running", stemmed
    assert keyword(filled, kb, "CAFE") == ["cafe"]  # case and diacritics folded
    assert keyword(filled, kb, "bm25 ranking")[0] == "bm25"
    assert keyword(filled, kb, "err_quota_42") == ["quota"]  # "_" separates words, as FTS5 does


def test_words_are_joined_by_or_and_ranked_by_bm25(filled: LocalProvider, kb: KnowledgeBase) -> None:
    # A question worded unlike the passage still finds it through any one of its words.
    assert keyword(filled, kb, "how do I rank search results with fusion?") == ["bm25"]
    found = filled.retrieve(kb, RetrievalQuery(text="monthly park", k=5, search_type="keyword"))
    assert {c.chunk_id for c in found} == {"quota", "run"}
    assert all(0 < (c.similarity or 0) < 1 for c in found)
    assert found.chunks[0].similarity == pytest.approx(max(c.similarity or 0 for c in found))
    # Common English words are left out, unless nothing else is left.
    assert terms("How do I rotate the keys?") == ["rotate", "keys"]
    assert terms("the who") == ["the", "who"]
    assert keyword(filled, kb, "the") != []
    assert keyword(filled, kb, "?!") == []  # no word at all: nothing can match


def test_min_similarity_applies_to_the_keyword_similarity(filled: LocalProvider, kb: KnowledgeBase) -> None:
    found = filled.retrieve(kb, RetrievalQuery(text="park café", k=5, search_type="keyword"))
    similarities = sorted(c.similarity or 0 for c in found)
    assert len(similarities) == 2
    between = (similarities[0] + similarities[1]) / 2
    assert len(keyword(filled, kb, "park café", min_similarity=between)) == 1
    assert keyword_similarity(10) == 0.5


RUN, BOTH, NONE = {"run"}, {"run", "cafe"}, set()
#: Query texts and the chunks they find: words match, whatever surrounds them; nothing is syntax.
ADVERSARIAL = [
    ('"', NONE),
    ('"run"', RUN),
    ('run" OR "cafe', BOTH),
    ("NEAR(run cafe)", BOTH),
    ("run NEAR cafe", BOTH),
    ("run AND cafe", BOTH),  # no AND: any word
    ("run NOT cafe", BOTH),  # no NOT
    ("OR", NONE),
    ("*", NONE),
    ("ru*", NONE),  # no prefix search
    ("-run", RUN),
    ("^run", RUN),
    ("+run", RUN),
    ("input_text:run", RUN),  # no column filter
    ("{input_text}: run", RUN),
    ("(run", RUN),
    ("run)", RUN),
    ("run\x00cafe", BOTH),
    ("\x00", NONE),
    ("\U0001f525 run \U0001f525", RUN),
    ("\U0001f4a9", NONE),
    ("\\", NONE),
    ("run'; DROP TABLE chunks; --", RUN),
    ("chunks_fts_1 MATCH 'x'", NONE),
    ("a" * 5000, NONE),
    (" ".join(["run"] * 500), RUN),
    ("\u202erun", RUN),
    ("caf\u00e9 CAFE\u0301", {"cafe"}),  # composed and decomposed accents
]


@pytest.mark.parametrize(("text", "expected"), ADVERSARIAL, ids=[ascii(t)[:24] for t, _ in ADVERSARIAL])
def test_query_text_is_never_fts5_syntax(
    filled: LocalProvider, kb: KnowledgeBase, database: Path, text: str, expected: set[str]
) -> None:
    assert set(keyword(filled, kb, text)) == expected
    fts_intact(database)
    with sqlite3.connect(database) as conn:
        assert conn.execute("SELECT COUNT(*) FROM chunks").fetchone() == (len(TEXTS),)
    conn.close()


def test_the_match_expression_holds_only_quoted_words() -> None:
    expression = match_expression('say "NEAR" (a* OR b) -c input:d 🔥 \x00')
    assert expression == '"say" OR "near" OR "b" OR "c" OR "input" OR "d"'  # "a" and "or": common English
    assert match_expression("!!! ???") is None
    assert match_expression(" ".join(f"w{i}" for i in range(200))).count(" OR ") == 63  # at most 64 words


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet=st.sampled_from("\"*()-:^+_.,;'\\ \x00\n\tNEARORANDNOTabc🔥é"), min_size=1, max_size=40))
def test_any_text_is_a_safe_query(filled: LocalProvider, kb: KnowledgeBase, text: str) -> None:
    if not text.strip():
        return
    assert set(keyword(filled, kb, text)) <= set(TEXTS)


# -- the index in the same transactions as the chunks -----------------------------------------


def test_every_write_keeps_the_index_in_step(provider: LocalProvider, kb: KnowledgeBase, database: Path) -> None:
    provider.ingest(kb, collection(chunk("a", [1.0, 0.0], text="apples are red", source="s")), "insert")
    assert keyword(provider, kb, "apples") == ["a"]
    # A changed chunk (same id, new text) is replaced: the old words go, the new ones come.
    provider.ingest(kb, collection(chunk("a", [1.0, 0.0], text="pears are green", source="s")), "insert")
    assert keyword(provider, kb, "apples") == [] and keyword(provider, kb, "pears") == ["a"]
    # Replace: the source's other chunks go.
    provider.ingest(kb, collection(chunk("b", [0.0, 1.0], text="plums are blue", source="s")), "replace")
    assert keyword(provider, kb, "pears plums") == ["b"]
    provider.ingest(kb, collection(chunk("c", [1.0, 1.0], text="plums again", source="t")), "insert")
    fts_intact(database)
    assert provider.delete_chunks(kb, ["s"]) == 1
    assert keyword(provider, kb, "plums") == ["c"]
    provider.ingest(kb, collection(chunk("d", [1.0, 1.0], text="figs", source="u")), "repopulate")
    assert keyword(provider, kb, "plums figs") == ["d"]
    fts_intact(database)
    assert provider.drop_collection(kb)
    with sqlite3.connect(database) as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE name LIKE 'chunks_fts%'")}
    conn.close()
    assert names == set()  # the index and its triggers went with the collection
    provider.ingest(kb, collection(chunk("e", [1.0, 0.0], text="figs return")), "insert")
    assert keyword(provider, kb, "figs") == ["e"]


def test_a_failed_write_leaves_the_index_as_it_was(provider: LocalProvider, kb: KnowledgeBase, database: Path) -> None:
    from genai_commons_local.ingestion import insert_rows
    from genai_commons_local.wire import chunk_rows

    provider.ingest(kb, collection(chunk("a", [1.0, 0.0], text="apples")), "insert")
    store = KnowledgeStore(database)
    info = store.collection(kb.collection)
    assert info is not None
    with pytest.raises(RuntimeError), store._writing() as conn:  # the store's own write transaction
        insert_rows(conn, info.id, chunk_rows(collection(chunk("b", [1.0, 0.0], text="bananas"))))
        conn.execute("DELETE FROM chunks WHERE chunk_id = 'a'")
        raise RuntimeError("the process dies here")
    store.close()
    assert keyword(provider, kb, "bananas apples") == ["a"]
    fts_intact(database)


def test_merged_segments_keep_the_index_whole(provider: LocalProvider, kb: KnowledgeBase, database: Path) -> None:
    # Each ingestion writes a segment; every AUTOMERGE of a level are merged into one of the next.
    words = ["apples", "pears", "plums", "figs", "dates", "limes", "kiwis", "mangos", "grapes"]
    for round_ in range(3):
        for number, word in enumerate(words):
            text = f"{word} round {round_} basket {number}"
            provider.ingest(kb, collection(chunk(f"{word}-{round_}", [1.0, float(number)], text=text)), "insert")
    with sqlite3.connect(database) as conn:
        name = table(1)
        (automerge,) = conn.execute(f"SELECT v FROM {name}_config WHERE k = 'automerge'").fetchone()
        (page_size,) = conn.execute("PRAGMA page_size").fetchone()
    conn.close()
    assert (automerge, page_size) == (AUTOMERGE, PAGE_SIZE)
    fts_intact(database)
    assert sorted(keyword(provider, kb, "plums", k=50)) == ["plums-0", "plums-1", "plums-2"]
    assert len(keyword(provider, kb, "basket", k=50)) == 3 * len(words)


def test_collections_are_searched_apart(provider: LocalProvider) -> None:
    first, second = KnowledgeBase(provider="local", name="one"), KnowledgeBase(provider="local", name="two")
    provider.ingest(first, collection(chunk("x", [1.0, 0.0], text="shared word")), "insert")
    provider.ingest(second, collection(chunk("y", [1.0, 0.0], text="shared word")), "insert")
    assert keyword(provider, first, "shared") == ["x"] and keyword(provider, second, "shared") == ["y"]


def test_common_words_are_left_out_of_large_collections(provider: LocalProvider, kb: KnowledgeBase) -> None:
    count = COMMON_MIN + 500
    chunks = [
        chunk(f"c{i}", [1.0, float(i)], text=f"common filler {'needle' if i % 500 == 0 else 'hay'} n{i}")
        for i in range(count)
    ]
    provider.ingest(kb, collection(*chunks), "insert")
    # "common" is in every chunk: with a rarer word, only the rarer word's chunks are candidates.
    assert set(keyword(provider, kb, "common needle", k=50)) == {f"c{i}" for i in range(0, count, 500)}
    assert len(keyword(provider, kb, "common filler", k=50)) == 50  # nothing rarer: searched as asked
    # What is common is remembered per version: after a write, words are counted again.
    extra = [chunk(f"x{i}", [1.0, 0.5], text=f"needle x{i}") for i in range(200)]
    provider.ingest(kb, collection(*extra), "insert")
    assert len(keyword(provider, kb, "common needle", k=500)) == 5 + 200


# -- hybrid ---------------------------------------------------------------------------------


def test_hybrid_fuses_both_rankings(provider: LocalProvider, kb: KnowledgeBase) -> None:
    provider.ingest(
        kb,
        collection(
            chunk("near", [1.0, 0.0], text="unrelated words entirely"),
            chunk("both", [0.9, 0.1], text="zebra zebra code"),
            chunk("words", [0.0, 1.0], text="a zebra with stripes, and more words besides"),
            chunk("none", [-1.0, 0.0], text="nothing here"),
        ),
        "insert",
    )
    query = RetrievalQuery(text="zebra", vector=[1.0, 0.0], k=4, search_type="hybrid")
    found = provider.retrieve(kb, query)
    # Reciprocal rank fusion: "both" is 2nd by vector and 1st by keyword (1/62 + 1/61), "words"
    # 3rd and 2nd (1/63 + 1/62), "near" 1st by vector only (1/61), "none" 4th by vector only.
    assert [c.chunk_id for c in found] == ["both", "words", "near", "none"]
    similarity = {c.chunk_id: c.similarity or 0.0 for c in found}
    assert similarity["near"] == pytest.approx(1.0)  # its cosine similarity
    assert 0 < similarity["words"] < 0.5  # its keyword similarity: its cosine similarity is 0
    assert similarity["none"] == pytest.approx(-1.0)
    strict = RetrievalQuery(text="zebra", vector=[1.0, 0.0], k=4, search_type="hybrid", min_similarity=0.5)
    assert {c.chunk_id for c in provider.retrieve(kb, strict)} == {"near", "both"}
    with pytest.raises(ValidationError, match="a hybrid search needs the query's text"):
        provider.retrieve(kb, RetrievalQuery(vector=[1.0, 0.0], search_type="hybrid"))
    with pytest.raises(ValidationError, match="searches by vector for a hybrid search"):
        provider.retrieve(kb, RetrievalQuery(text="zebra", search_type="hybrid"))


def test_hybrid_with_the_hnsw_index(make_provider: MakeProvider, kb: KnowledgeBase) -> None:
    provider = make_provider(index="hnsw")
    provider.ingest(
        kb,
        collection(
            *(chunk(f"c{i}", [1.0, i / 10, 0.5], text=f"item {i} {'target' if i == 7 else ''}") for i in range(30))
        ),
        "insert",
    )
    found = provider.retrieve(kb, RetrievalQuery(text="target", vector=[1.0, 0.0, 0.5], k=3, search_type="hybrid"))
    assert "c7" in [c.chunk_id for c in found] and found.chunks[0].chunk_id in {"c0", "c7"}


# -- through the host -----------------------------------------------------------------------


def test_the_host_embeds_nothing_for_a_keyword_search(
    make_host: MakeHost, usage_recorder: UsageRecorder, genai_home: Path
) -> None:
    fake = FakeProvider()
    host: Host = make_host(
        LocalProvider, fake, usage_recorder, knowledge=KnowledgeSettings(default_embedding_model="fake:embed")
    )
    host.ingest("notes", ChunkCollection().add_knowledge_base_chunk("Invoices are due in 30 days.", "billing"))
    usage_recorder.clear()
    fake.calls.clear()
    found = host.retrieve("notes", "when are invoices due?", search_type="keyword")
    assert [c.human_readable_id for c in found] == ["billing"]
    assert fake.calls == [] and usage_recorder.operations == ["retrieve"]
    host.retrieve("notes", "when are invoices due?")  # hybrid, the default: embeds
    assert usage_recorder.operations == ["retrieve", "embed", "retrieve"]


def test_a_keyword_search_from_the_shell_imports_no_torch(tmp_path: Path) -> None:
    """The point of keyword search: `genai kb search --search-type keyword` never waits for torch."""
    model = DeployedModel(
        provider="local", model_id="all-MiniLM-L6-v2", output_modality=Modality.EMBEDDINGS, dimensions=2
    )
    database = tmp_path / "knowledge.db"
    provider = LocalProvider(LocalSettings(database=database))
    kb = KnowledgeBase(provider="local", name="notes", embedding_model=model)
    provider.ingest(kb, collection(chunk("inv", [1.0, 0.0], text="Invoices are due in 30 days.")), "insert")
    provider.close()
    script = (
        "import sys, json\n"
        "from click.testing import CliRunner\n"
        "from genai_commons.cli import main\n"
        "result = CliRunner().invoke(main, ['kb', 'search', 'notes', 'invoices', '--search-type', 'keyword', "
        "'--json'])\n"
        "print(json.dumps({'code': result.exit_code, 'out': result.output, "
        "'torch': 'torch' in sys.modules, 'st': 'sentence_transformers' in sys.modules}))\n"
    )
    environment = {"GENAI_HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=environment, check=False
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["code"] == 0, report["out"]
    assert [c["chunk_id"] for c in json.loads(report["out"])["chunks"]] == ["inv"]
    assert not report["torch"] and not report["st"]


# -- a store written before search types --------------------------------------------------------


def _as_schema_1(database: Path) -> None:
    """Make the file what genai-commons-local wrote before search types: no keyword indexes, schema 1."""
    with sqlite3.connect(database) as conn:
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
            conn.execute(f"DROP TRIGGER {name}")
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'chunks_fts_%' AND sql LIKE '%VIRTUAL%'"
        ).fetchall():
            conn.execute(f"DROP TABLE {name}")
        conn.execute("PRAGMA user_version = 1")
    conn.close()


def test_a_store_of_schema_1_gets_its_keyword_indexes(make_provider: MakeProvider, database: Path) -> None:
    first = make_provider()
    one, two = KnowledgeBase(provider="local", name="one"), KnowledgeBase(provider="local", name="two")
    first.ingest(
        one, collection(chunk("a", [1.0, 0.0], text="apples are red"), chunk("b", [0.0, 1.0], text="pears")), "insert"
    )
    first.ingest(two, collection(chunk("c", [1.0, 0.0], text="apples again")), "insert")
    first.close()
    _as_schema_1(database)
    with sqlite3.connect(database) as conn:
        assert conn.execute("SELECT COUNT(*) FROM sqlite_master WHERE name LIKE 'chunks_fts%'").fetchone() == (0,)
    conn.close()

    provider = make_provider()  # a new version opens the old file
    assert keyword(provider, one, "apples") == ["a"] and keyword(provider, two, "apples") == ["c"]
    with sqlite3.connect(database) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    conn.close()
    fts_intact(database, 1)
    fts_intact(database, 2)
    provider.ingest(one, collection(chunk("d", [1.0, 1.0], text="apples galore")), "insert")  # triggers work
    assert sorted(keyword(provider, one, "apples")) == ["a", "d"]
