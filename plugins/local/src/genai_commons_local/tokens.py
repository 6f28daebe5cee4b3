"""The tokenizers of local models, read from the model's own ``tokenizer.json`` with Hugging Face
``tokenizers`` (Rust, no torch): for counting what a model reads and for encoding its input.

:func:`load_tokenizer` parses a fresh tokenizer on each call, since a ``tokenizers.Tokenizer``
carries its truncation and padding settings with it and two callers may want different ones;
:func:`count_model_tokens` keeps one per model for the process.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from genai_commons import NotFoundError

if TYPE_CHECKING:
    from tokenizers import Tokenizer

_counters: dict[Path, Tokenizer] = {}
_lock = threading.Lock()


def load_tokenizer(model_dir: str | Path) -> Tokenizer:
    """The tokenizer of the model in ``model_dir`` (its ``tokenizer.json``), with no truncation
    and no padding."""
    from tokenizers import Tokenizer  # noqa: PLC0415 - only where a local model is used

    path = (Path(model_dir) / "tokenizer.json").resolve()
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises plain Exception for a missing or bad file
        raise NotFoundError(
            f"cannot read the tokenizer {path}: {exc}; the model directory needs the "
            "tokenizer.json that Hugging Face models ship",
            provider="local",
        ) from exc
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def count_tokens(tokenizer: Tokenizer, texts: list[str]) -> list[int]:
    """How many tokens the model reads for each text, its special tokens included."""
    return [len(encoding.ids) for encoding in tokenizer.encode_batch(texts, add_special_tokens=True)]


def count_model_tokens(model_dir: str | Path, texts: list[str]) -> list[int]:
    """:func:`count_tokens` with the tokenizer of the model in ``model_dir``, kept for the process
    (parsing one takes tens of milliseconds; counting never changes its settings)."""
    path = Path(model_dir).resolve()
    with _lock:
        tokenizer = _counters.get(path)
        if tokenizer is None:
            tokenizer = _counters[path] = load_tokenizer(path)
    return count_tokens(tokenizer, texts)
