"""The writer process of ``test_load_usage_store.py`` and ``bench_load.py --only usage``: a host with
the SQLite usage store on, making chat calls to an in-process provider, so that each call's usage
event becomes one row written by the real plugin path (``genai_usage_recorded``).

Writer ``index`` calls model ``counter:m{index}`` ``count`` times; call ``i`` (from 0) reports
``i + 1`` input tokens and ``index + 1`` output tokens, so that every row is distinct and the totals
are known in advance. Kept import-light: it runs in freshly spawned processes."""

from __future__ import annotations

from typing import Any

from genai_commons import Config, DeployedModel, Host, Provider, Request, Response
from genai_commons.config import UsageSettings
from genai_commons.usage import SQLiteUsageStore

__all__ = ["CounterProvider", "expected_totals", "write_usage"]


class CounterProvider(Provider):
    """Any model ``counter:NAME``; the prompt is the call's number, the answer its token counts."""

    name = "counter"

    def resolve_model(self, model_id: str) -> DeployedModel:
        return DeployedModel(provider="counter", model_id=model_id, display_name=f"Counter {model_id}")

    def chat(self, model: DeployedModel, request: Request) -> Response:
        number = int(request.messages[-1].content or "0")
        writer = int(model.model_id.removeprefix("m"))
        return Response.of_text("counted", input_tokens=number + 1, output_tokens=writer + 1)


def write_usage(home: str, index: int, count: int, barrier: Any = None) -> None:
    """``count`` chat calls through a host whose usage store writes to ``home``'s usage database;
    every writer waits at ``barrier`` (a ``multiprocessing.Barrier``) first, so that all write at once."""
    config = Config.defaults(home, usage=UsageSettings(store=True))
    with Host(config, load_entry_points=False, plugins=[SQLiteUsageStore, CounterProvider]) as host:
        model = host.model(f"counter:m{index}")
        if barrier is not None:
            barrier.wait(timeout=60)
        for number in range(count):
            host.chat(model, str(number))


def expected_totals(index: int, count: int) -> tuple[int, int, int, int]:
    """Calls, input, output and total tokens of writer ``index`` after ``count`` calls."""
    inputs = count * (count + 1) // 2
    outputs = count * (index + 1)
    return count, inputs, outputs, inputs + outputs
