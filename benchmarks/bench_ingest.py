"""Ingestion throughput: documents chunked, embedded by a loopback HTTP embedding server that
answers each call after 20 ms, and stored in the embedded knowledge-base store (provider
``local``; the fake in-memory store when genai-commons-local is not installed, or with
``--store memory``). The whole ``ingest_documents`` call is timed: chunking, ids, the stored-id
lookups, embedding and writes.

The baseline, measured in the same run, is the same pipeline sequential and unbatched: one text
per embedding call, one call at a time, one chunk per ingest call.

Target (issue 5): >= 2,000 chunks/s.

    .venv/bin/python benchmarks/bench_ingest.py [--documents 2000] [--store local|memory]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing
import tempfile
import threading
import time
from array import array
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import _results as results
import httpx

from genai_commons import ChunkCollection, Config, DeployedModel, EmbeddingsOptions, EmbeddingsResponse, Host, Provider
from genai_commons.config import KnowledgeSettings
from genai_commons.knowledge.chunking import Chunker
from genai_commons.knowledge.loaders import Document
from genai_commons.knowledge.pipeline import aingest_documents, ingest_documents
from genai_commons.model import KnowledgeBase

DIMENSIONS = 384
LATENCY_S = 0.020


class _Handler(BaseHTTPRequestHandler):
    """POST: embeddings of ``input`` after 20 ms (base64 float32, as OpenAI's encoding_format=base64);
    GET: how many embedding calls were answered."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body leave at once, not 40 ms apart
    vector = base64.b64encode(array("f", [1.0 / DIMENSIONS**0.5] * DIMENSIONS).tobytes()).decode("ascii")
    calls = 0
    lock = threading.Lock()

    def _reply(self, data: dict[str, Any]) -> None:
        payload = json.dumps(data).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        self._reply({"calls": _Handler.calls})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        time.sleep(LATENCY_S)
        with _Handler.lock:
            _Handler.calls += 1
        data = [{"index": i, "embedding": self.vector} for i in range(len(body["input"]))]
        self._reply({"data": data, "usage": {"prompt_tokens": len(body["input"])}})

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _serve(port: Any) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    port.value = server.server_address[1]
    server.serve_forever()


@contextmanager
def loopback_server() -> Iterator[str]:
    """The server in a process of its own, like a real one (its threads do not share our GIL)."""
    port = multiprocessing.Value("i", 0)
    process = multiprocessing.Process(target=_serve, args=(port,), daemon=True)
    process.start()
    try:
        while not port.value:
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port.value}"
    finally:
        process.terminate()
        process.join()


def server_calls(url: str) -> int:
    return int(httpx.get(url).json()["calls"])


class LoopbackEmbedder(Provider):
    """An embedding provider that calls the loopback server (OpenAI-like body, base64 vectors)."""

    name = "loopback"
    url = ""
    max_batch_size = 64

    def __init__(self) -> None:
        super().__init__()
        self._client = httpx.Client(timeout=10)
        self._async_client: httpx.AsyncClient | None = None

    def models(self) -> list[DeployedModel]:
        return [
            DeployedModel(
                provider="loopback",
                model_id="embed-20ms",
                output_modality="embeddings",
                max_batch_size=self.max_batch_size,
                dimensions=DIMENSIONS,
            )
        ]

    @staticmethod
    def _response(model: DeployedModel, chunks: ChunkCollection, data: dict[str, Any]) -> EmbeddingsResponse:
        vectors = [array("f", base64.b64decode(item["embedding"])) for item in data["data"]]
        return EmbeddingsResponse(
            chunks=chunks.with_vectors(vectors), input_tokens=data["usage"]["prompt_tokens"], model_id=model.model_id
        )

    def embed(self, model: DeployedModel, chunks: ChunkCollection, options: EmbeddingsOptions) -> EmbeddingsResponse:
        reply = self._client.post(self.url, json={"model": model.model_id, "input": chunks.texts})
        reply.raise_for_status()
        return self._response(model, chunks, reply.json())

    async def embed_async(
        self, model: DeployedModel, chunks: ChunkCollection, options: EmbeddingsOptions
    ) -> EmbeddingsResponse:
        if self._async_client is None:
            self._async_client = httpx.AsyncClient(timeout=10)
        reply = await self._async_client.post(self.url, json={"model": model.model_id, "input": chunks.texts})
        reply.raise_for_status()
        return self._response(model, chunks, reply.json())

    def close(self) -> None:
        self._client.close()


def make_documents(count: int) -> list[Document]:
    """Markdown documents of about ten chunks each (sections of a few sentences)."""
    sentence = "The quick brown fox jumps over the lazy dog while the cat watches from the fence."
    documents = []
    for n in range(count):
        sections = [f"## Section {s} of document {n}\n\n{sentence} {sentence} Item {n}.{s}." for s in range(10)]
        documents.append(Document(source_id=f"doc-{n:05d}.md", text="\n\n".join(sections), format="markdown"))
    return documents


