"""Knowledge-base collections cannot read or touch each other's chunks.

For each backend that stores collections side by side (the local SQLite store with exact and HNSW
search, OpenSearch, a Mendix Cloud knowledge-base resource), two collections get chunks with the
same chunk ids, source ids and shared metadata; only their text (and an ``owner`` key) differ.
``retrieve``, ``list_chunks``, ``stored_chunk_ids`` and ``delete_chunks`` on one never return or
change the other's chunks — also with filters that match only the other's metadata — and names
that try to escape (path segments, quotes, percent-encoding, case and Unicode variants, wildcards,
very long names, control characters) are either refused with a :class:`ValidationError` or kept
apart. Never mixed.

One documented exception: OpenSearch index names are lower case, so the OpenSearch plugin folds a
collection's name to lower case and ``Docs`` and ``docs`` are one collection under two spellings
(``docs/opensearch.md``). The test holds that to what it promises: both spellings read and write
the very same chunks, and the collection is listed once.

Bedrock knowledge bases are separate AWS resources, each with its own vector store, addressed by
a ten-character id: there is no shared store to isolate within. What the plugin controls is that a
request names exactly the knowledge base asked for; that is checked at the end.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from osmem_server import OsmemServer
from security_backends import KINDS, Backend, open_backend

from genai_commons import (
    ChunkCollection,
    Eq,
    GenAIError,
    In,
    IngestMode,
    KnowledgeBase,
    KnowledgeBaseChunk,
    MetadataCollection,
    NotFoundError,
    RetrievalQuery,
    UnknownModelError,
    ValidationError,
)

#: Pairs of collection names that must not mix.
PAIRS = [
    ("iso-first", "iso-second"),
    ("a/../b", "b"),
    ("a/b", "a%2Fb"),
    ("a' OR '1'='1", "a"),
    ('a"; DROP TABLE chunks; --', "chunks"),
    ("Docs", "docs"),
    (unicodedata.normalize("NFC", "café"), unicodedata.normalize("NFD", "café")),
    ("x" * 300 + "1", "x" * 300 + "2"),
    (".", "chunks"),
    ("..", "knowledge-bases"),
    ("*", "iso-second"),
    ("a,b", "a"),
    ("_all", "all"),
    ("a\x00b", "a"),
    ("a ", "a"),
]
#: Name pairs a backend documents as one collection.
ALIASES = {("opensearch", "Docs", "docs")}
VECTOR = [1.0, 0.4, 0.5, 0.2]


def chunks(label: str) -> ChunkCollection:
    """Four chunks; the other collection gets the same ids, sources, vectors and ``team``."""
    return ChunkCollection(
        chunks=[
            KnowledgeBaseChunk(
                chunk_id=f"c{n}",
                input_text=f"{label}-MARKER chunk {n}",
                vector=[1.0, 0.1 * n, 0.5, 0.2],
                human_readable_id=f"doc-{n // 2}.md",
                source_id=f"s{n // 2}",
                source_type="file",
                metadata=MetadataCollection.of({"team": "shared", "owner": label, "n": str(n)}),
            )
            for n in range(4)
        ]
    )


@pytest.fixture(scope="module")
def osmem() -> Iterator[OsmemServer]:
    server = OsmemServer.start(japanese=False)
    yield server
    server.close()


def labels(found: Any) -> set[str]:
    return {c.input_text.split("-MARKER")[0] for c in found}


def read_everything(backend: Backend, kb: KnowledgeBase) -> dict[str, Any]:
    """What each reading operation returns for ``kb``."""
    provider = backend.provider
    return {
        "list": provider.list_chunks(kb, None, 0, 100),
        "retrieve": provider.retrieve(kb, RetrievalQuery(vector=VECTOR, k=100)).chunks,
        "stored": provider.stored_chunk_ids(kb, ["s0", "s1"]),
    }


def check_only(backend: Backend, kb: KnowledgeBase, label: str, other: str) -> None:
    """``kb`` holds its four chunks and nothing of ``other``, whatever the question."""
    provider = backend.provider
    everything = read_everything(backend, kb)
    assert labels(everything["list"]) == {label} and len(everything["list"]) == 4, everything["list"]
    assert labels(everything["retrieve"]) == {label} and len(everything["retrieve"]) == 4
    assert everything["stored"] == {"s0": frozenset({"c0", "c1"}), "s1": frozenset({"c2", "c3"})}
    theirs = Eq(key="owner", value=other)
    assert not provider.list_chunks(kb, theirs, 0, 100)
    assert not provider.retrieve(kb, RetrievalQuery(vector=VECTOR, k=100, filter=theirs)).chunks
    assert not provider.retrieve(kb, RetrievalQuery(vector=VECTOR, k=100, metadata={"owner": other})).chunks
    shared = provider.retrieve(kb, RetrievalQuery(vector=VECTOR, k=100, filter=In(key="team", values=["shared"])))
    assert labels(shared.chunks) == {label} and len(shared.chunks) == 4


def refused_everywhere(backend: Backend, name: str) -> None:
    """A name refused for writing is refused (or empty) for every other operation too."""
    provider = backend.provider
    try:
        kb = backend.kb(name)
    except ValidationError:
        return
    operations = {
        "list": lambda: provider.list_chunks(kb, None, 0, 100),
        "retrieve": lambda: provider.retrieve(kb, RetrievalQuery(vector=VECTOR, k=100)).chunks,
        "stored": lambda: provider.stored_chunk_ids(kb, ["s0", "s1"]),
        "delete": lambda: provider.delete_chunks(kb, ["s0"]),
        "drop": lambda: provider.drop_collection(kb),
    }
    for operation, run in operations.items():
        try:
            answer = run()
        except (ValidationError, NotFoundError):
            continue
        assert not answer, f"{operation} on refused name {name!r} answered {answer!r}"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("first", "second"), PAIRS, ids=[repr(p)[:40] for p in PAIRS])
def test_two_collections_never_mix(kind: str, first: str, second: str, tmp_path: Path, osmem: OsmemServer) -> None:
    with open_backend(kind, tmp_path, osmem) as backend:
        provider = backend.provider
        accepted: dict[str, KnowledgeBase] = {}
        for label, name in (("FIRST", first), ("SECOND", second)):
            try:
                kb = backend.kb(name)
                provider.ingest(kb, chunks(label), IngestMode.INSERT)
            except ValidationError as exc:
                assert str(exc), "a refusal says why"
                continue
            accepted[label] = kb
        for label, name in (("FIRST", first), ("SECOND", second)):
            if label not in accepted:
                refused_everywhere(backend, name)
        if (kind.split("-", maxsplit=1)[0], first, second) in ALIASES:
            one, two = accepted["FIRST"], accepted["SECOND"]
            assert [c.chunk_id for c in provider.list_chunks(one, None, 0, 100)] == ["c0", "c1", "c2", "c3"]
            assert read_everything(backend, one) == read_everything(backend, two), "one collection, two spellings"
            return
        for label, kb in accepted.items():
            check_only(backend, kb, label, "SECOND" if label == "FIRST" else "FIRST")
        if len(accepted) < 2:
            return
        one, two = accepted["FIRST"], accepted["SECOND"]
        assert provider.delete_chunks(one, ["s0"]) == 2
        check_only(backend, two, "SECOND", "FIRST")
        assert provider.stored_chunk_ids(one, ["s0", "s1"]) == {"s1": frozenset({"c2", "c3"})}
        provider.delete_chunks(one, None)
        check_only(backend, two, "SECOND", "FIRST")
        provider.drop_collection(one)
        check_only(backend, two, "SECOND", "FIRST")


@pytest.mark.parametrize("kind", KINDS)
def test_replacing_one_collection_leaves_the_other(kind: str, tmp_path: Path, osmem: OsmemServer) -> None:
    """``replace`` and ``repopulate`` delete the chunks their batch does not hold again: of their own
    collection only."""
    with open_backend(kind, tmp_path, osmem) as backend:
        provider = backend.provider
        first, second = backend.kb("rep-first"), backend.kb("rep-second")
        provider.ingest(first, chunks("FIRST"), IngestMode.INSERT)
        provider.ingest(second, chunks("SECOND"), IngestMode.INSERT)
        one_chunk = ChunkCollection(chunks=[chunks("FIRST").chunks[0]])
        provider.ingest(first, one_chunk, IngestMode.REPLACE)
        check_only(backend, second, "SECOND", "FIRST")
        provider.ingest(first, one_chunk, IngestMode.REPOPULATE)
        assert [c.chunk_id for c in provider.list_chunks(first, None, 0, 100)] == ["c0"]
        check_only(backend, second, "SECOND", "FIRST")


# -- Bedrock: a request names exactly the knowledge base asked for --------------------------------


def test_bedrock_requests_name_only_the_knowledge_base_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3

    from genai_commons_bedrock import BedrockProvider
    from genai_commons_bedrock.testing import Document, LocalBedrock, attach

    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
    session = boto3.Session(aws_access_key_id="AKIDTEST", aws_secret_access_key="fake", region_name="us-east-1")
    service = attach(session, LocalBedrock())
    for kb_id, label in (("KBFIRST001", "FIRST"), ("KBSECOND01", "SECOND")):
        documents = [
            Document(uri=f"s3://{label}/doc{n}.md", text=f"{label}-MARKER rotation {n}", metadata={"owner": label})
            for n in range(2)
        ]
        service.add_knowledge_base(label.lower(), documents, knowledge_base_id=kb_id)
    from genai_commons import Config, Host

    config = Config.defaults("/tmp", providers={"bedrock": {"region": "us-east-1"}})
    host = Host(config, load_entry_points=False, plugins=[BedrockProvider(session=session)])
    try:
        first = host.knowledge_base("bedrock:KBFIRST001")
        found = host.retrieve(first, RetrievalQuery(text="rotation", k=10, filter=Eq(key="owner", value="SECOND")))
        assert not found.chunks
        found = host.retrieve(first, RetrievalQuery(text="rotation", k=10))
        assert labels(found.chunks) == {"FIRST"}
        assert {c.path["knowledgeBaseId"] for c in service.calls("retrieve")} == {"KBFIRST001"}
        for escape in ("KBFIRST001/../KBSECOND01", "../KBSECOND01", "KBSECOND01?", "kbsecond01", "*"):
            service.requests.clear()
            forged = KnowledgeBase(provider="bedrock", name="forged", collection=escape)
            with pytest.raises((GenAIError, UnknownModelError)):
                answer = host.retrieve(forged, RetrievalQuery(text="rotation", k=10))
                assert labels(answer.chunks) != {"SECOND"}, f"{escape!r} reached the other knowledge base"
                raise AssertionError(f"{escape!r} answered {answer!r}")
            assert all(c.path.get("knowledgeBaseId") != "KBSECOND01" for c in service.requests), escape
    finally:
        host.close()
