"""genai-commons-opensearch: knowledge bases on OpenSearch (self-managed, Amazon OpenSearch Service
or Serverless) through opensearch-py.

The entry point ``opensearch = "genai_commons_opensearch:OpenSearchProvider"`` names the class;
each host makes its own instance. See ``docs/opensearch.md``.
"""

from __future__ import annotations

from .plugin import OpenSearchProvider

__all__ = ["OpenSearchProvider"]
