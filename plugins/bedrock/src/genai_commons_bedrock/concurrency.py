"""A bounded pool of worker threads for fanning one operation out into concurrent boto3 calls
(Titan embeds one text per call; Cohere takes 96 texts a call), and for the async chat calls, so
that no more calls are in flight than boto3's connection pool holds."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

T = TypeVar("T")
R = TypeVar("R")


class WorkerPool:
    """At most ``size`` calls at once, across every operation of one provider instance; the
    threads start on first use."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """``fn`` over ``items`` concurrently, results in order, each call in a copy of the caller's
        context variables (the call's deadline among them). On the first failure the calls not yet
        started are cancelled and that failure is raised."""
        if len(items) <= 1:
            return [fn(item) for item in items]
        import contextvars  # noqa: PLC0415
        from concurrent.futures import FIRST_EXCEPTION, wait  # noqa: PLC0415 - not needed before the first fan-out

        executor = self._get()
        # One copy per call: a context cannot be entered by two threads at once.
        futures: list[Future[R]] = [executor.submit(contextvars.copy_context().run, fn, item) for item in items]
        done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        failed = next((f for f in futures if f in done and f.exception() is not None), None)
        if failed is not None:
            for future in pending:
                future.cancel()  # those already running finish on their own
            raise failed.exception()  # type: ignore[misc]
        return [future.result() for future in futures]

    async def run(self, fn: Callable[..., R], /, *args: object) -> R:
        """``fn(*args)`` in one of the pool's threads, awaited from async code, with the caller's
        context variables (as ``asyncio.to_thread`` does)."""
        import asyncio  # noqa: PLC0415
        import contextvars  # noqa: PLC0415
        import functools  # noqa: PLC0415

        context = contextvars.copy_context()
        call = functools.partial(context.run, fn, *args)
        return await asyncio.get_running_loop().run_in_executor(self._get(), call)

    def _get(self) -> ThreadPoolExecutor:
        if self._executor is None:
            with self._lock:
                if self._executor is None:
                    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

                    self._executor = ThreadPoolExecutor(max_workers=self.size, thread_name_prefix="genai-bedrock")
        return self._executor

    def close(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
