"""A provider's fake from its testing kit, served on a loopback port in a process of its own, for the
load suites (``test_load_chat.py``, ``benchmarks/bench_load.py``): the client process then owns every
file descriptor, socket and thread it counts, and the server does not share its GIL.

    python tests/reliability/load_server.py openai|mxcloud|bedrock [--latency SECONDS]

prints one JSON line, ``{"url": ..., "keys": {...}}`` (``keys``: the connection key of the Mendix
Cloud fake), then answers commands on standard input, one per line:

* ``stats`` — one JSON line ``{"accepted": N, "open": N, "peak": N}``: connections accepted so far,
  open now, and the most that were open at once (each fake counts them as it serves them);
* ``fail KIND TIMES`` — the next ``TIMES`` requests fail as ``KIND`` (the fake's ``fail_next``);
  answers ``ok``;
* ``quit`` (or the end of standard input) — stop serving and exit.

Requests are not recorded (a long run would keep every one in memory), except by the Bedrock fake,
which always records them.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

KINDS = ("openai", "mxcloud", "bedrock")
#: How long the Bedrock fake's ``timeout`` failure keeps a client waiting before it hangs up.
STALL_SECONDS = 3.0


def start(kind: str, latency: float) -> tuple[Any, dict[str, Any]]:
    """The started server (with ``connection_counts()`` and ``stop()``), and what a client needs."""
    if kind == "openai":
        from genai_commons_openai.testing import FakeOpenAI, FakeOpenAIServer

        server = FakeOpenAIServer(FakeOpenAI(record=False, latency=latency)).start()
        return server, {"url": server.url, "keys": {}}
    if kind == "mxcloud":
        from genai_commons_mxcloud.testing import FakeMxCloud, FakeMxCloudServer

        service = FakeMxCloud(delay=latency, record=False)
        mx = FakeMxCloudServer(service).start()
        return mx, {"url": mx.url, "keys": {"chat": service.issue_key("TEXT_GENERATION", name="load-chat")}}
    if kind == "bedrock":
        from genai_commons_bedrock.testing import LocalBedrock, LocalBedrockServer

        bedrock = LocalBedrockServer(LocalBedrock(latency=latency), stall_seconds=STALL_SECONDS).start()
        return bedrock, {"url": bedrock.url, "keys": {}}
    raise ValueError(f"unknown fake {kind!r}; use one of {', '.join(KINDS)}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a provider's fake for the load suites.")
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds each answer waits")
    args = parser.parse_args(argv)
    server, info = start(args.kind, args.latency)
    sys.stdout.write(json.dumps(info) + "\n")
    sys.stdout.flush()
    try:
        for line in sys.stdin:
            command = line.strip()
            if command == "stats":
                accepted, open_now, peak = server.connection_counts()
                sys.stdout.write(json.dumps({"accepted": accepted, "open": open_now, "peak": peak}) + "\n")
                sys.stdout.flush()
            elif command.startswith("fail "):
                _, kind, times = command.split()
                server.service.fail_next(kind, int(times))
                sys.stdout.write("ok\n")
                sys.stdout.flush()
            elif command == "quit":
                break
    finally:
        server.stop()


if __name__ == "__main__":
    main()
