"""Load: the long variants of the load suites (``tests/reliability/test_load_*.py``), each next to a
baseline measured in the same run.

1. chat — 10,000 chat calls through one async host at concurrency 256, for each HTTP plugin against
   its fake in another process, next to the same 10,000 calls made with raw ``httpx.AsyncClient``
   (OpenAI, Mendix Cloud) or raw boto3 in as many threads as its pool has connections (Bedrock),
   with the same pool limit. Figures: calls/s, p50 and p99 latency, errors, and what was left once
   the client was closed: file descriptors, sockets and threads of this process, connections the
   server still had open; with the most connections open at once and those opened in all.
   Target: no error, nothing left open, never more connections than the pool.
2. usage — 8 processes x N writes to one SQLite usage store at once, through ``host.chat`` and the
   usage store plugin, next to raw ``sqlite3`` inserts (same pragmas, one transaction each) from 8
   processes. Figures: rows lost (target 0), writes/s.
3. sigkill — an ingestion into the local store killed with SIGKILL at K random points and resumed,
   then a re-ingestion of changed sources killed at K/2 points and resumed, each compared with a
   clean ingestion into a fresh store. Figures: kills, chunks differing from the clean run
   (target 0), wall time against the clean ingestion's.

    .venv/bin/python benchmarks/bench_load.py [--only chat|usage|sigkill] [--calls 10000]
        [--concurrency 256] [--pool 16] [--plugins openai,mxcloud,bedrock] [--writes 1000]
        [--kills 20] [--documents 480] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import json
import multiprocessing
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "reliability"))  # the suites' helpers: one implementation

import httpx  # noqa: E402
from load_helpers import (  # noqa: E402
    BEDROCK_MODEL,
    OPENAI_MODEL,
    LoadResult,
    Resources,
    ServerProcess,
    drive,
    load_host,
    resources,
    settled,
)

try:
    import _results  # the benchmark report's recorder (benchmarks/_results.py)
except ImportError:  # pragma: no cover - an older checkout
    _results = None

FIGURES: dict[str, float | int | None] = {}


def figure(name: str, value: float | None) -> None:
    FIGURES[name] = None if value is None else round(float(value), 3)


def measure(*args: Any, **kwargs: Any) -> None:
    if _results is not None:
        _results.measure(*args, **kwargs)


def target(*args: Any, **kwargs: Any) -> dict[str, Any] | None:
    return _results.target(*args, **kwargs) if _results is not None else None


# -- 1. chat --------------------------------------------------------------------------------------


async def _raw_openai(url: str, pool: int, calls: int, concurrency: int) -> LoadResult:
    limits = httpx.Limits(max_connections=pool, max_keepalive_connections=pool)
    headers = {"Authorization": "Bearer sk-test"}
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=600) as client:

        async def call(prompt: str) -> str:
            body = {"model": OPENAI_MODEL, "messages": [{"role": "user", "content": prompt}]}
            answer = await client.post(f"{url}/chat/completions", json=body)
            answer.raise_for_status()
            return str(answer.json()["choices"][0]["message"]["content"])

        return await drive(call, calls, concurrency)


async def _raw_mxcloud(key_text: str, pool: int, calls: int, concurrency: int) -> LoadResult:
    from genai_commons_mxcloud import ConnectionKey

    key = ConnectionKey.parse(key_text)
    limits = httpx.Limits(max_connections=pool, max_keepalive_connections=pool)
    headers = {"x-api-key": key.access_token.reveal(), "Content-Type": "application/json"}
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=300) as client:

        async def call(prompt: str) -> str:
            body = {"messages": [{"role": "user", "content": [{"text": prompt}]}]}
            answer = await client.post(f"{key.base_url}/converse", json=body)
            answer.raise_for_status()
            return str(answer.json()["output"]["message"]["content"][0]["text"])

        return await drive(call, calls, concurrency)


async def _raw_boto3(url: str, pool: int, calls: int, concurrency: int) -> LoadResult:
    import boto3
    from botocore.config import Config as BotoConfig

    session = boto3.Session(aws_access_key_id="AKIDLOADTEST", aws_secret_access_key="x", region_name="us-east-1")
    config = BotoConfig(retries={"total_max_attempts": 1, "mode": "standard"}, max_pool_connections=pool)
    client = session.client("bedrock-runtime", endpoint_url=url, config=config)
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(pool, thread_name_prefix="raw-boto3") as threads:

        def converse(prompt: str) -> str:
            answer = client.converse(modelId=BEDROCK_MODEL, messages=[{"role": "user", "content": [{"text": prompt}]}])
            return str(answer["output"]["message"]["content"][0]["text"])

        async def call(prompt: str) -> str:
            return await loop.run_in_executor(threads, converse, prompt)

        try:
            return await drive(call, calls, concurrency)
        finally:
            client.close()


async def _through_host(kind: str, info: dict[str, Any], home: str, pool: int, calls: int, concurrency: int) -> Any:
    loaded = load_host(kind, info, home, pool=pool)
    async with loaded.host as host:

        async def call(prompt: str) -> str:
            return (await host.achat(loaded.model, prompt)).text

        result = await drive(call, calls, concurrency)
    return result, len(loaded.usage.records)


def _one_subject(
    kind: str, run: Callable[[ServerProcess], Awaitable[Any]]
) -> tuple[LoadResult, int | None, dict[str, int], dict[str, int]]:
    """One subject against a fresh fake: its result, usage records (host only), what this process
    still held once it had closed its client, and the server's connection counts."""
    with ServerProcess(kind) as server:
        baseline = resources()
        outcome = asyncio.run(run(server))
        after: Resources = settled(baseline)
        seen = server.wait_closed()
    result, usage = outcome if isinstance(outcome, tuple) else (outcome, None)
    return result, usage, after.delta(baseline), seen


