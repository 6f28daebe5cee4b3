"""The core's conformance suite, run against the local provider with the real embedding model."""

from __future__ import annotations

import pytest
from local_helpers import needs_model

from genai_commons.testing.conformance import ProviderConformance
from genai_commons_local import LocalProvider


@needs_model
class TestLocalConformance(ProviderConformance):
    EMBEDDING_MODEL = "local:all-MiniLM-L6-v2"
    KNOWLEDGE_BASE = "local:conformance"

    @pytest.fixture
    def plugin(self, sentence_models) -> LocalProvider:
        # A fresh provider (and store, under the test's home) per test; the loaded model is shared.
        return LocalProvider(models=sentence_models)
