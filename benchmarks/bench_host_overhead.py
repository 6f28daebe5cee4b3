"""Host overhead per chat call: routing, capability check, usage event and logging, against an
in-process provider that answers at once. The baseline is the provider's own `chat()` called
directly with the same model and request, in the same run.

Target (issue 2): median overhead <= 20 us.

    .venv/bin/python benchmarks/bench_host_overhead.py [--calls 20000]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time

import _results as results
import structlog

from genai_commons import Config, DeployedModel, Host, Provider, Request, Response
from genai_commons.usage.sqlite_store import SQLiteUsageStore


class Instant(Provider):
    name = "instant"
    _model = DeployedModel(provider="instant", model_id="m")
    _response = Response.of_text("ok", input_tokens=3, output_tokens=1)

    def models(self) -> list[DeployedModel]:
        return [self._model]

    def chat(self, model: DeployedModel, request: Request) -> Response:
        return self._response


def per_call_us(fn, calls: int, rounds: int = 7) -> float:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(calls):
            fn()
        samples.append((time.perf_counter() - started) / calls * 1e6)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    results.add_argument(parser)
    args = parser.parse_args()
    results.start(args.json)
    # As an application would: structlog configured, INFO and above (the host logs calls at DEBUG).
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO), cache_logger_on_first_use=True
    )
    with tempfile.TemporaryDirectory() as home:
        # The default usage store is registered as installed, with storage off (the default).
        host = Host(Config.defaults(home), load_entry_points=False, plugins=[Instant, SQLiteUsageStore])
        provider = host.plugin_manager.get_plugin("instant")
        model = host.model("instant:m")
        request = Request.from_prompt("hello")
        direct = per_call_us(lambda: provider.chat(model, request), args.calls)
        by_model = per_call_us(lambda: host.chat(model, request), args.calls)
        by_ref = per_call_us(lambda: host.chat("instant:m", request), args.calls)
        by_prompt = per_call_us(lambda: host.chat("instant:m", "hello"), args.calls)
        host.close()
    print(f"calls per round x 7 rounds            {args.calls}")
    print(f"provider.chat() directly (baseline)   {direct:8.2f} us/call")
    print(f"host.chat(model, request)             {by_model:8.2f} us/call  overhead {by_model - direct:6.2f} us")
    print(f"host.chat('instant:m', request)       {by_ref:8.2f} us/call  overhead {by_ref - direct:6.2f} us")
    print(f"host.chat('instant:m', 'hello')       {by_prompt:8.2f} us/call  overhead {by_prompt - direct:6.2f} us")
    worst = max(by_model, by_ref) - direct
    print(f"target <= 20 us overhead: {'met' if worst <= 20 else 'NOT met'}")
    for name, value in (("host.chat(model, request)", by_model), ("host.chat('instant:m', request)", by_ref)):
        results.measure(
            "chat",
            f"{name}: per call, median of 7 rounds",
            "us",
            (name, value),
            [("provider.chat() directly", direct)],
            goal=results.target("overhead <= 20 us", value - direct, "<=", 20, unit="us", figure="overhead"),
        )
    results.measure(
        "chat",
        "host.chat('instant:m', 'hello'): per call (informative)",
        "us",
        ("host.chat('instant:m', 'hello')", by_prompt),
        [("provider.chat() directly", direct)],
    )
    results.series(
        "host_overhead",
        "host.chat against an in-process provider answering at once, per call",
        "us",
        "bars",
        {
            "provider.chat() directly": direct,
            "host.chat(model, request)": by_model,
            "host.chat('instant:m', request)": by_ref,
            "host.chat('instant:m', 'hello')": by_prompt,
        },
    )


if __name__ == "__main__":
    main()