def bench_chat(plugins: list[str], calls: int, concurrency: int, pool: int) -> None:
    print(f"\n== chat: {calls} calls at concurrency {concurrency}, pool {pool} connections, fake in another process")
    header = f"{'plugin':8s} {'subject':28s} {'calls/s':>8s} {'p50 ms':>8s} {'p99 ms':>8s} {'errors':>6s} "
    print(header + f"{'usage':>6s} {'fds':>4s} {'socks':>5s} {'thr':>4s} {'peak':>5s} {'opened':>6s} {'open':>5s}")
    for kind in plugins:
        raw_name = "raw boto3 + threads" if kind == "bedrock" else "raw httpx.AsyncClient"

        async def raw(server: ServerProcess, kind: str = kind) -> LoadResult:
            if kind == "openai":
                return await _raw_openai(server.url, pool, calls, concurrency)
            if kind == "mxcloud":
                return await _raw_mxcloud(server.info["keys"]["chat"], pool, calls, concurrency)
            return await _raw_boto3(server.url, pool, calls, concurrency)

        rows = {}
        with tempfile.TemporaryDirectory() as home:
            rows[raw_name] = _one_subject(kind, raw)
            rows["host.achat"] = _one_subject(
                kind, lambda server, kind=kind: _through_host(kind, server.info, home, pool, calls, concurrency)
            )
        for name, (result, usage, left, seen) in rows.items():
            shown_usage = "-" if usage is None else str(usage)
            print(
                f"{kind:8s} {name:28s} {result.rate:8.0f} {result.percentile(0.5):8.1f} "
                f"{result.percentile(0.99):8.1f} {len(result.errors):6d} {shown_usage:>6s} {left['fds']:4d} "
                f"{left['sockets']:5d} {left['threads']:4d} {seen['peak']:5d} {seen['accepted']:6d} {seen['open']:5d}"
            )
            for error in result.errors[:3]:
                print(f"    {error}")
        (raw_result, _, raw_left, raw_seen), (result, usage, left, seen) = rows[raw_name], rows["host.achat"]
        problems = len(result.errors) + sum(abs(v) for v in left.values()) + seen["open"] + (usage != calls)
        within_pool = seen["peak"] <= max(10, pool)
        met = problems == 0 and within_pool
        verdict = "met" if met else "NOT met"
        print(f"{kind}: target no error, nothing left open, at most {max(10, pool)} connections: {verdict}")
        prefix = f"chat.{kind}"
        for label, value in (
            ("host.calls_per_s", result.rate),
            ("host.p50_ms", result.percentile(0.5)),
            ("host.p99_ms", result.percentile(0.99)),
            ("host.errors", len(result.errors)),
            ("host.usage_records", usage),
            ("host.left_fds", left["fds"]),
            ("host.left_sockets", left["sockets"]),
            ("host.left_threads", left["threads"]),
            ("host.peak_connections", seen["peak"]),
            ("host.connections_opened", seen["accepted"]),
            ("host.connections_open_at_end", seen["open"]),
            ("raw.calls_per_s", raw_result.rate),
            ("raw.p50_ms", raw_result.percentile(0.5)),
            ("raw.p99_ms", raw_result.percentile(0.99)),
            ("raw.errors", len(raw_result.errors)),
            ("raw.left_sockets", raw_left["sockets"]),
            ("raw.peak_connections", raw_seen["peak"]),
        ):
            figure(f"{prefix}.{label}", value)
        section = f"load chat ({kind})"
        measure(
            "chat",
            f"{kind}: {calls} calls at concurrency {concurrency}, pool {pool}",
            "requests/s",
            ("host.achat", result.rate),
            [(raw_name, raw_result.rate)],
            goal=target(
                "no error, nothing left open, within the pool", problems, "<=", 0, unit="count", figure="problems"
            ),
            met=met,
            group="load_chat_rate",
            note=section,
        )
        for share, label in ((0.5, "p50"), (0.99, "p99")):
            measure(
                "chat",
                f"{kind}: {label} latency at concurrency {concurrency}",
                "ms",
                ("host.achat", result.percentile(share)),
                [(raw_name, raw_result.percentile(share))],
                group=f"load_chat_{label}",
            )


