"""Helpers of the load suites (``test_load_*.py``) and of ``benchmarks/bench_load.py``.

* :class:`ServerProcess` — a provider's fake in a process of its own (``load_server.py``), with the
  connection counts it saw;
* :func:`resources` — the file descriptors, sockets and threads this process holds
  (:func:`baseline_resources` before a measured run);
* :func:`load_host` — a host for one plugin, pointed at a fake, with a usage recorder;
* :func:`drive` — N calls at a fixed concurrency, each checked, latencies and errors collected.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import selectors
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genai_commons import Config, Host
from genai_commons.testing import UsageRecorder

SERVER = Path(__file__).with_name("load_server.py")
OPENAI_MODEL = "gpt-4o-mini"
BEDROCK_MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
#: What every fake answers a prompt with (each echoes the last user text).
ECHO = "You said: {prompt}"


@dataclass(frozen=True)
class Resources:
    """What this process holds: open file descriptors, sockets among them, and live threads."""

    fds: int
    sockets: int
    threads: int
    thread_names: tuple[str, ...]
    #: What the descriptors point at (a path, ``socket:[inode]``, ``pipe:[inode]``), for messages.
    targets: tuple[str, ...] = ()

    def delta(self, baseline: Resources) -> dict[str, int]:
        return {
            "fds": self.fds - baseline.fds,
            "sockets": self.sockets - baseline.sockets,
            "threads": self.threads - baseline.threads,
        }


def resources() -> Resources:
    """A snapshot from ``/proc/self/fd`` (Linux) and :mod:`threading`; nothing is collected first,
    so that a socket only the garbage collector would close counts as open."""
    targets = []
    for name in os.listdir("/proc/self/fd"):
        try:
            targets.append(os.readlink(f"/proc/self/fd/{name}"))
        except OSError:  # the descriptor listdir itself used, closed by now
            continue
    sockets = sum(target.startswith("socket:") for target in targets)
    names = tuple(sorted(t.name for t in threading.enumerate()))
    return Resources(
        fds=len(targets), sockets=sockets, threads=threading.active_count(), thread_names=names, targets=tuple(targets)
    )


def baseline_resources(timeout: float = 3.0) -> Resources:
    """What this process holds before a measured run: earlier tests' garbage collected first (a
    socket kept by a reference cycle, an exception's traceback, would otherwise be freed during
    the run and count against it), and their threads given up to ``timeout`` to end."""
    deadline = time.monotonic() + timeout
    gc.collect()
    before = resources()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        gc.collect()
        now = resources()
        if now.threads == before.threads and now.fds == before.fds:
            return now
        before = now
    return before


def settled(baseline: Resources, timeout: float = 2.0) -> Resources:
    """Resources once they are back to ``baseline`` or ``timeout`` has passed (threads being joined
    and sockets being closed by the kernel take a moment). The garbage collector is off meanwhile:
    a socket only it would close must count as left open."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        deadline = time.monotonic() + timeout
        while True:
            now = resources()
            if not any(now.delta(baseline).values()) or time.monotonic() > deadline:
                return now
            time.sleep(0.02)
    finally:
        if was_enabled:
            gc.enable()


