"""The knowledge-base backends the isolation and injection suites run against, each a real store
behind its provider: the local SQLite store (exact search, and HNSW with every filtered search
going through the index), OpenSearch (osmem-server behind the stand-in that records every request
and runs ``knn``), and a Mendix Cloud knowledge-base resource (its loopback fake).

``open_backend(kind, tmp_path, osmem)`` gives a :class:`Backend`: the provider, and ``kb(name)``
for the knowledge base of collection ``name``.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from osmem_server import OsmemServer

from genai_commons import Config, Host, KnowledgeBase, Provider, ProviderSettings, RetryPolicy
from genai_commons_local import LocalProvider
from genai_commons_local.settings import IndexKind, LocalSettings
from genai_commons_mxcloud import MxCloudProvider
from genai_commons_mxcloud.testing import FakeMxCloud, FakeMxCloudServer
from genai_commons_opensearch import OpenSearchProvider

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "opensearch"))

from opensearch_standin import OpenSearchStandIn

__all__ = ["KINDS", "Backend", "open_backend"]

#: The backends, by name.
KINDS = ("local", "local-hnsw", "opensearch", "mxcloud")


@dataclass
class Backend:
    kind: str
    provider: Provider
    kb: Callable[[str], KnowledgeBase]
    #: The OpenSearch stand-in, whose recorded requests show the query DSL sent.
    standin: OpenSearchStandIn | None = None
    mxcloud: FakeMxCloud | None = None


def _local(tmp_path: Path, index: IndexKind) -> Backend:
    settings = LocalSettings(database=tmp_path / "knowledge.db", index=index, exact_filter_limit=0)
    provider = LocalProvider(settings)
    return Backend("local", provider, lambda name: KnowledgeBase(provider="local", name=name))


@contextlib.contextmanager
def open_backend(kind: str, tmp_path: Path, osmem: OsmemServer) -> Iterator[Backend]:
    """A fresh, empty backend of ``kind`` (see :data:`KINDS`), closed afterwards."""
    if kind in ("local", "local-hnsw"):
        backend = _local(tmp_path, IndexKind.HNSW if kind == "local-hnsw" else IndexKind.EXACT)
        try:
            yield backend
        finally:
            backend.provider.close()
    elif kind == "opensearch":
        with osmem.clone() as clone, OpenSearchStandIn(clone.url) as standin:
            provider = OpenSearchProvider()
            provider.configure(
                ProviderSettings(name="opensearch", values={"url": standin.url, "bulk_backoff": 0.0}, environ={})
            )
            try:
                yield Backend(
                    "opensearch", provider, lambda name: KnowledgeBase(provider="opensearch", name=name), standin
                )
            finally:
                provider.close()
    elif kind == "mxcloud":
        with FakeMxCloudServer(FakeMxCloud(dimensions=4)) as server:
            key = server.service.issue_key("KNOWLEDGE_BASE", name="kb", token="tok-kb")
            config = Config(
                home=tmp_path,
                retry=RetryPolicy(max_attempts=1),
                providers={"mxcloud": {"keys": [key]}},
                environ={},
            )
            host = Host(config, load_entry_points=False, plugins=[MxCloudProvider])
            provider: Any = host.plugin_manager.get_plugin("mxcloud")

            def kb(name: str) -> KnowledgeBase:
                found = provider.resolve_knowledge_base(f"kb/{name}")
                assert found is not None and found.collection == name, found
                return found  # type: ignore[no-any-return]

            try:
                yield Backend("mxcloud", provider, kb, mxcloud=server.service)
            finally:
                host.close()
    else:
        raise ValueError(f"unknown backend {kind!r}")
