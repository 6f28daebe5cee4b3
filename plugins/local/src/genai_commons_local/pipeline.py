"""What a sentence-transformers model directory computes, read from its JSON files alone (no torch):
whether ONNX Runtime can run it exactly as sentence-transformers does, and with which settings.

ONNX Runtime runs the pipelines ``Transformer → Pooling → [Normalize]`` that most sentence
embedding models are (all-MiniLM-L6-v2 among them): the transformer at the directory's root, one
pooling mode (mean, CLS token or max), no prompts, a ``tokenizer.json``. Anything else (Dense layers,
prompts such as E5's ``query: ``, weighted pooling, a model named only by its Hugging Face name)
stays with sentence-transformers: :func:`read_pipeline` says why.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Any

from attrs import frozen

from genai_commons import UnsupportedCapabilityError


class Pooling(StrEnum):
    """How token vectors become one sentence vector (sentence-transformers' ``pooling_mode_*``)."""

    MEAN = "mean"
    CLS = "cls"
    MAX = "max"


_POOLING_KEYS = {
    "pooling_mode_mean_tokens": Pooling.MEAN,
    "pooling_mode_cls_token": Pooling.CLS,
    "pooling_mode_max_tokens": Pooling.MAX,
}
_OTHER_POOLING_KEYS = (
    "pooling_mode_mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens",
    "pooling_mode_lasttoken",
)


@frozen(kw_only=True)
class SentencePipeline:
    """A model directory that ONNX Runtime can run: its transformer's files and what follows it."""

    directory: Path
    max_seq_length: int
    pooling: Pooling
    normalize: bool
    lowercase: bool
    dimension: int
    #: The files whose bytes decide the exported graph: the weights and ``config.json``.
    weights: tuple[Path, ...]


def read_pipeline(directory: Path) -> SentencePipeline:
    """The pipeline of the model in ``directory``.

    :raises UnsupportedCapabilityError: ONNX Runtime cannot run it as sentence-transformers does
        (the message says why); sentence-transformers still can.
    """
    modules = _json(directory / "modules.json")
    if not isinstance(modules, list):
        raise _unsupported(directory, "it has no modules.json")
    kinds = [str(module.get("type", "")).rsplit(".", 1)[-1] for module in modules]
    if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        raise _unsupported(directory, f"its modules are {' → '.join(kinds)}, not Transformer → Pooling → [Normalize]")
    if str(modules[0].get("path", "")) not in ("", "."):
        raise _unsupported(directory, "its transformer is not at the directory's root")
    prompts = _json(directory / "config_sentence_transformers.json") or {}
    if any(prompts.get("prompts", {}).values()) or prompts.get("default_prompt_name"):
        raise _unsupported(directory, "it uses prompts")
    pooling = _pooling(directory, _json(directory / str(modules[1].get("path", "")) / "config.json"))
    config = _json(directory / "config.json") or {}
    weights = sorted(directory.glob("*.safetensors")) or sorted(directory.glob("pytorch_model*.bin"))
    if not weights or not (directory / "tokenizer.json").is_file():
        raise _unsupported(directory, "it lacks model.safetensors (or pytorch_model.bin) or tokenizer.json")
    bert = _json(directory / "sentence_bert_config.json") or {}
    return SentencePipeline(
        directory=directory,
        max_seq_length=_max_seq_length(directory, bert, config),
        pooling=pooling,
        normalize=kinds[-1] == "Normalize",
        lowercase=bool(bert.get("do_lower_case", False)),
        dimension=int(config.get("hidden_size", 0)),
        weights=(*weights, directory / "config.json"),
    )


def _pooling(directory: Path, config: Any) -> Pooling:
    if not isinstance(config, dict):
        raise _unsupported(directory, "its pooling module has no config.json")
    modes = [mode for key, mode in _POOLING_KEYS.items() if config.get(key)]
    if len(modes) != 1 or any(config.get(key) for key in _OTHER_POOLING_KEYS):
        raise _unsupported(directory, "its pooling is not exactly one of mean, CLS token or max")
    return modes[0]


def _max_seq_length(directory: Path, bert: dict[str, Any], config: dict[str, Any]) -> int:
    """sentence-transformers' rule: ``sentence_bert_config.json``, else the smaller of the model's
    position embeddings and the tokenizer's ``model_max_length``."""
    if isinstance(bert.get("max_seq_length"), int):
        return int(bert["max_seq_length"])
    tokenizer = _json(directory / "tokenizer_config.json") or {}
    limits = [
        value
        for value in (config.get("max_position_embeddings"), tokenizer.get("model_max_length"))
        if isinstance(value, int) and value > 0
    ]
    if not limits:
        raise _unsupported(directory, "it declares no maximum sequence length")
    return min(limits)


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _unsupported(directory: Path, why: str) -> UnsupportedCapabilityError:
    return UnsupportedCapabilityError(
        f"ONNX Runtime does not run the model in {directory}: {why}; it runs with sentence-transformers",
        target=str(directory),
        capability="ONNX Runtime",
    )
