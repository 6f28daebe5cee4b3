"""The ONNX files of local models: exported once from the model's own weights, cached by their hash.

A model's transformer is exported with torch's TorchScript exporter (``torch.onnx.export``,
``dynamo=False``: it needs the ``onnx`` package but not ``onnxscript``) to a graph from
``input_ids``, ``attention_mask`` (and ``token_type_ids``) to the token vectors; pooling and
normalisation run in numpy (:mod:`.onnx_model`). The graph is
saved already optimised by ONNX Runtime, its weights in a file of their own that ONNX Runtime maps
rather than parses, as ``<cache>/<model id>-<hash>/model.onnx`` (+ ``model.onnx.data``), the hash a
SHA-256 of the weights, ``config.json``, :data:`EXPORT_FORMAT` and ONNX Runtime's version, so a
changed model is exported again and an unchanged one never is. Hashing
90 MB of weights on every start would cost a few hundred milliseconds, so each file's hash is
remembered in ``<cache>/hashes.json`` under its path, size and modification time.

Exporting takes seconds and needs torch and transformers; later processes need neither. Two
processes exporting at once each write a temporary directory in the cache and rename it into place
(atomic on one file system): the first rename wins, the other process keeps the winner's files.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import re
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genai_commons import ConfigurationError, ProviderError, get_logger

if TYPE_CHECKING:
    from .pipeline import SentencePipeline

log = get_logger(__name__)

#: Part of every cache key: raise it when the exported graph changes, to export every model again.
EXPORT_FORMAT = "1"
OPSET = 17
HASHES = "hashes.json"
#: The graph's file in a model's cache directory; its weights are in ``model.onnx.data`` beside it.
MODEL = "model.onnx"


def cached_model(pipeline: SentencePipeline, model_id: str, cache: Path, *, onnxruntime: Any) -> Path:
    """The ONNX file of ``pipeline``'s transformer under ``cache``, exported first if missing.

    :param onnxruntime: the imported module (its version is part of the key: the cached graph is
        optimised by it).
    """
    directory = model_directory(pipeline, model_id, cache, runtime_version=onnxruntime.__version__)
    if not (directory / MODEL).is_file():
        export(pipeline, model_id, directory, onnxruntime=onnxruntime)
    return directory / MODEL


def model_directory(pipeline: SentencePipeline, model_id: str, cache: Path, *, runtime_version: str) -> Path:
    """Where the ONNX files of ``pipeline``'s current weights are (or will be) cached."""
    digest = hashlib.sha256(f"{EXPORT_FORMAT}|{OPSET}|{runtime_version}".encode())
    for file in pipeline.weights:
        digest.update(file.name.encode())
        digest.update(_file_hash(file, cache).encode())
    label = re.sub(r"[^A-Za-z0-9._-]+", "_", model_id).strip("._") or "model"
    return cache / f"{label}-{digest.hexdigest()[:20]}"


def export(pipeline: SentencePipeline, model_id: str, target: Path, *, onnxruntime: Any) -> None:
    """Export ``pipeline``'s transformer into the directory ``target``: a temporary directory,
    renamed into place when complete (if another process got there first, its files are kept)."""
    try:
        import torch  # noqa: PLC0415 - only to export, once per model
        import transformers  # noqa: PLC0415
    except ImportError as exc:
        raise ConfigurationError(
            f"exporting local:{model_id} to ONNX needs torch and transformers ({exc}); install them "
            "(`pip install torch==2.13.0` from the CPU wheels, then genai-commons-local), or set [providers.local] "
            'runtime = "torch"'
        ) from exc
    log.info("onnx_export_started", model=model_id, path=str(target))
    started = time.perf_counter()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-", suffix=".tmp"))
    except OSError as exc:
        raise ProviderError(
            f"cannot write the ONNX cache {target.parent}: {exc}; make it writable or set [providers.local] "
            "model_cache",
            provider="local",
        ) from exc
    try:
        with _quiet():
            _export(torch, transformers, pipeline, temporary / "traced.onnx")
        _optimise(onnxruntime, temporary / "traced.onnx", temporary / MODEL)
        (temporary / "traced.onnx").unlink()
        for path in (temporary, *temporary.iterdir()):
            path.chmod(0o755 if path.is_dir() else 0o644)  # mkdtemp's 0700 would hide a shared home's cache
        try:
            temporary.rename(target)
        except OSError:
            if not (target / MODEL).is_file():
                raise  # not another process's export: a real failure
    except (ImportError, OSError) as exc:
        raise ProviderError(
            f"cannot export local:{model_id} to {target}: {exc}; check that the directory is writable "
            '(or set [providers.local] model_cache), install the onnx package, or set runtime = "torch"',
            provider="local",
        ) from exc
    except Exception as exc:  # torch's exporter raises many kinds (tracing, unsupported operators)
        raise ProviderError(
            f"cannot export local:{model_id} to ONNX: {type(exc).__name__}: {exc}; set [providers.local] "
            'runtime = "torch" to run it with sentence-transformers',
            provider="local",
        ) from exc
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    log.info("onnx_export_finished", model=model_id, path=str(target), seconds=round(time.perf_counter() - started, 1))