class ServerProcess:
    """``load_server.py KIND`` in a process of its own; see that module for the protocol."""

    def __init__(self, kind: str, *, latency: float = 0.0, start_timeout: float = 30.0) -> None:
        self.kind = kind
        command = [sys.executable, str(SERVER), kind, "--latency", str(latency)]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            self.info: dict[str, Any] = json.loads(self._readline(start_timeout))
        except BaseException:
            self.stop()
            raise

    @property
    def url(self) -> str:
        return str(self.info["url"])

    def _readline(self, timeout: float) -> str:
        stdout = self.process.stdout
        assert stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(stdout, selectors.EVENT_READ)
            if not selector.select(timeout):
                raise TimeoutError(f"the {self.kind} fake said nothing within {timeout} s")
        line = stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.kind} fake exited (code {self.process.poll()})")
        return line

    def stats(self, timeout: float = 10.0) -> dict[str, int]:
        """Connections the server accepted, has open now, and had open at most at once."""
        assert self.process.stdin is not None
        self.process.stdin.write("stats\n")
        self.process.stdin.flush()
        return dict(json.loads(self._readline(timeout)))

    def fail_next(self, kind: str, times: int) -> None:
        """Make the fake fail its next ``times`` requests as ``kind`` (its ``fail_next``)."""
        assert self.process.stdin is not None
        self.process.stdin.write(f"fail {kind} {times}\n")
        self.process.stdin.flush()
        answer = self._readline(10.0).strip()
        if answer != "ok":
            raise RuntimeError(f"the {self.kind} fake did not take the failure {kind!r}: {answer}")

    def wait_closed(self, timeout: float = 5.0) -> dict[str, int]:
        """The stats once the server has no connection open, or after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            stats = self.stats()
            if stats["open"] == 0 or time.monotonic() > deadline:
                return stats
            time.sleep(0.02)

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                assert self.process.stdin is not None
                self.process.stdin.write("quit\n")
                self.process.stdin.flush()
                self.process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait(timeout=10)
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


@dataclass(frozen=True)
class LoadHost:
    """A host for one plugin against its fake, the model to call, the connection-pool limit the
    plugin is configured with, and the usage recorder registered on the host."""

    host: Host
    model: str
    pool_limit: int
    usage: UsageRecorder


def load_host(
    kind: str, info: dict[str, Any], home: str | Path, *, pool: int = 16, read_timeout: float | None = None
) -> LoadHost:
    """A host with the plugin of ``kind`` (and a :class:`UsageRecorder`), its connection pool
    ``pool`` connections (the Mendix Cloud plugin sizes its pool at twice its ``concurrency``), and
    ``read_timeout`` seconds for an answer (default: the plugin's)."""
    usage = UsageRecorder()
    url = info["url"]
    settings: dict[str, Any]
    if kind == "openai":
        from genai_commons_openai import OpenAIProvider

        settings = {"base_url": url, "api_key": "sk-test", "max_connections": pool, "max_keepalive_connections": pool}
        plugin: Any = OpenAIProvider
        model = f"openai:{OPENAI_MODEL}"
    elif kind == "mxcloud":
        from genai_commons_mxcloud import MxCloudProvider

        if pool % 2 or pool < 10:
            raise ValueError("the Mendix Cloud plugin's pool is max(10, 2 x concurrency): pass an even pool >= 10")
        settings = {"keys": [info["keys"]["chat"]], "concurrency": pool // 2}
        plugin = MxCloudProvider
        model = "mxcloud:load-chat"
    elif kind == "bedrock":
        from genai_commons_bedrock import BedrockProvider

        settings = {
            "region": "us-east-1",
            "access_key_id": "AKIDLOADTEST",
            "secret_access_key": "load-test-secret",
            "runtime_endpoint_url": url,
            "list_models": False,
            "max_concurrency": pool,  # also the size of boto3's connection pool: max(10, max_concurrency)
        }
        plugin = BedrockProvider
        model = f"bedrock:{BEDROCK_MODEL}"
    else:
        raise ValueError(f"unknown plugin {kind!r}")
    if read_timeout is not None:
        settings["read_timeout" if kind == "bedrock" else "timeout"] = read_timeout
    config = Config.defaults(home, providers={kind: settings})
    host = Host(config, load_entry_points=False, plugins=[plugin, usage])
    return LoadHost(host=host, model=model, pool_limit=max(10, pool), usage=usage)


@dataclass
class LoadResult:
    """Latencies of the calls that succeeded (seconds), and what went wrong with the others."""

    calls: int
    wall_s: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.calls / self.wall_s if self.wall_s else 0.0

    def percentile(self, share: float) -> float:
        """A latency percentile in milliseconds (nearest rank)."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))] * 1000


async def drive(call: Callable[[str], Awaitable[str]], calls: int, concurrency: int) -> LoadResult:
    """``calls`` calls of ``call(prompt)`` by ``concurrency`` workers, each with its own prompt
    (``load request I``) and its answer checked against the fakes' echo."""
    result = LoadResult(calls=calls)
    numbers = iter(range(calls))

    async def worker() -> None:
        for index in numbers:
            prompt = f"load request {index}"
            started = time.perf_counter()
            try:
                text = await call(prompt)
            except Exception as exc:
                result.errors.append(f"{prompt}: {type(exc).__name__}: {exc}")
                continue
            result.latencies.append(time.perf_counter() - started)
            if text != ECHO.format(prompt=prompt):
                result.errors.append(f"{prompt}: wrong answer {text!r}")

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.wall_s = time.perf_counter() - started
    return result
