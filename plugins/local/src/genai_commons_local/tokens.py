"""The tokenizers of local models, read from the model's own ``tokenizer.json`` with Hugging Face
``tokenizers`` (Rust, no torch): for counting what a model reads and for encoding its input.

:func:`load_tokenizer` keeps one parsed tokenizer per file; callers get a copy of it, since a
``tokenizers.Tokenizer`` carries its truncation and padding settings with it and two callers may
want different ones.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from genai_commons import NotFoundError

if TYPE_CHECKING:
    from tokenizers import Tokenizer

_parsed: dict[Path, str] = {}
_lock = threading.Lock()


def load_tokenizer(model_dir: str | Path) -> Tokenizer:
    """The tokenizer of the model in ``model_dir`` (its ``tokenizer.json``), with no truncation
    and no padding; a fresh copy on each call, parsed once per file."""
    from tokenizers import Tokenizer  # noqa: PLC0415 - only where a local model is used

    path = (Path(model_dir) / "tokenizer.json").resolve()
    with _lock:
        serialized = _parsed.get(path)
        if serialized is None:
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
            serialized = _parsed[path] = tokenizer.to_str()
            return tokenizer
    return Tokenizer.from_str(serialized)


def count_tokens(tokenizer: Tokenizer, texts: list[str]) -> list[int]:
    """How many tokens the model reads for each text, its special tokens included."""
    return [len(encoding.ids) for encoding in tokenizer.encode_batch(texts, add_special_tokens=True)]


_counters: dict[Path, Tokenizer] = {}


def count_model_tokens(model_dir: str | Path, texts: list[str]) -> list[int]:
    """:func:`count_tokens` with the tokenizer of the model in ``model_dir``, kept for the process
    (parsing one takes tens of milliseconds; counting never changes its settings)."""
    path = Path(model_dir).resolve()
    tokenizer = _counters.get(path)
    if tokenizer is None:
        tokenizer = _counters.setdefault(path, load_tokenizer(path))
    return count_tokens(tokenizer, texts)
