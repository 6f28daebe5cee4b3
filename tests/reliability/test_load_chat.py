"""Load: many chat calls through one async host at concurrency 256, against each HTTP plugin's fake
served by another process. Every call succeeds with its own answer, usage is recorded once per
call, the plugin stays within its connection pool (and reuses its connections), and once the host
is closed this process holds exactly the file descriptors, sockets and threads it held before.

The CI sizes here run in seconds; ``benchmarks/bench_load.py`` runs 10,000 calls per plugin next
to raw httpx doing the same."""

from __future__ import annotations

import asyncio
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from load_helpers import (
    LoadHost,
    LoadResult,
    Resources,
    ServerProcess,
    baseline_resources,
    drive,
    load_host,
    resources,
    settled,
)

pytestmark = pytest.mark.skipif(not Path("/proc/self/fd").is_dir() or sys.platform != "linux", reason="reads /proc")

CONCURRENCY = 256
#: Connections each plugin may hold (a pool far smaller than the concurrency: most calls wait).
POOL = 16
#: Calls per plugin: sized so that the file runs in well under 25 s on two shared cores.
CALLS = {"openai": 2000, "mxcloud": 800, "bedrock": 500}
#: A failure each fake injects that breaks a connection: closed with no answer, or (Bedrock) no answer
#: until the client's read timeout gives up on it.
BREAKS = {"openai": "drop", "mxcloud": "disconnect", "bedrock": "timeout"}


def run_load(
    kind: str, calls: int, server: ServerProcess, home: Path, read_timeout: float | None = None
) -> tuple[LoadHost, LoadResult, Resources]:
    """``calls`` chat calls at :data:`CONCURRENCY` in a fresh event loop, the host closed inside it
    (``async with``: ``Host.aclose``); the resources held while the host was still open."""

    async def scenario() -> tuple[LoadHost, LoadResult, Resources]:
        # asyncio's default executor on a machine with 28 or more cores: larger than the pool, so a
        # plugin that ran its blocking calls there (Bedrock once did) would open more connections.
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(32, thread_name_prefix="load-default"))
        loaded = load_host(kind, server.info, home, pool=POOL, read_timeout=read_timeout)
        async with loaded.host as host:

            async def call(prompt: str) -> str:
                return (await host.achat(loaded.model, prompt)).text

            result = await asyncio.wait_for(drive(call, calls, CONCURRENCY), timeout=90)
            held = resources()
        return loaded, result, held

    return asyncio.run(scenario())


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("kind", "calls"), list(CALLS.items()))
def test_concurrent_chat_calls_succeed_within_the_pool_and_leave_nothing_open(kind: str, calls: int, tmp_path: Path):
    with ServerProcess(kind) as server:
        baseline = baseline_resources()
        loaded, result, held = run_load(kind, calls, server, tmp_path)
        after = settled(baseline)
        seen = server.wait_closed()

    assert result.errors == [], f"{len(result.errors)} calls failed, first: {result.errors[:3]}"
    assert len(result.latencies) == calls

    usage = loaded.usage.records
    assert len(usage) == calls
    assert {(u.provider, u.operation, u.calls) for u in usage} == {(kind, "chat", 1)}
    assert all(u.input_tokens > 0 and u.output_tokens > 0 for u in usage)

    assert held.sockets > baseline.sockets, "no connection was open during the run: the test measured nothing"
    assert after.delta(baseline) == {"fds": 0, "sockets": 0, "threads": 0}, (
        f"left open after the host closed: {after.delta(baseline)}; threads {after.thread_names}; "
        f"descriptors {sorted(set(after.targets) - set(baseline.targets))}"
    )
    assert 1 <= seen["peak"] <= loaded.pool_limit, seen
    # Connections are reused: a client opening one per call (or dropping them) would open hundreds.
    # A few may be replaced legitimately (httpx closes one left idle past its keep-alive expiry,
    # which a starved event loop on a loaded machine can cause).
    assert seen["accepted"] <= 2 * loaded.pool_limit, f"connections were dropped and opened again: {seen}"
    assert seen["open"] == 0, seen


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", list(BREAKS))
def test_connections_broken_under_load_are_retried_and_closed(kind: str, tmp_path: Path):
    """A few calls lose their connection (the host retries them); the error each leaves behind
    holds a traceback through the HTTP stack, yet closing the host still closes every connection."""
    calls, breaks = 300, 6
    with ServerProcess(kind) as server:
        server.fail_next(BREAKS[kind], breaks)
        baseline = baseline_resources()
        loaded, result, _held = run_load(kind, calls, server, tmp_path, read_timeout=1.0 if kind == "bedrock" else None)
        after = settled(baseline)
        seen = server.wait_closed()

    assert result.errors == [], f"{len(result.errors)} calls failed, first: {result.errors[:3]}"
    assert len(loaded.usage.records) == calls, "usage is recorded once for each call, never for a failed attempt"
    assert after.delta(baseline) == {"fds": 0, "sockets": 0, "threads": 0}, (
        f"left open after the host closed: {after.delta(baseline)}; threads {after.thread_names}; "
        f"descriptors {sorted(set(after.targets) - set(baseline.targets))}"
    )
    # A connection the client gave up on (the Bedrock fake's stall) stays open on the server's side
    # until it hangs up; each broken connection is replaced by a new one.
    assert 1 <= seen["peak"] <= loaded.pool_limit + breaks, seen
    assert seen["accepted"] <= 2 * loaded.pool_limit + breaks, seen
    assert seen["open"] == 0, seen