# -- 2. usage store -------------------------------------------------------------------------------


def _raw_inserts(path: str, index: int, count: int, barrier: Any) -> None:
    from genai_commons.storage import open_database

    conn = open_database(path, timeout=5.0)
    conn.execute(
        "CREATE TABLE IF NOT EXISTS usage (id INTEGER PRIMARY KEY, writer INTEGER NOT NULL, number INTEGER NOT NULL)"
    )
    barrier.wait(timeout=60)
    for number in range(count):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO usage (writer, number) VALUES (?, ?)", (index, number))
        conn.execute("COMMIT")
    conn.close()


def _writers(target_fn: Callable[..., None], first: str, count: int, writers: int) -> float:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(writers + 1)
    processes = [ctx.Process(target=target_fn, args=(first, i, count, barrier)) for i in range(writers)]
    for process in processes:
        process.start()
    barrier.wait(timeout=120)  # every writer ready: the clock starts
    started = time.perf_counter()
    for process in processes:
        process.join(timeout=600)
    wall = time.perf_counter() - started
    failed = [p.exitcode for p in processes if p.exitcode != 0]
    if failed:
        raise RuntimeError(f"writers failed: exit codes {failed}")
    return wall


def bench_usage(writes: int, writers: int = 8) -> None:
    from load_usage_writer import write_usage

    from genai_commons.usage import UsageDatabase

    with tempfile.TemporaryDirectory() as home:
        host_wall = _writers(write_usage, home, writes, writers)
        with UsageDatabase(Path(home) / "usage.db") as db:
            host_rows = db.count()
        raw_path = str(Path(home) / "raw.db")
        raw_wall = _writers(_raw_inserts, raw_path, writes, writers)
        with sqlite3.connect(raw_path) as conn:
            raw_rows = conn.execute("SELECT COUNT(*) FROM usage").fetchone()[0]
        conn.close()
    total = writes * writers
    host_lost, raw_lost = total - host_rows, total - raw_rows
    print(f"\n== usage store: {writers} processes x {writes} writes at once (released by a barrier)")
    print(f"raw sqlite3 INSERT, one transaction each   {total / raw_wall:8.0f} writes/s   lost {raw_lost}")
    print(f"host.chat + SQLite usage store plugin      {total / host_wall:8.0f} writes/s   lost {host_lost}")
    print(f"target none lost: {'met' if host_lost == 0 else 'NOT met'}")
    figure("usage.writers", writers)
    figure("usage.writes_per_writer", writes)
    figure("usage.host.rows_lost", host_lost)
    figure("usage.host.writes_per_s", total / host_wall)
    figure("usage.raw.rows_lost", raw_lost)
    figure("usage.raw.writes_per_s", total / raw_wall)
    measure(
        "usage",
        f"{writers} processes x {writes} writes: rows lost",
        "rows",
        ("host.chat + usage store", host_lost),
        [("raw sqlite3 inserts", raw_lost)],
        goal=target("none lost", host_lost, "<=", 0, unit="rows"),
    )
    measure(
        "usage",
        f"{writers} processes x {writes} writes: throughput",
        "writes/s",
        ("host.chat + usage store", total / host_wall),
        [("raw sqlite3 inserts", total / raw_wall)],
        group="load_usage_rate",
    )


# -- 3. SIGKILL -----------------------------------------------------------------------------------


