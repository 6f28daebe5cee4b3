"""Counting tokens as an embedding model does, and keeping texts within its input window.

A provider that knows a model's tokenizer answers the ``genai_count_tokens`` hook
(:meth:`genai_commons.Host.count_tokens`); for any other model :func:`estimate_tokens` gives a
conservative estimate from the text's UTF-8 size, so that chunks sized with it stay within the
window of the usual sub-word tokenizers (WordPiece, BPE, SentencePiece): those average about four
bytes of English per token and rarely fewer than three outside code and CJK scripts.

:class:`TokenLength` is the length function the ingestion pipeline gives the chunker;
:func:`warn_if_truncated` warns once per model per process when texts longer than the model's
``max_input_tokens`` reach it anyway (the model would drop their tails without saying).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

import attrs

from .._log import get_logger
from ..errors import GenAIError
from .chunking import Chunker, count_tokens

if TYPE_CHECKING:
    from ..model import DeployedModel

__all__ = ["BYTES_PER_TOKEN", "TokenLength", "estimate_tokens", "warn_if_truncated", "within_window"]

log = get_logger(__name__)

#: Bytes of UTF-8 per token assumed by :func:`estimate_tokens` (sub-word tokenizers average more).
BYTES_PER_TOKEN = 3
#: Tokens a model adds to every input (``[CLS]`` and ``[SEP]``, ``<s>`` and ``</s>``).
SPECIAL_TOKENS = 2


class CountsTokens(Protocol):
    """What counts tokens: :class:`genai_commons.Host`."""

    def count_tokens(self, model: DeployedModel, texts: Sequence[str]) -> list[int] | None: ...


#: Tokens a model may add to an input beyond the text's own (special tokens, prefixes).
_MARGIN = 8

_warned: set[str] = set()
_warned_lock = threading.Lock()


def estimate_tokens(texts: Sequence[str]) -> list[int]:
    """A conservative token count for each text when the model's tokenizer is unknown: the larger
    of its words and punctuation marks (:func:`~genai_commons.knowledge.chunking.count_tokens`)
    and its UTF-8 bytes over :data:`BYTES_PER_TOKEN`, plus :data:`SPECIAL_TOKENS`."""
    return [
        max(count_tokens(text), -(-len(text.encode("utf-8")) // BYTES_PER_TOKEN)) + SPECIAL_TOKENS for text in texts
    ]


class TokenLength:
    """The length of texts in ``model``'s tokens: counted by its provider when it can
    (:attr:`exact`), estimated with :func:`estimate_tokens` otherwise."""

    def __init__(self, host: CountsTokens, model: DeployedModel) -> None:
        self.host = host
        self.model = model
        #: Whether the provider counted (known after the first call; None before).
        self.exact: bool | None = None

    def __call__(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        if self.exact is not False:
            counted = self.host.count_tokens(self.model, texts)
            if self.exact is None:
                log.debug("chunk_lengths_measured", model=self.model.ref, tokenizer=counted is not None)
            self.exact = counted is not None
            if counted is not None:
                return counted
        return estimate_tokens(texts)


def within_window(chunker: Chunker, host: CountsTokens, model: DeployedModel | None) -> Chunker:
    """``chunker`` with ``model``'s input window as its hard limit (the smaller one when it has a
    limit already), measured in the model's tokens (:class:`TokenLength`); unchanged when the
    model declares no ``max_input_tokens``."""
    window = model.max_input_tokens if model is not None else None
    if model is None or window is None:
        return chunker
    if chunker.limit is not None and chunker.length is not None and chunker.limit <= window:
        return chunker
    limit = window if chunker.limit is None else min(chunker.limit, window)
    return attrs.evolve(chunker, limit=limit, length=TokenLength(host, model))


def warn_if_truncated(host: CountsTokens, model: DeployedModel, texts: Sequence[str]) -> None:
    """Warn (once per model per process) when a text is longer than ``model.max_input_tokens``
    by the provider's own count; models with no declared window or no counting provider are not
    checked. The warning names the model and the lengths, never the text."""
    limit = model.max_input_tokens
    if limit is None or model.ref in _warned or not texts:
        return
    if all(len(text) * 4 + _MARGIN <= limit for text in texts):
        return  # a token covers at least one byte and a character at most four: no count needed
    try:
        counted = host.count_tokens(model, texts)
    except GenAIError as exc:  # counting is advisory: the embedding call goes on
        log.debug("token_count_failed", model=model.ref, error=type(exc).__name__)
        return
    if counted is None:
        return
    longest = max(counted)
    if longest <= limit:
        return
    with _warned_lock:
        if model.ref in _warned:
            return
        _warned.add(model.ref)
    log.warning(
        "embedding_input_truncated",
        model=model.ref,
        max_input_tokens=limit,
        longest_tokens=longest,
        texts_over=sum(1 for count in counted if count > limit),
        hint="the model embeds only the first max_input_tokens tokens of these texts; "
        "ingest through genai kb ingest (which splits chunks to fit) or shorten them",
    )
