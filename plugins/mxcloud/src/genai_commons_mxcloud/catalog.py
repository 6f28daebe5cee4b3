"""The keys this host knows, and what they offer: models, knowledge bases, and the key behind each.

Keys come from, in this order (a later source wins a name): the key store, the ``keys`` setting
(base64 texts in ``[providers.mxcloud]``), the ``key_files`` setting, and ``GENAI_MXCLOUD_KEY``.
Reading them needs no network. A text-generation key ``NAME`` is the chat model ``mxcloud:NAME``;
an embeddings key the embeddings model ``mxcloud:NAME``; a knowledge-base key ``NAME`` is the
knowledge bases ``mxcloud:NAME/COLLECTION`` (``mxcloud:COLLECTION`` when it is the only one) and
its embeddings model ``mxcloud:NAME/embeddings``. A key that cannot be read is left out and
reported (``genai mxcloud key list``), so that the other keys keep working.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from attrs import frozen

from genai_commons import (
    ConfigurationError,
    DeployedModel,
    GenAIError,
    KnowledgeBase,
    Modality,
    UnknownModelError,
    get_logger,
)
from genai_commons.formats.converse import DOCUMENT_FORMAT_NAMES, IMAGE_FORMAT_NAMES, SAMPLING_RANGE

from .errors import PROVIDER
from .keys import ENV_KEY, ConnectionKey, KeyType
from .keystore import KeyStore
from .limits import EMBED_BATCH

__all__ = ["Catalog", "KeyEntry"]

log = get_logger(__name__)

_CHAT_INPUTS = frozenset({Modality.TEXT, Modality.IMAGE, Modality.DOCUMENT})


@frozen(kw_only=True)
class KeyEntry:
    """A key and where it was read from (``key store``, ``settings``, a file, the environment)."""

    key: ConnectionKey
    source: str


def chat_model(key: ConnectionKey) -> DeployedModel:
    return DeployedModel(
        provider=PROVIDER,
        model_id=key.name,
        display_name=f"{key.model or 'Claude'} ({key.name})",
        input_modalities=_CHAT_INPUTS,
        url_input_modalities=(),  # Converse reads inline bytes only
        supports_function_calling=True,
        supports_streaming=True,
        max_input_tokens=200_000,
        # What Converse takes, and the formats the resource documents (images: PNG, JPEG, GIF,
        # WebP; documents: PDF, CSV, DOC(X), XLS(X), HTML, TXT, MD).
        temperature_range=SAMPLING_RANGE,
        top_p_range=SAMPLING_RANGE,
        image_formats=IMAGE_FORMAT_NAMES,
        document_formats=DOCUMENT_FORMAT_NAMES,
    )


def embeddings_model(key: ConnectionKey) -> DeployedModel:
    cohere_v3 = not key.model or "v3" in key.model.lower()
    return DeployedModel(
        provider=PROVIDER,
        model_id=key.name,
        display_name=f"{key.model or 'Cohere Embed'} ({key.name})",
        output_modality=Modality.EMBEDDINGS,
        supports_history=False,
        supports_system_prompt=False,
        max_batch_size=EMBED_BATCH,
        max_input_tokens=512,
        dimensions=1024 if cohere_v3 else None,
    )


class Catalog:
    """The keys read from every source; see the module docstring."""

    def __init__(
        self,
        *,
        store: KeyStore | None,
        settings_keys: Sequence[str],
        key_files: Sequence[Path],
        environ: Mapping[str, str],
    ) -> None:
        self.store = store
        self.entries: dict[str, KeyEntry] = {}
        #: Keys that could not be read: (source, what is wrong).
        self.problems: list[tuple[str, str]] = []
        self._load(settings_keys, key_files, environ)

    def _add(self, key: ConnectionKey, source: str) -> None:
        if key.name in self.entries:
            log.info("connection_key_shadowed", key=key.name, by=source, was=self.entries[key.name].source)
        self.entries[key.name] = KeyEntry(key=key, source=source)

    def _problem(self, source: str, error: GenAIError) -> None:
        self.problems.append((source, str(error)))
        log.warning("connection_key_rejected", source=source, error=str(error))

    def _load(self, settings_keys: Sequence[str], key_files: Sequence[Path], environ: Mapping[str, str]) -> None:
        if self.store is not None:
            try:
                for key in self.store.load():
                    self._add(key, "key store")
            except GenAIError as exc:
                self._problem(f"key store {self.store.path}", exc)
        for number, text in enumerate(settings_keys, 1):
            try:
                self._add(ConnectionKey.parse(text, where=f"[providers.mxcloud] keys[{number}]"), "settings")
            except GenAIError as exc:
                self._problem(f"[providers.mxcloud] keys[{number}]", exc)
        for path in key_files:
            try:
                self._add(ConnectionKey.from_file(path), f"file {path}")
            except GenAIError as exc:
                self._problem(f"file {path}", exc)
        try:
            for key in ConnectionKey.from_env(dict(environ)):
                self._add(key, ENV_KEY)
        except GenAIError as exc:
            self._problem(ENV_KEY, exc)

    # -- what the keys offer -------------------------------------------------------------------

    def keys(self, key_type: KeyType | None = None) -> list[ConnectionKey]:
        return [e.key for e in self.entries.values() if key_type is None or e.key.key_type is key_type]

    def models(self) -> list[DeployedModel]:
        models: list[DeployedModel] = []
        for key in self.keys():
            if key.key_type is KeyType.TEXT_GENERATION:
                models.append(chat_model(key))
            elif key.key_type is KeyType.EMBEDDINGS_GENERATION:
                models.append(embeddings_model(key))
            elif key.embeddings is not None:
                models.append(embeddings_model(key.embeddings))
        return models

    def model_key(self, model_id: str) -> ConnectionKey:
        """The key that serves the model ``mxcloud:model_id``."""
        for key in self.keys():
            if key.name == model_id and key.key_type is not KeyType.KNOWLEDGE_BASE:
                return key
            if key.embeddings is not None and key.embeddings.name == model_id:
                return key.embeddings
        raise self._unknown(f"no connection key serves the model mxcloud:{model_id}")

    def knowledge_base(self, name: str, collection: str | None = None) -> tuple[ConnectionKey, str]:
        """The knowledge-base key and the collection for a knowledge base named ``KEY/COLLECTION``
        (or ``COLLECTION`` when one knowledge-base key is known)."""
        kb_keys = self.keys(KeyType.KNOWLEDGE_BASE)
        for candidate in (collection, name):
            if candidate and "/" in candidate:
                key_name, _, rest = candidate.partition("/")
                for key in kb_keys:
                    if key.name == key_name and rest:
                        return key, rest
        if "/" in name and kb_keys:
            known = ", ".join(k.name for k in kb_keys)
            raise self._unknown(f"no knowledge-base key named {name.partition('/')[0]!r} (known: {known})")
        if len(kb_keys) == 1:
            return kb_keys[0], collection or name
        if not kb_keys:
            raise self._unknown(
                "no knowledge-base connection key is known: import one with `genai mxcloud key import` or set "
                f"{ENV_KEY}"
            )
        names = ", ".join(k.name for k in kb_keys)
        raise ConfigurationError(
            f"several knowledge-base keys are known ({names}): name the key and the collection, "
            f"as mxcloud:KEY/{collection or name}"
        )

    def knowledge_base_for(self, key: ConnectionKey, collection: str, name: str | None = None) -> KnowledgeBase:
        assert key.embeddings is not None
        return KnowledgeBase(
            provider=PROVIDER,
            name=name or f"{key.name}/{collection}",
            collection=collection,
            embedding_model=embeddings_model(key.embeddings),
            description=f"collection {collection!r} of the Mendix Cloud knowledge base of key {key.name!r}",
        )

    def _unknown(self, message: str) -> GenAIError:
        if self.problems:
            rejected = "; ".join(f"{source}: {error}" for source, error in self.problems)
            return ConfigurationError(f"{message}; some keys could not be read — {rejected}")
        return UnknownModelError(message)