def make_host(home: str, store: str, batch: int, concurrency: int) -> tuple[Host, KnowledgeBase]:
    settings = KnowledgeSettings(embed_batch_size=batch, embed_concurrency=concurrency)
    LoopbackEmbedder.max_batch_size = batch
    if store == "local":
        host = Host(Config.defaults(home, knowledge=settings), allow=["local"], plugins=[LoopbackEmbedder])
    else:
        from genai_commons.testing import FakeProvider

        host = Host(
            Config.defaults(home, knowledge=settings), load_entry_points=False, plugins=[FakeProvider, LoopbackEmbedder]
        )
    provider = "local" if store == "local" else "fake"
    kb = KnowledgeBase(provider=provider, name="bench", embedding_model=host.model("loopback:embed-20ms"))
    return host, kb


def local_installed() -> bool:
    from importlib.metadata import entry_points

    return any(ep.name == "local" for ep in entry_points(group="genai_commons"))


def run(
    store: str, documents: list[Document], *, batch: int, concurrency: int, call: int | None, use_async: bool
) -> tuple[int, float, int, float]:
    with tempfile.TemporaryDirectory() as home:
        host, kb = make_host(home, store, batch, concurrency)
        chunker = Chunker(strategy="markdown", size=200)
        before = server_calls(LoopbackEmbedder.url)
        started = time.perf_counter()
        if use_async:
            report = asyncio.run(
                aingest_documents(host, kb, documents, chunker=chunker, batch_size=call, progress=False)
            )
        else:
            report = ingest_documents(host, kb, documents, chunker=chunker, batch_size=call, progress=False)
        elapsed = time.perf_counter() - started
        again = ingest_documents(host, kb, documents, chunker=chunker, batch_size=call, progress=False)
        assert again.inserted == 0 and again.unchanged == report.inserted, "a second run writes nothing"
        host.close()
    return report.inserted, elapsed, server_calls(LoopbackEmbedder.url) - before, again.duration_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=2000, help="documents of ~10 chunks each")
    parser.add_argument("--baseline-documents", type=int, default=20, help="documents for the slow baseline")
    parser.add_argument("--store", choices=["local", "memory"], default=None)
    parser.add_argument("--batch", type=int, default=64, help="texts per embedding call")
    parser.add_argument("--concurrency", type=int, default=4, help="embedding calls in flight")
    results.add_argument(parser)
    args = parser.parse_args()
    results.start(args.json)
    store = args.store or ("local" if local_installed() else "memory")
    documents = make_documents(args.documents)
    with loopback_server() as url:
        LoopbackEmbedder.url = url
        base = run(store, make_documents(args.baseline_documents), batch=1, concurrency=1, call=1, use_async=False)
        sync = run(store, documents, batch=args.batch, concurrency=args.concurrency, call=None, use_async=False)
        async_ = run(store, documents, batch=args.batch, concurrency=args.concurrency, call=None, use_async=True)
    print(f"store: {store}; embedding server: {LATENCY_S * 1000:.0f} ms a call, {DIMENSIONS} dimensions")
    print(f"{'':44}{'chunks':>8}{'seconds':>9}{'chunks/s':>10}{'embed calls':>13}{'re-run s':>10}")
    rows = [
        ("baseline: sequential, unbatched", base),
        (f"ingest_documents (batch {args.batch}, {args.concurrency} in flight)", sync),
        (f"aingest_documents (batch {args.batch}, {args.concurrency} in flight)", async_),
    ]
    for label, (chunks, seconds, calls, rerun) in rows:
        print(f"{label:44}{chunks:>8}{seconds:>9.2f}{chunks / seconds:>10.0f}{calls:>13}{rerun:>10.2f}")
    worst = min(sync[0] / sync[1], async_[0] / async_[1])
    print(f"target >= 2,000 chunks/s: {'met' if worst >= 2000 else 'NOT met'} ({worst:,.0f} chunks/s)")
    for label, (chunks, seconds, _, _) in rows[1:]:
        results.measure(
            "ingest",
            f"{label}, {chunks} chunks into the {store} store: throughput",
            "chunks/s",
            (label.split(" (")[0], chunks / seconds),
            [(rows[0][0], base[0] / base[1])],
            goal=results.target(">= 2,000 chunks/s", chunks / seconds, ">=", 2000, unit="chunks/s"),
        )
    results.series(
        "ingest_throughput",
        f"ingestion into the {store} store, embeddings answering after 20 ms",
        "chunks/s",
        "bars",
        {label.split(" (")[0]: chunks / seconds for label, (chunks, seconds, _, _) in rows},
    )


if __name__ == "__main__":
    main()