def bench_sigkill(kills: int, documents: int, seed: int) -> None:
    from load_ingest import ingest, stored
    from load_kill import finish_ingestion, kill_fresh_ingestion, kill_reingestion

    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        started = time.perf_counter()
        ingest(base / "clean-0" / "k.db", 0, documents)
        clean_s = time.perf_counter() - started
        expected = stored(base / "clean-0" / "k.db")
        ingest(base / "clean-1" / "k.db", 1, documents)
        expected_new = stored(base / "clean-1" / "k.db")
        database = base / "store" / "k.db"
        started = time.perf_counter()
        killed = kill_fresh_ingestion(database, expected, kills, rng, documents)
        finish_ingestion(database, 0, documents)
        killed_s = time.perf_counter() - started
        now = stored(database)
        wrong = len(set(now.items()) ^ set(expected.items()))
        mixed = kill_reingestion(database, expected, expected_new, max(1, kills // 2), rng, documents)
        finish_ingestion(database, 1, documents)
        after = stored(database)
        wrong_new = len(set(after.items()) ^ set(expected_new.items()))
    print(f"\n== SIGKILL: {documents} documents ({len(expected)} chunks), 16 chunks per ingest call, seed {seed}")
    print(f"clean ingestion (baseline)                   {clean_s:7.2f} s")
    print(f"{kills} ingestions killed and resumed ({killed} killed before their end) {killed_s:7.2f} s")
    print(f"chunks differing from the clean run          {wrong}")
    print(
        f"re-ingestion of changed sources: {max(1, kills // 2)} kills ({mixed} mid-way), chunks differing {wrong_new}"
    )
    met = wrong == 0 and wrong_new == 0
    print(f"target exactly the clean run's chunks: {'met' if met else 'NOT met'}")
    figure("sigkill.chunks", len(expected))
    figure("sigkill.kills", killed)
    figure("sigkill.chunks_differing", wrong)
    figure("sigkill.reingest_kills_midway", mixed)
    figure("sigkill.reingest_chunks_differing", wrong_new)
    figure("sigkill.clean_s", clean_s)
    figure("sigkill.killed_and_resumed_s", killed_s)
    measure(
        "sigkill",
        f"chunks differing from a clean run after {killed} kills and a restart",
        "chunks",
        ("killed and resumed", wrong + wrong_new),
        [("clean ingestion", 0)],
        goal=target("exactly the clean run's chunks", wrong + wrong_new, "<=", 0, unit="chunks"),
    )
    measure(
        "sigkill",
        f"wall time, {killed} kills included",
        "s",
        ("killed and resumed", killed_s),
        [("clean ingestion", clean_s)],
    )


# -- main -----------------------------------------------------------------------------------------


def _write_flat(path: Path | None) -> None:
    """``{"name", "figures"}``: added to the report's JSON document (written first, at exit, by
    ``_results``), or the whole file where there is no ``_results``."""
    if path is None:
        return
    document: dict[str, Any] = {}
    if path.exists():
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            document = {}
    document.update({"name": "bench_load", "figures": FIGURES})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--only", choices=["chat", "usage", "sigkill"], action="append")
    parser.add_argument("--calls", type=int, default=10_000, help="chat calls per plugin and subject")
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--pool", type=int, default=16, help="connections per client (even, at least 10)")
    parser.add_argument("--plugins", default="openai,mxcloud,bedrock")
    parser.add_argument("--writes", type=int, default=1000, help="usage writes per process (8 processes)")
    parser.add_argument("--kills", type=int, default=20, help="SIGKILLs of the first ingestion (half as many after)")
    parser.add_argument("--documents", type=int, default=480, help="documents of the killed ingestion")
    parser.add_argument("--seed", type=int, default=7)
    if _results is not None:
        _results.add_argument(parser)
    else:
        parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures as JSON")
    args = parser.parse_args()
    atexit.register(_write_flat, args.json)  # registered first: runs after _results has written its file
    if _results is not None:
        _results.start(args.json)
    only = args.only or ["chat", "usage", "sigkill"]
    print(f"python {sys.version.split()[0]}, httpx {httpx.__version__}")
    if "chat" in only:
        bench_chat([p for p in args.plugins.split(",") if p], args.calls, args.concurrency, args.pool)
    if "usage" in only:
        bench_usage(args.writes)
    if "sigkill" in only:
        bench_sigkill(args.kills, args.documents, args.seed)


if __name__ == "__main__":
    main()
