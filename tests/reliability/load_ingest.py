"""The ingestion of the SIGKILL suite (``test_load_sigkill.py``, ``bench_load.py --only sigkill``):
deterministic documents, a host that ingests them into the local store with a fast deterministic
embedding model (:class:`DigestEmbeddings`), and readers of what the store holds. The processes
that run it and get killed are in :mod:`load_kill`."""

from __future__ import annotations

import hashlib
import math
import sqlite3
import time
from pathlib import Path
from typing import Any

from genai_commons import (
    ChunkCollection,
    Config,
    DeployedModel,
    EmbeddingsOptions,
    EmbeddingsResponse,
    Host,
    Modality,
    Provider,
)
from genai_commons.config import KnowledgeSettings
from genai_commons.knowledge.loaders import Document, DocumentFormat
from genai_commons.knowledge.pipeline import IngestReport, ingest_documents

COLLECTION = "notes"
DOCUMENTS = 120
#: Chunks per ``ingest`` call: small, so that an ingestion is many transactions to kill between.
BATCH_SIZE = 16
_WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet")


def documents(version: int, count: int = DOCUMENTS) -> list[Document]:
    """``count`` Markdown documents of 2 to 6 sections each. Version 1 changes every third document
    (one section rewritten; and every ninth gains a section, every fifteenth loses one)."""
    out = []
    for number in range(count):
        sections = 2 + number % 5
        changed = version >= 1 and number % 3 == 0
        if changed and number % 9 == 0:
            sections += 1
        elif changed and number % 15 == 0 and sections > 2:
            sections -= 1
        parts = [f"# Document {number}"]
        for section in range(sections):
            words = " ".join(_WORDS[(number + section + k) % len(_WORDS)] for k in range(40))
            edit = " (revised)" if changed and section == 0 else ""
            parts.append(f"## Section {section}{edit}\n\nDocument {number}, section {section}: {words}.")
        out.append(
            Document(
                source_id=f"docs/doc-{number:03d}.md",
                text="\n\n".join(parts),
                format=DocumentFormat.MARKDOWN,
                metadata={"number": str(number)},
            )
        )
    return out


class DigestEmbeddings(Provider):
    """``digest:embed``: a 16-dimension unit vector from each text's BLAKE2b digest — deterministic,
    and about a hundred times faster than the fake provider's word hashing. Each call waits
    :attr:`latency` seconds, as a (very fast) model would: an ingestion then lasts long enough to
    be killed in any of its phases, however fast the machine."""

    latency = 0.002

    name = "digest"
    MODEL = DeployedModel(
        provider="digest", model_id="embed", display_name="Digest embeddings", output_modality=Modality.EMBEDDINGS
    )

    def models(self) -> list[DeployedModel]:
        return [self.MODEL]

    def embed(self, model: DeployedModel, chunks: ChunkCollection, options: EmbeddingsOptions) -> EmbeddingsResponse:
        time.sleep(self.latency)
        vectors = []
        for chunk in chunks:
            values = [b / 127.5 - 1.0 for b in hashlib.blake2b(chunk.input_text.encode(), digest_size=16).digest()]
            norm = math.sqrt(sum(v * v for v in values)) or 1.0
            vectors.append([v / norm for v in values])
        return EmbeddingsResponse(chunks=chunks.with_vectors(vectors), input_tokens=len(chunks), model_id="embed")


def ingestion_host(database: Path) -> Host:
    """The local store at ``database``, embedded with ``digest:embed``."""
    from genai_commons_local import LocalProvider

    config = Config.defaults(
        database.parent,
        providers={"local": {"database": str(database)}},
        knowledge=KnowledgeSettings(default_embedding_model="digest:embed"),
    )
    return Host(config, load_entry_points=False, plugins=[LocalProvider, DigestEmbeddings])


def ingest(database: Path, version: int, count: int = DOCUMENTS, batch_size: int = BATCH_SIZE) -> IngestReport:
    """Ingest ``documents(version, count)`` into ``local:notes`` at ``database`` and close the host."""
    with ingestion_host(database) as host:
        knowledge_base = host.knowledge_base(f"local:{COLLECTION}")
        return ingest_documents(host, knowledge_base, documents(version, count), batch_size=batch_size, progress=False)


def stored(database: Path) -> dict[str, tuple[Any, ...]]:
    """Every chunk of ``notes`` in the store: chunk id -> (source, human-readable id, text, metadata,
    vector bytes), read with SQL so that nothing is hidden by the provider's own reading."""
    if not database.exists():
        return {}
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30) as conn:
        if not _has_tables(conn):  # killed before the schema was committed
            conn.close()
            return {}
        rows = conn.execute(
            "SELECT c.chunk_id, c.source_id, c.human_readable_id, c.input_text, c.metadata, c.vector "
            "FROM chunks AS c JOIN collections AS k ON k.id = c.collection_id WHERE k.name = ?",
            (COLLECTION,),
        ).fetchall()
    conn.close()
    out = {row[0]: tuple(row[1:]) for row in rows}
    if len(out) != len(rows):
        raise AssertionError(f"{len(rows) - len(out)} chunk ids are stored twice")
    return out


def chunk_count(database: Path, containing: str = "") -> int:
    """Chunks stored so far whose text contains ``containing`` (0 before the schema exists); cheap
    enough to poll every few milliseconds."""
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as conn:
            query = "SELECT COUNT(*) FROM chunks WHERE instr(input_text, ?) > 0"
            value = conn.execute(query, (containing,)).fetchone()[0]
        conn.close()
    except sqlite3.Error:  # not created yet
        return 0
    return int(value)


def _has_tables(conn: sqlite3.Connection) -> bool:
    names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    return {"collections", "chunks", "metadata"} <= names


def integrity_problems(database: Path) -> list[str]:
    """What is wrong with the store file: SQLite's integrity check, and metadata rows whose chunk is
    gone."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30) as conn:
        check = [row[0] for row in conn.execute("PRAGMA integrity_check")]
        orphans = 0
        if _has_tables(conn):
            query = "SELECT COUNT(*) FROM metadata WHERE chunk NOT IN (SELECT id FROM chunks)"
            orphans = conn.execute(query).fetchone()[0]
    conn.close()
    problems = [] if check == ["ok"] else check
    if orphans:
        problems.append(f"{orphans} metadata rows of chunks that are gone")
    return problems
