"""The example provider: models as data, settings, and one short method per capability."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from genai_commons import (
    ChatStreamEvent,
    ChunkCollection,
    DeployedModel,
    EmbeddingsOptions,
    EmbeddingsResponse,
    Modality,
    Provider,
    ProviderSettings,
    Request,
    Response,
)

from . import wire
from .engine import LocalEngine
from .errors import translated_errors

NAME = "example"

MODELS = (
    DeployedModel(provider=NAME, model_id="echo", display_name="Example Echo", supports_streaming=True),
    DeployedModel(provider=NAME, model_id="reverse", display_name="Example Reverse", supports_streaming=True),
    DeployedModel(provider=NAME, model_id="embed", display_name="Example Embed", output_modality=Modality.EMBEDDINGS),
)


class ExampleProvider(Provider):
    """Chat (echo or reverse the prompt), streaming chat and hashing-trick embeddings.

    Settings (``[providers.example]`` in the configuration file):

    * ``prefix`` — what the echo model puts before the prompt (default ``You said:``).
    * ``api_key`` — not needed by the local engine; read as a :class:`Secret` to show how
      (``EXAMPLE_API_KEY`` in the environment wins over the file).
    """

    name = NAME
    description = "Example plugin: a deterministic rule-based chat and hashing embeddings."

    def __init__(self, engine: LocalEngine | None = None) -> None:
        super().__init__()
        #: The transport; tests pass their own.
        self.engine = engine

    def configure(self, settings: ProviderSettings) -> None:
        if self.engine is None:
            api_key = settings.get_secret("api_key", env="EXAMPLE_API_KEY")
            self.engine = LocalEngine(
                prefix=settings.get_str("prefix", default="You said:") or "",
                api_key=api_key.reveal() if api_key else None,
            )

    def _engine(self) -> LocalEngine:
        if self.engine is None:  # used without a host
            self.engine = LocalEngine()
        return self.engine

    def models(self) -> Iterable[DeployedModel]:
        return MODELS

    def chat(self, model: DeployedModel, request: Request) -> Response:
        with translated_errors(self.name):
            data = self._engine().complete(wire.chat_body(model.model_id, request))
        return wire.chat_response(data)

    def chat_stream(self, model: DeployedModel, request: Request) -> Iterator[ChatStreamEvent]:
        with translated_errors(self.name):
            for data in self._engine().stream(wire.chat_body(model.model_id, request)):
                yield wire.stream_event(data)

    def embed(self, model: DeployedModel, chunks: ChunkCollection, options: EmbeddingsOptions) -> EmbeddingsResponse:
        with translated_errors(self.name):
            data = self._engine().embed(wire.embed_body(model.model_id, chunks, options))
        return wire.embeddings_response(data, chunks)
