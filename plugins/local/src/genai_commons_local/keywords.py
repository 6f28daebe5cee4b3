"""Keyword search in the store: an SQLite FTS5 index per collection, and queries made safe.

Each collection has its index, ``chunks_fts_<collection row id>``: an external-content FTS5 table
over ``chunks.input_text`` (the text is stored once, in ``chunks``), tokenized with ``porter
unicode61 remove_diacritics 2``: case and diacritics are folded and English words stemmed, so
"Running" finds "run" and "cafe" finds "café". Inserted chunks are indexed by the statement that
follows their insertion (:func:`index_rows`, one ``INSERT … SELECT`` for the whole block: three
times faster than a trigger fired row by row), and triggers on ``chunks`` for that collection's
rows index deletions and updates, so every change of a chunk changes the index in the same
transaction. The index is created with its collection (:func:`create`) and dropped with it
(:func:`drop`), in the same transactions. One index per collection keeps BM25's statistics
(document counts, average length) to the collection, and a search reads no other collection's
postings. A store file of schema 1 (before the indexes) is brought up by :func:`migrate`: every
collection's index is built from its stored texts, in one transaction.

:func:`match_expression` turns any text into an FTS5 query that is never read as FTS5 syntax: its
words (runs of letters and digits) each become a quoted string, joined by ``OR`` so that a question
worded unlike the passage still finds it (FTS5's implicit AND would need every word); common
English words are left out unless nothing else remains. BM25 then ranks by the words matched and
their rarity. :func:`ranking` runs it under a metadata filter, best first, with ``bm25()``
scores made positive (higher is better).

In a large collection, :func:`ranking` also leaves out the query's *common* words — those in more
than ``max(COMMON_MIN, COMMON_SHARE x chunks)`` of the collection's chunks — when it has rarer
ones. Every chunk a word matches is scored, so one common word would make most of the collection
candidates; and BM25 weighs such a word least (its IDF, ``ln((N - n + 0.5) / (n + 0.5))``, is below
3 against 5 to 10 for the words that tell chunks apart). Collections of at most ``COMMON_MIN``
chunks are searched with every word. Which words are common is remembered per collection version
(:class:`CommonWords`), so a word is counted once until the collection changes.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from genai_commons import ConfigurationError, Filter, get_logger
from genai_commons.storage import migration

from .filters import condition

log = get_logger(__name__)

TOKENIZER = "porter unicode61 remove_diacritics 2"
#: FTS5 merges this many segments of a level into one of the next (its default is 4). Each merge
#: rewrites the rows it holds, so fewer, wider levels mean less rewriting: ingestion of a million
#: chunks 12 % faster (with 16 KB pages: 9,200 to 11,000 chunks/s), keyword queries as fast
#: (p50 37 ms either way at a million chunks, 24 segments instead of 13).
AUTOMERGE = 8


def table(collection_id: int) -> str:
    """The index table of a collection (its name holds the row id only, never user text)."""
    return f"chunks_fts_{int(collection_id)}"


def _statements(collection_id: int) -> tuple[str, ...]:
    """The index's table and triggers: SQL made of constants and the collection's row id only."""
    name, cid = table(collection_id), int(collection_id)
    return (
        f"CREATE VIRTUAL TABLE {name} USING fts5(input_text, content='chunks', content_rowid='id', "
        f"tokenize='{TOKENIZER}')",
        f"""CREATE TRIGGER {name}_delete AFTER DELETE ON chunks WHEN old.collection_id = {cid} BEGIN
            INSERT INTO {name} ({name}, rowid, input_text) VALUES ('delete', old.id, old.input_text);
        END""",  # noqa: S608 - constants and the collection's row id
        f"""CREATE TRIGGER {name}_update AFTER UPDATE ON chunks
        WHEN old.collection_id = {cid} OR new.collection_id = {cid} BEGIN
            INSERT INTO {name} ({name}, rowid, input_text)
                SELECT 'delete', old.id, old.input_text WHERE old.collection_id = {cid};
            INSERT INTO {name} (rowid, input_text) SELECT new.id, new.input_text WHERE new.collection_id = {cid};
        END""",
    )


def create(conn: sqlite3.Connection, collection_id: int) -> None:
    """Create a collection's index and its triggers, and index the chunks it already holds (inside
    the caller's write transaction)."""
    with needs_fts5():
        for statement in _statements(collection_id):
            conn.execute(statement)
    name = table(collection_id)
    conn.execute(f"INSERT INTO {name} ({name}, rank) VALUES ('automerge', {AUTOMERGE})")  # noqa: S608 - constants
    conn.execute(
        f"INSERT INTO {table(collection_id)} (rowid, input_text) "  # noqa: S608 - a constant name
        "SELECT id, input_text FROM chunks WHERE collection_id = ?",
        (int(collection_id),),
    )