def _optimise(onnxruntime: Any, source: Path, target: Path) -> None:
    """Save ``source`` optimised by ONNX Runtime (fusions that hold on every CPU, not the
    machine-specific layouts), its weights in ``<target>.data``: a later process then skips the
    optimiser and maps the weights instead of parsing them, which halves the session's start."""
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(target)
    options.add_session_config_entry("session.optimized_model_external_initializers_file_name", f"{MODEL}.data")
    options.add_session_config_entry("session.optimized_model_external_initializers_min_size_in_bytes", "1024")
    options.log_severity_level = 3
    onnxruntime.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])


def _export(torch: Any, transformers: Any, pipeline: SentencePipeline, path: Path) -> None:
    transformers.utils.logging.disable_progress_bar()
    try:
        model = transformers.AutoModel.from_pretrained(pipeline.directory, attn_implementation="eager")
    except (TypeError, ValueError):  # an architecture without the eager attention switch
        model = transformers.AutoModel.from_pretrained(pipeline.directory)
    model.eval()
    names = ["input_ids", "attention_mask"]
    if "token_type_ids" in inspect.signature(model.forward).parameters:
        names.append("token_type_ids")

    class TokenVectors(torch.nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *inputs: Any) -> Any:
            return self.model(**dict(zip(names, inputs, strict=True))).last_hidden_state

    sample = torch.ones((2, 8), dtype=torch.int64)
    inputs = tuple(torch.zeros_like(sample) if name == "token_type_ids" else sample for name in names)
    axes = {name: {0: "batch", 1: "sequence"} for name in [*names, "token_vectors"]}
    with torch.no_grad():
        torch.onnx.export(
            TokenVectors(),
            inputs,
            str(path),
            input_names=names,
            output_names=["token_vectors"],
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
        )


@contextmanager
def _quiet() -> Iterator[None]:
    """The exporter's tracer and deprecation warnings say nothing a user can act on."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _file_hash(file: Path, cache: Path) -> str:
    """The SHA-256 of ``file``, remembered under its path, size and modification time."""
    try:
        stat = file.stat()
    except OSError as exc:
        raise ProviderError(f"cannot read the model file {file}: {exc}", provider="local") from exc
    fingerprint = f"{file.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    known = _read_hashes(cache)
    digest = known.get(fingerprint)
    if isinstance(digest, str):
        return digest
    sha = hashlib.sha256()
    with file.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            sha.update(block)
    digest = sha.hexdigest()
    _write_hashes(cache, {**_read_hashes(cache), fingerprint: digest})
    return digest


def _read_hashes(cache: Path) -> dict[str, Any]:
    try:
        value = json.loads((cache / HASHES).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _write_hashes(cache: Path, hashes: dict[str, Any]) -> None:
    """Best effort: a cache that cannot be written only costs hashing again next time."""
    temporary: str | None = None
    try:
        cache.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=cache, prefix=".hashes-", suffix=".tmp")
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(hashes, stream, indent=0, sort_keys=True)
        os.chmod(temporary, 0o644)
        os.replace(temporary, cache / HASHES)
    except OSError as exc:
        log.warning("onnx_hash_cache_not_written", path=str(cache / HASHES), error=str(exc))
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)
