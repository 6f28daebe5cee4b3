"""A local Bedrock-compatible service for tests, demos and benchmarks — no AWS account needed.

::

    from genai_commons_bedrock.testing import LocalBedrock, LocalBedrockServer

    with LocalBedrockServer() as server:
        os.environ.update(server.environ())  # AWS_ENDPOINT_URL_BEDROCK_RUNTIME=http://127.0.0.1:PORT ...
        ...

``python -m genai_commons_bedrock.testing --port 8765`` runs one until interrupted.
"""

from __future__ import annotations

from .agents import LocalAgent
from .answers import Answer
from .knowledge import Document, LocalKnowledgeBase
from .models import Reply, ToolUse
from .server import ENDPOINT_VARIABLES, LocalBedrockServer, attach
from .service import FAULTS, TIMEOUT, LocalBedrock, Recorded

__all__ = [
    "ENDPOINT_VARIABLES",
    "FAULTS",
    "TIMEOUT",
    "Answer",
    "Document",
    "LocalAgent",
    "LocalBedrock",
    "LocalBedrockServer",
    "LocalKnowledgeBase",
    "Recorded",
    "Reply",
    "ToolUse",
    "attach",
]
