"""Index names and the index layout: one index per collection, a ``knn_vector`` field, keyword fields.

Name mapping: the index of collection ``NAME`` is ``index_prefix + NAME.lower()``. A collection
name takes ASCII letters, digits, ``-``, ``_`` and ``.``, starts with a letter or a digit, and the
index name is at most 255 bytes; anything else is refused with a :class:`ValidationError` before a
request is made (OpenSearch index names are lower case and refuse ``\\ / * ? " < > | , # :`` and
spaces). Upper case folds to lower case, so ``Docs`` and ``docs`` are the same collection; the
name as first given is kept in the index's ``_meta`` and shown by ``genai kb list``.

Layout (``dynamic: strict``; see ``docs/opensearch.md`` for the reasons):

* ``vector`` — ``knn_vector``, HNSW, ``space_type: cosinesimil``, dimension from the first ingest;
* ``chunk_id``, ``source_id``, ``source_type``, ``human_readable_id`` — ``keyword``;
* ``text`` — ``text`` (stored in ``_source``, analysed so that a lexical query can use it too);
* ``metadata`` — the pairs as an object, kept in ``_source`` only (``enabled: false``);
* ``metadata_pairs`` — ``keyword``, one ``["key","value"]`` JSON string per pair: exact match for
  any key, with no field per key (no mapping growth, no key is ever a field name);
* ``metadata_numbers`` — ``nested`` ``{key: keyword, value: double}``, one per value that reads as a
  number: numeric ranges on any key;
* ``fingerprint`` — a digest of the document, unindexed, so that re-ingesting unchanged chunks
  writes nothing;
* ``_meta.genai_commons`` — the collection's name, its embedding model (the DeployedModel's JSON)
  and the layout's version.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from attrs import frozen

from genai_commons import ValidationError

if TYPE_CHECKING:
    from genai_commons import DeployedModel

#: HNSW implementations a new index may use (both support efficient filtering and cosine).
ENGINES = frozenset({"lucene", "faiss"})
#: The key of the plugin's block in an index mapping's ``_meta``.
META_KEY = "genai_commons"
LAYOUT_VERSION = 1

VECTOR_FIELD = "vector"
TEXT_FIELD = "text"
PAIRS_FIELD = "metadata_pairs"
NUMBERS_FIELD = "metadata_numbers"
FINGERPRINT_FIELD = "fingerprint"
KEYWORD_FIELDS = ("chunk_id", "source_id", "source_type", "human_readable_id")
#: What a search returns of a document (never the vector or the filter copies).
SOURCE_FIELDS = (*KEYWORD_FIELDS, TEXT_FIELD, "metadata")

_COLLECTION = re.compile(r"[a-z0-9][a-z0-9._-]*")
_PREFIX = re.compile(r"(?:[a-z0-9][a-z0-9._-]*)?")
_MAX_INDEX_BYTES = 255


def check_prefix(prefix: str) -> str:
    """The prefix itself; a ``ValueError`` when an index name cannot start with it."""
    if not _PREFIX.fullmatch(prefix):
        raise ValueError(
            f"{prefix!r} cannot start an OpenSearch index name: use lower-case letters, digits, '-', '_' and '.', "
            "starting with a letter or a digit"
        )
    if len(prefix.encode()) >= _MAX_INDEX_BYTES:
        raise ValueError("the prefix is too long for an index name")
    return prefix


def index_name(prefix: str, collection: str) -> str:
    """The index of a collection (see the module docstring for the rule)."""
    folded = collection.lower()
    if not _COLLECTION.fullmatch(folded):
        raise ValidationError(
            f"collection name {collection!r} cannot be an OpenSearch index name: use ASCII letters, digits, '-', "
            "'_' and '.', starting with a letter or a digit (upper case folds to lower case)"
        )
    name = prefix + folded
    if len(name.encode()) > _MAX_INDEX_BYTES:
        raise ValidationError(
            f"collection name {collection!r} is too long: its index name {name!r} exceeds {_MAX_INDEX_BYTES} bytes"
        )
    return name


@frozen(kw_only=True)
class IndexLayout:
    """How new indices are built (from the plugin's settings)."""

    engine: str = "lucene"
    m: int = 16
    ef_construction: int = 128
    number_of_shards: int | None = None
    number_of_replicas: int | None = None


def index_body(
    collection: str,
    dimension: int,
    layout: IndexLayout,
    embedding_model: DeployedModel | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    """The body of the create-index request for a collection whose vectors have ``dimension``."""
    from genai_commons.serialization import unstructure  # noqa: PLC0415 - cattrs, on first use

    index_settings: dict[str, Any] = {"knn": True}
    if layout.number_of_shards is not None:
        index_settings["number_of_shards"] = layout.number_of_shards
    if layout.number_of_replicas is not None:
        index_settings["number_of_replicas"] = layout.number_of_replicas
    meta: dict[str, Any] = {"layout": LAYOUT_VERSION, "collection": collection}
    if embedding_model is not None:
        meta["embedding_model"] = unstructure(embedding_model)
    if description:
        meta["description"] = description
    return {
        "settings": {"index": index_settings},
        "mappings": {
            "_meta": {META_KEY: meta},
            "dynamic": "strict",
            "properties": {
                **{name: {"type": "keyword"} for name in KEYWORD_FIELDS},
                TEXT_FIELD: {"type": "text"},
                VECTOR_FIELD: {
                    "type": "knn_vector",
                    "dimension": dimension,
                    "method": {
                        "name": "hnsw",
                        "space_type": "cosinesimil",
                        "engine": layout.engine,
                        "parameters": {"m": layout.m, "ef_construction": layout.ef_construction},
                    },
                },
                "metadata": {"type": "object", "enabled": False},
                PAIRS_FIELD: {"type": "keyword"},
                NUMBERS_FIELD: {
                    "type": "nested",
                    "properties": {"key": {"type": "keyword"}, "value": {"type": "double"}},
                },
                FINGERPRINT_FIELD: {"type": "keyword", "index": False, "doc_values": False},
            },
        },
    }


@frozen(kw_only=True)
class IndexInfo:
    """What an existing index of this plugin says about its collection."""

    index: str
    collection: str
    dimension: int
    embedding_model: DeployedModel | None = None
    description: str | None = None


def index_info(index: str, mapping: Mapping[str, Any]) -> IndexInfo | None:
    """The collection an index holds, from its mapping (``mappings`` of a get-mapping answer); None
    when the index was not made by this plugin."""
    from genai_commons import DeployedModel  # noqa: PLC0415
    from genai_commons.serialization import structure  # noqa: PLC0415 - cattrs, on first use

    meta = (mapping.get("_meta") or {}).get(META_KEY)
    vector = (mapping.get("properties") or {}).get(VECTOR_FIELD) or {}
    if not isinstance(meta, Mapping) or vector.get("type") != "knn_vector":
        return None
    model_data = meta.get("embedding_model")
    try:
        model = structure(model_data, DeployedModel) if model_data is not None else None
    except ValidationError:
        model = None  # written by a newer version of the model; the collection is still usable
    description = meta.get("description")
    return IndexInfo(
        index=index,
        collection=str(meta.get("collection") or index),
        dimension=int(vector["dimension"]),
        embedding_model=model,
        description=description if isinstance(description, str) else None,
    )