def index_rows(conn: sqlite3.Connection, collection_id: int, first: int, last: int) -> None:
    """Index the collection's chunks of row ids ``first`` to ``last``, just inserted (inside the
    caller's write transaction)."""
    conn.execute(
        f"INSERT INTO {table(collection_id)} (rowid, input_text) "  # noqa: S608 - a constant name
        "SELECT id, input_text FROM chunks WHERE id BETWEEN ? AND ? AND collection_id = ?",
        (int(first), int(last), int(collection_id)),
    )


def drop(conn: sqlite3.Connection, collection_id: int) -> None:
    """Drop a collection's index and its triggers (inside the caller's write transaction)."""
    name = table(collection_id)
    for suffix in ("insert", "delete", "update"):  # "insert": schema 3 and before
        conn.execute(f"DROP TRIGGER IF EXISTS {name}_{suffix}")
    conn.execute(f"DROP TABLE IF EXISTS {name}")


#: A word found in more than this share of a collection's chunks is common...
COMMON_SHARE = 0.05
#: ... when that is more than this many chunks.
COMMON_MIN = 2_000
#: The most words of a query that are searched.
MAX_TERMS = 64

_WORD = re.compile(r"[^\W_]+")
#: Common English words: they match most chunks, weigh next to nothing in BM25 and slow the search.
STOP_WORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have
    having he her here hers herself him himself his how i if in into is it its itself just me more most my
    myself no nor not now of off on once only or other our ours ourselves out over own same she should so
    some such than that the their theirs them themselves then there these they this those through to too
    under until up very was we were what when where which while who whom why will with would you your
    yours yourself yourselves""".split()  # noqa: SIM905 - a list of words reads best as text
)


def terms(text: str) -> list[str]:
    """The words of a query text that are searched: letters and digits only, in order, each once
    (case folded), common English words left out unless the text has nothing else."""
    words = list(dict.fromkeys(word.casefold() for word in _WORD.findall(text)))
    kept = [word for word in words if word not in STOP_WORDS]
    return (kept or words)[:MAX_TERMS]


def _quoted(word: str) -> str:
    return '"' + word.replace('"', '""') + '"'


def match_expression(text: str) -> str | None:
    """The FTS5 query for a text: each searched word as a quoted string, joined by ``OR``; None
    when the text has no word at all (nothing can match)."""
    words = terms(text)
    if not words:
        return None
    return " OR ".join(_quoted(word) for word in words)


class CommonWords:
    """Whether each word is common in a collection, remembered for one version of it (a write
    changes the version, which starts afresh); at most :attr:`LIMIT` words a collection."""

    LIMIT = 10_000

    def __init__(self) -> None:
        self._known: dict[int, tuple[int, dict[str, bool]]] = {}
        self._lock = threading.Lock()

    def words(self, collection_id: int, version: int) -> dict[str, bool]:
        """A copy of what is known of the collection at this version."""
        with self._lock:
            known = self._known.get(collection_id)
            return dict(known[1]) if known is not None and known[0] == version else {}

    def forget(self, collection_id: int) -> None:
        with self._lock:
            self._known.pop(collection_id, None)

    def remember(self, collection_id: int, version: int, found: dict[str, bool]) -> None:
        with self._lock:
            known = self._known.get(collection_id)
            if known is None or known[0] != version:
                known = (version, {})
                self._known[collection_id] = known
            if len(known[1]) + len(found) <= self.LIMIT:
                known[1].update(found)


def _uncommon(conn: sqlite3.Connection, name: str, words: list[str], known: dict[str, bool]) -> dict[str, bool]:
    """Whether each word is common in the collection's index (see the module docstring); ``known``
    answers for the words already counted. A word's chunks are counted only up to the limit, so
    a common word costs little to recognise."""
    missing = [word for word in words if word not in known]
    if not missing or len(words) < 2:
        return {word: known.get(word, False) for word in words}
    (chunks,) = conn.execute(f"SELECT COUNT(*) FROM {name}_docsize").fetchone()  # noqa: S608 - a constant name
    limit = max(COMMON_MIN, int(COMMON_SHARE * chunks))
    common = dict(known)
    if chunks <= limit:
        common.update(dict.fromkeys(missing, False))
    else:
        count = f"SELECT COUNT(*) FROM (SELECT 1 FROM {name} WHERE {name} MATCH ? LIMIT ?)"  # noqa: S608
        for word in missing:
            common[word] = conn.execute(count, (_quoted(word), limit + 1)).fetchone()[0] > limit
    return {word: common[word] for word in words}


def ranking(
    conn: sqlite3.Connection,
    collection_id: int,
    text: str,
    where: Filter | None,
    limit: int,
    *,
    version: int = -1,
    common: CommonWords | None = None,
) -> tuple[list[int], list[float]]:
    """The row ids of the collection's chunks that match the text's words (and ``where``), best
    first, at most ``limit``, with their BM25 scores (higher is better). ``common`` remembers the
    collection's common words at ``version`` (the collection's version in this transaction)."""
    words = terms(text)
    if not words or limit <= 0:
        return [], []
    name = table(collection_id)
    known = common.words(collection_id, version) if common is not None else {}
    commonness = _uncommon(conn, name, words, known)
    if common is not None:
        common.remember(collection_id, version, {w: c for w, c in commonness.items() if w not in known})
    searched = [word for word in words if not commonness[word]] or words
    expression = " OR ".join(_quoted(word) for word in searched)
    condition_sql, params = ("1", []) if where is None else condition(where, f"{name}.rowid")
    cursor = conn.execute(
        f"SELECT rowid, -bm25({name}) AS score FROM {name} "  # noqa: S608 - constant names, bound values
        f"WHERE {name} MATCH ? AND {condition_sql} ORDER BY score DESC LIMIT ?",
        [expression, *params, limit],
    )
    ids: list[int] = []
    scores: list[float] = []
    for row_id, score in cursor:
        ids.append(int(row_id))
        scores.append(float(score))
    return ids, scores


@contextmanager
def needs_fts5() -> Iterator[None]:
    """Around schema statements: an SQLite without FTS5 is a :class:`ConfigurationError` that says what to do."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        if "fts5" not in str(exc).lower():
            raise
        raise ConfigurationError(
            f"this Python's SQLite ({sqlite3.sqlite_version}) has no FTS5 full-text search, which the local "
            "knowledge-base store needs: use a Python built with FTS5 (the python.org, conda and most Linux "
            "builds are)"
        ) from exc


def migrate(conn: sqlite3.Connection, from_version: int, to_version: int) -> None:
    """Bring a store file from ``from_version`` (no keyword index) to ``to_version``: every
    collection's index, built from its stored texts, in one transaction. A process that opens the
    file at the same time waits for it (``BEGIN IMMEDIATE``) and then finds it done."""
    with migration(conn, from_version, to_version) as due:
        if due:
            collections = [row[0] for row in conn.execute("SELECT id FROM collections ORDER BY id")]
            for collection_id in collections:
                create(conn, collection_id)
            (count,) = conn.execute("SELECT COUNT(*) FROM chunks").fetchone()
            log.info("keyword_index_built", collections=len(collections), chunks=count, schema=to_version)


def drop_insert_triggers(conn: sqlite3.Connection, from_version: int, to_version: int) -> None:
    """Bring a store file from ``from_version`` (indexes kept by an insert trigger) to
    ``to_version`` (by :func:`index_rows`), in one transaction."""
    with migration(conn, from_version, to_version) as due:
        if due:
            for (collection_id,) in conn.execute("SELECT id FROM collections").fetchall():
                conn.execute(f"DROP TRIGGER IF EXISTS {table(collection_id)}_insert")
