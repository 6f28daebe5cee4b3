"""The Mendix Cloud GenAI plugin against raw httpx, in the same run. Targets (issue 6):

* ingestion of 10,000 chunks (1024-dimension vectors, as Cohere Embed v3 makes them) into a
  knowledge base on the loopback fake service (a separate process) that answers every call after
  50 ms: <= 10 s wall, through ``host.ingest`` (batches of 100, several in flight). The baseline is
  the same 100 insert calls made one after the other with a raw ``httpx.Client``;
* chat: median overhead per call of the plugin over a raw ``httpx.Client.post`` of the same
  Converse request through the same in-process transport (an ``httpx.MockTransport`` answering a
  fixed Converse reply at once), paired and interleaved: <= 100 us. ``host.chat`` is shown too.

    .venv/bin/python benchmarks/bench_mxcloud.py [--chunks 10000] [--delay 0.05] [--pairs 3000]
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import statistics
import subprocess
import sys
import tempfile
import time
from array import array
from typing import Any

import _results as results
import httpx
import orjson
import structlog

from genai_commons import ChunkCollection, Config, Host, KnowledgeBaseChunk, MetadataCollection, Request
from genai_commons.formats.converse import converse_request
from genai_commons_mxcloud import ConnectionKey, MxCloudProvider
from genai_commons_mxcloud.testing import make_key
from genai_commons_mxcloud.wire import chunk_json

DIMENSIONS = 1024


def start_server(delay: float) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    command = [
        sys.executable,
        "-m",
        "genai_commons_mxcloud.testing",
        "--port",
        "0",
        "--delay",
        str(delay),
        "--no-record",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    return process, json.loads(process.stdout.readline())


def make_chunks(count: int) -> ChunkCollection:
    rng = random.Random(6)
    chunks = []
    for i in range(count):
        vector = array("f", (rng.uniform(-1, 1) for _ in range(DIMENSIONS)))
        chunks.append(
            KnowledgeBaseChunk(
                chunk_id=f"chunk-{i:06d}",
                input_text=f"Chunk {i} of the benchmark handbook, about topic {i % 17}.",
                human_readable_id=f"handbook.md#{i}",
                source_id=f"doc-{i // 20:05d}",
                metadata=MetadataCollection.of(topic=str(i % 17)),
                vector=vector,
            )
        )
    return ChunkCollection(chunks=chunks)


def bench_ingest(count: int, delay: float) -> None:
    process, info = start_server(delay)
    try:
        chunks = make_chunks(count)
        key = ConnectionKey.parse(info["keys"]["kb"])
        with tempfile.TemporaryDirectory() as home:
            config = Config.defaults(home, providers={"mxcloud": {"keys": [info["keys"]["kb"]]}})
            with Host(config, load_entry_points=False, plugins=[MxCloudProvider]) as host:
                kb = host.knowledge_base("mxcloud:kb/bench")
                started = time.perf_counter()
                result = host.ingest(kb, chunks)
                plugin_s = time.perf_counter() - started
                assert result.inserted == count
                stored = host.list_chunks(kb, limit=1)
                assert stored, "the chunks were stored"
        with httpx.Client(headers={"x-api-key": key.access_token.reveal(), "Content-Type": "application/json"}) as raw:
            url = f"{info['url']}/knowledge-bases/bench-raw/chunks"
            started = time.perf_counter()
            for i in range(0, count, 100):
                batch = {"chunks": [chunk_json(c) for c in chunks.chunks[i : i + 100]]}
                raw.post(url, content=orjson.dumps(batch)).raise_for_status()
            raw_s = time.perf_counter() - started
    finally:
        process.terminate()
        process.wait()
    calls = (count + 99) // 100
    print(
        f"ingest {count} chunks x {DIMENSIONS} dims, {calls} insert calls, service answers after {delay * 1000:.0f} ms"
    )
    print(f"  raw httpx + orjson, one call after the other (baseline)  {raw_s:7.2f} s")
    print(f"  host.ingest (batches of 100, 8 in flight)        {plugin_s:7.2f} s   ({raw_s / plugin_s:.1f}x faster)")
    print(f"  target <= 10 s wall: {'met' if plugin_s <= 10 else 'NOT met'}")
    results.measure(
        "ingest",
        f"ingest {count:,} chunks x {DIMENSIONS} dims, service answering after {delay * 1000:.0f} ms: wall time",
        "s",
        ("host.ingest (batches of 100, 8 in flight)", plugin_s),
        [("raw httpx + orjson, one call after the other", raw_s)],
        goal=results.target(
            "<= 10 s" if count == 10_000 else "<= 10 s (for 10,000 chunks)", plugin_s, "<=", 10, unit="s"
        ),
    )


REPLY = {
    "output": {"message": {"role": "assistant", "content": [{"text": "Hello to the benchmark!"}]}},
    "stopReason": "end_turn",
    "usage": {"inputTokens": 6, "outputTokens": 4, "totalTokens": 10},
    "metrics": {"latencyMs": 20},
}


def bench_chat(pairs: int) -> None:
    body = json.dumps(REPLY).encode()

    def handler(request: httpx.Request) -> httpx.Response:
        request.read()
        return httpx.Response(200, content=body, headers={"content-type": "application/json"})

    transport = httpx.MockTransport(handler)
    text_key = make_key("TEXT_GENERATION", "https://genai.example.com", "tok-bench", name="claude")
    key = ConnectionKey.parse(text_key)
    request = Request.create(max_tokens=200, temperature=0.2).with_message("user", "Say hello to the benchmark")
    raw_body = converse_request(request, file_bytes="base64")
    raw = httpx.Client(transport=transport, headers={"Content-Type": "application/json", "Accept": "application/json"})
    url = f"{key.base_url}/converse"
    with tempfile.TemporaryDirectory() as home:
        config = Config.defaults(home, providers={"mxcloud": {"keys": [text_key]}})
        with Host(config, load_entry_points=False, plugins=[MxCloudProvider(transport=transport)]) as host:
            provider = host.plugin_manager.get_plugin("mxcloud")
            model = host.model("mxcloud:claude")

            def raw_call() -> None:
                answer = raw.post(url, json=raw_body, headers={"x-api-key": key.access_token.reveal()})
                answer.raise_for_status()
                answer.json()

            calls = {
                "raw": raw_call,
                "provider": lambda: provider.chat(model, request),
                "host": lambda: host.chat(model, request),
            }
            for call in calls.values():  # warm up: imports, first connection
                for _ in range(200):
                    call()
            samples: dict[str, list[float]] = {name: [] for name in calls}
            for _ in range(pairs):
                for name, call in calls.items():
                    started = time.perf_counter()
                    call()
                    samples[name].append((time.perf_counter() - started) * 1e6)
    raw.close()
    medians = {name: statistics.median(values) for name, values in samples.items()}
    raw_us, provider_us, host_us = medians["raw"], medians["provider"], medians["host"]
    print(f"chat, {pairs} interleaved calls each (in-process transport answering at once)")
    print(f"  raw httpx post + json (baseline)   {raw_us:8.1f} us")
    print(f"  provider.chat()                    {provider_us:8.1f} us   overhead {provider_us - raw_us:6.1f} us")
    print(f"  host.chat()                        {host_us:8.1f} us   overhead {host_us - raw_us:6.1f} us")
    worst = medians["host"] - medians["raw"]
    print(f"  target <= 100 us overhead: {'met' if worst <= 100 else 'NOT met'}")
    results.measure(
        "chat",
        "chat (Converse) through an in-process transport: median per call",
        "us",
        ("host.chat", host_us),
        [("raw httpx post + json", raw_us), ("provider.chat() (no host)", provider_us)],
        goal=results.target("overhead <= 100 us", worst, "<=", 100, unit="us", figure="overhead of host.chat"),
        group="chat_per_call",
    )
    results.series(
        "mxcloud_chat_samples",
        "Mendix Cloud chat through an in-process transport, per call, interleaved",
        "us",
        "samples",
        samples,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--delay", type=float, default=0.05)
    parser.add_argument("--pairs", type=int, default=3000)
    results.add_argument(parser)
    args = parser.parse_args()
    results.start(args.json)
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING), cache_logger_on_first_use=True
    )
    bench_chat(args.pairs)
    bench_ingest(args.chunks, args.delay)


if __name__ == "__main__":
    main()
