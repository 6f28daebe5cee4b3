"""A sentence embedding model run by ONNX Runtime: tokenizers, one ONNX session, pooling in numpy.

The same vectors as sentence-transformers (within 1e-4 cosine) with no torch in the process: the
text is tokenized with the model's ``tokenizer.json`` (:mod:`.tokens`), truncated at the model's
``max_seq_length``, and batched after sorting by length, so that a batch pads to similar lengths;
the session returns token vectors, pooled and normalised here as the model's pipeline says.

An ``onnxruntime.InferenceSession`` may run from several threads at once: :meth:`OnnxEncoder.encode`
tokenizes without a lock and runs as many batches at once as the cores allow. A cached file that
ONNX Runtime cannot load (truncated, damaged, from another version) is exported again, once.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genai_commons import ConfigurationError, ProviderError, get_logger

from .onnx_export import cached_model, export
from .pipeline import Pooling, SentencePipeline
from .tokens import load_tokenizer

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray
    from tokenizers import Tokenizer

log = get_logger(__name__)

#: A batch takes texts down to this fraction of its longest one's tokens (see :func:`_batches`).
PADDING_RATIO = 0.9


class OnnxEncoder:
    """One model: its pipeline, tokenizer and ONNX Runtime session."""

    def __init__(self, pipeline: SentencePipeline, session: Any, tokenizer: Tokenizer, *, threads: int) -> None:
        self.pipeline = pipeline
        self._session = session
        #: Runs at once: as many as the cores allow with ``threads`` each, whether they come from one
        #: call or from several (the ingestion pipeline embeds four batches at once).
        self.parallel = max(1, _usable_cores() // threads)
        self._gate = threading.BoundedSemaphore(self.parallel)
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._inputs = [item.name for item in session.get_inputs()]
        self._tokenizer = tokenizer

    @property
    def dimension(self) -> int:
        return self.pipeline.dimension

    @classmethod
    def load(cls, pipeline: SentencePipeline, model_id: str, cache: Path, *, threads: int = 0) -> OnnxEncoder:
        """The encoder of ``pipeline``, its ONNX file exported into ``cache`` first if missing or bad.

        :param threads: ONNX Runtime's threads for one run; 0 for 1. Runs go side by side, as many
            as the usable cores hold: one thread each keeps every core busy without the threads of a
            run waiting for each other, which costs a third of the speed on two shared cores.
        """
        try:
            import onnxruntime  # type: ignore[import-untyped]  # noqa: PLC0415 - only where a local model is used
        except ImportError as exc:
            raise ConfigurationError(
                f'[providers.local] runtime = "onnx" needs onnxruntime ({exc}): `pip install onnxruntime`, '
                'or set runtime = "torch"'
            ) from exc
        path = cached_model(pipeline, model_id, cache, onnxruntime=onnxruntime)
        try:
            session = _session(onnxruntime, path, threads)
        except Exception as exc:  # onnxruntime's own classes (InvalidProtobuf, Fail, ...) derive from Exception
            log.warning("onnx_model_rebuilt", model=model_id, path=str(path), error=f"{type(exc).__name__}: {exc}")
            shutil.rmtree(path.parent, ignore_errors=True)
            export(pipeline, model_id, path.parent, onnxruntime=onnxruntime)
            try:
                session = _session(onnxruntime, path, threads)
            except Exception as again:
                raise ProviderError(
                    f"ONNX Runtime cannot load {path}, exported just now, for local:{model_id}: {again}; "
                    'set [providers.local] runtime = "torch"',
                    provider="local",
                ) from again
        tokenizer = load_tokenizer(pipeline.directory)
        tokenizer.enable_truncation(pipeline.max_seq_length)
        log.info("embedding_model_loaded", model=model_id, runtime="onnx", path=str(path))
        return cls(pipeline, session, tokenizer, threads=threads or 1)

    def encode(self, texts: Sequence[str], *, batch_size: int, normalize: bool) -> tuple[NDArray[np.float32], int]:
        """One float32 row per text (in the order given) and the number of tokens read (after
        truncation, special tokens included)."""
        import numpy as np  # noqa: PLC0415

        if self.pipeline.lowercase:
            texts = [text.lower() for text in texts]
        encodings = self._tokenizer.encode_batch(list(texts), add_special_tokens=True)
        lengths = np.fromiter((len(item.ids) for item in encodings), dtype=np.int64, count=len(encodings))
        out = np.empty((len(encodings), self.pipeline.dimension), dtype=np.float32)

        def run(rows: NDArray[np.int64]) -> None:
            width = int(lengths[rows[0]])
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for row, index in enumerate(rows):
                ids[row, : lengths[index]] = encodings[index].ids
                mask[row, : lengths[index]] = 1
            feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            with self._gate:
                (tokens,) = self._session.run(None, {name: feeds[name] for name in self._inputs})
            out[rows] = _pool(np, self.pipeline.pooling, tokens, mask)

        # At least one batch per parallel run, so that one call alone keeps every core busy.
        batches = _batches(lengths, max(1, min(batch_size, -(-len(encodings) // self.parallel))))
        if len(batches) == 1 or self.parallel == 1:
            for rows in batches:
                run(rows)
        else:
            list(self._executor().map(run, batches))  # list(): raise the first failure here
        if normalize or self.pipeline.normalize:
            out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out, int(lengths.sum())

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.parallel, thread_name_prefix="genai-onnx")
            return self._pool


def _batches(lengths: NDArray[np.int64], batch_size: int) -> list[NDArray[np.int64]]:
    """The texts' indices in batches of similar lengths, each longest first.

    Sorted longest first, a batch ends at ``batch_size`` texts or at a text shorter than
    :data:`PADDING_RATIO` of the batch's first (longest): the padding of a batch is then at most
    a tenth of its tokens. Padding is computed like real tokens, and a call of 64 chunks of 20 to
    256 tokens padded to its longest (what sentence-transformers does) spends half its time on it;
    on docs/, 0.9 ingested faster than 0.8 and much faster than 0.6.
    """
    import numpy as np  # noqa: PLC0415

    order = np.argsort(-lengths, kind="stable")
    batches: list[NDArray[np.int64]] = []
    start = 0
    for end in range(1, len(order) + 1):
        if (
            end == len(order)
            or end - start == batch_size
            or lengths[order[end]] < PADDING_RATIO * lengths[order[start]]
        ):
            batches.append(order[start:end])
            start = end
    return batches


def _pool(np: Any, pooling: Pooling, tokens: Any, mask: Any) -> Any:
    """sentence-transformers' Pooling module, in numpy."""
    if pooling is Pooling.CLS:
        return tokens[:, 0]
    weights = mask[..., None].astype(np.float32)
    if pooling is Pooling.MAX:
        return np.where(weights > 0, tokens, np.float32(-1e9)).max(axis=1)
    return (tokens * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), np.float32(1e-9))


def _session(onnxruntime: Any, path: Path, threads: int) -> Any:
    options = onnxruntime.SessionOptions()
    # Optimised when exported (onnx_export._optimise): only the cheap, machine-specific passes are left.
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.intra_op_num_threads = threads or 1
    options.inter_op_num_threads = 1
    # Idle threads sleep instead of spinning for the next run: on a few shared cores, spinning
    # takes the CPU from the tokenizer, the store and the other processes.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # errors only: the optimiser's notices say nothing to act on
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
