"""Search types on Mendix Cloud knowledge bases: vector only (the protocol has no text search) — the
default runs as a vector search, keyword and hybrid are refused before any request, through the
host and by the plugin on its own — against the fake service on a loopback server."""

from __future__ import annotations

import asyncio

import pytest

from genai_commons import ChunkCollection, Host, RetrievalQuery, SearchType, UnsupportedCapabilityError
from genai_commons_mxcloud import MxCloudProvider
from genai_commons_mxcloud.testing import FakeMxCloud

CHUNKS = (
    ChunkCollection()
    .add_knowledge_base_chunk("Invoices are due in 30 days.", "billing.md", source_id="billing")
    .add_knowledge_base_chunk("Cats purr when content.", "cats.md", source_id="cats")
)


@pytest.fixture
def filled(host: Host, service: FakeMxCloud) -> Host:
    host.ingest("mxcloud:kb/docs", CHUNKS)
    service.requests.clear()
    return host


def test_the_default_runs_as_a_vector_search(filled: Host, service: FakeMxCloud) -> None:
    assert filled.config.knowledge.search_type == "hybrid"
    assert filled.provider("mxcloud").search_types == frozenset({SearchType.VECTOR})
    found = filled.retrieve("mxcloud:kb/docs", "when are invoices due", k=2)
    assert len(found) == 2
    assert [c.path for c in service.requests] == ["/invoke", "/knowledge-bases/docs/similarity"]


@pytest.mark.parametrize("search_type", ["keyword", "hybrid"])
def test_keyword_and_hybrid_are_refused_before_any_request(
    filled: Host, service: FakeMxCloud, search_type: str
) -> None:
    with pytest.raises(UnsupportedCapabilityError, match=f"cannot run a {search_type} search: provider 'mxcloud' "
                       "offers vector search only"):  # fmt: skip
        filled.retrieve("mxcloud:kb/docs", "invoices", search_type=search_type)
    with pytest.raises(UnsupportedCapabilityError):
        asyncio.run(filled.aretrieve("mxcloud:kb/docs", "invoices", search_type=search_type))
    with pytest.raises(UnsupportedCapabilityError):
        filled.retrieve_and_generate("mxcloud:kb/docs", "invoices?", model="mxcloud:my-claude", search_type=search_type)
    assert service.requests == []  # nothing embedded, nothing searched


def test_the_plugin_on_its_own_says_why(filled: Host, provider: MxCloudProvider, service: FakeMxCloud) -> None:
    kb = filled.knowledge_base("mxcloud:kb/docs")
    query = RetrievalQuery(text="invoices", vector=[0.1] * 16, search_type="hybrid")
    with pytest.raises(UnsupportedCapabilityError, match="searches by vector only: its protocol has no text search"):
        provider.retrieve(kb, query)
    assert service.requests == []
    assert len(provider.retrieve(kb, RetrievalQuery(vector=[0.1] * 16, k=1, search_type="vector"))) == 1
