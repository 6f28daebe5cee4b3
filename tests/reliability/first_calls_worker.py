"""One fresh process of ``test_hardening_first_calls.py``: many threads (and asyncio tasks) make
their first calls through one new host at the same moment, while the first failures make the
host log its first warning — so that lazy imports (structlog's among them) and lazily built
objects are first touched from several threads at once.

Usage: ``python first_calls_worker.py KIND INFO_JSON HOME THREADS``; prints one JSON line: the
number of calls that succeeded and the errors of the others (type and message).
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from load_helpers import load_host


def main() -> None:
    kind, info, home, threads = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    loaded = load_host(kind, info, home)
    host, model = loaded.host, loaded.model
    barrier = threading.Barrier(threads + 1)
    outcomes: list[str] = []
    lock = threading.Lock()

    def record(outcome: str) -> None:
        with lock:
            outcomes.append(outcome)

    def sync_call(n: int) -> None:
        barrier.wait()
        try:
            record("ok" if host.chat(model, f"first call {n}").text else "empty")
        except BaseException as exc:
            record(f"{type(exc).__module__}.{type(exc).__name__}: {exc}")

    def async_calls() -> None:
        async def call(n: int) -> None:
            try:
                record("ok" if (await host.achat(model, f"first async call {n}")).text else "empty")
            except BaseException as exc:
                record(f"{type(exc).__module__}.{type(exc).__name__}: {exc}")

        async def calls() -> None:
            await asyncio.gather(*(call(n) for n in range(threads)))

        barrier.wait()
        asyncio.run(calls())

    workers = [threading.Thread(target=sync_call, args=(n,)) for n in range(threads - 1)]
    workers.append(threading.Thread(target=async_calls))
    for worker in workers:
        worker.start()
    barrier.wait()
    for worker in workers:
        worker.join(60)
    host.close()
    errors = [o for o in outcomes if o != "ok"]
    print(json.dumps({"ok": outcomes.count("ok"), "errors": errors}))


if __name__ == "__main__":
    main()
