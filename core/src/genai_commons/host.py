"""The host: plugins, routing, capability checks, retries, the tool loop and usage events.

A :class:`Host` holds all state — its plugin manager, configuration and plugin instances — so two
hosts in one process share nothing. Every capability has a sync and an async method. The class is
assembled from one module per concern: ``_host_base`` (plugins, discovery, routing, retries, usage
events), ``_host_chat``, ``_host_media`` (embeddings, images), ``_host_rerank`` (reranking),
``_host_knowledge`` (knowledge bases), ``_host_rag`` (retrieve-and-generate) and ``_host_agents``.
"""

from __future__ import annotations

from ._host_agents import AgentCalls
from ._host_base import HostBase, ModelRef
from ._host_chat import ChatCalls
from ._host_media import MediaCalls
from ._host_rag import RagCalls
from ._host_rerank import RerankCalls

__all__ = ["Host", "ModelRef"]


class Host(ChatCalls, MediaCalls, RerankCalls, RagCalls, AgentCalls, HostBase):
    """Loads plugins and routes every call to the provider that owns its target.

    :param config: the configuration; by default loaded from ``GENAI_HOME`` and the environment.
    :param plugins: plugin objects or classes to register in-process, in addition to entry points.
    :param load_entry_points: discover installed plugins (default: the configuration's setting).
    :param allow: only these entry-point plugins load (default: the configuration's list).
    :param block: these entry-point plugins do not load (added to the configuration's list).
    """
