"""A fake OpenAI API for tests and examples: :class:`FakeOpenAI` (the API's behaviour, written
from its reference) served in-process by ``FakeOpenAI().transport()`` (an ``httpx.MockTransport``)
or over loopback HTTP by :class:`FakeOpenAIServer`::

    from genai_commons_openai.testing import FakeOpenAIServer

    with FakeOpenAIServer() as server:          # http://127.0.0.1:PORT/v1, key "sk-test"
        server.service.script("Hello!")         # the next chat answer
        server.service.fail_next("rate_limit")  # ...after one 429
        ...                                     # OPENAI_BASE_URL=server.url OPENAI_API_KEY=sk-test

Nothing here is imported by the plugin itself.
"""

from __future__ import annotations

from .server import FakeOpenAIServer
from .service import DEFAULT_MODELS, FAULTS, Answer, FakeOpenAI, Recorded, Reply

__all__ = ["DEFAULT_MODELS", "FAULTS", "Answer", "FakeOpenAI", "FakeOpenAIServer", "Recorded", "Reply"]
