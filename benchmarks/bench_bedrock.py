"""The Bedrock plugin's performance against a local Bedrock-compatible endpoint, each figure next to
a baseline measured in the same run.

1. Overhead per chat call: ``host.chat`` through the plugin (request translation, Converse call,
   response translation, routing, usage event) against a direct boto3 ``converse`` call with the
   same client configuration, both against the same loopback endpoint (served by another process).
   Target: median overhead <= 10 % of the direct call's median.
2. 1,000 Titan Text Embeddings v2 embeddings against an endpoint that answers each call after
   20 ms. Baseline: sequential calls (measured on a sample, extrapolated to 1,000). Target <= 3 s.
3. Import of the core plus the plugin, boto3 included, as whole processes, against
   ``python -c "import boto3"``, interleaved. Target: at most import boto3 + 60 ms.

    .venv/bin/python benchmarks/bench_bedrock.py [--calls 300] [--texts 1000] [--runs 20]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import _results as results

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
TITAN = "amazon.titan-embed-text-v2:0"
KEYS = {
    "AWS_ACCESS_KEY_ID": "AKIDBENCHBENCH",
    "AWS_SECRET_ACCESS_KEY": "bench-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@contextmanager
def local_bedrock(latency: float = 0.0) -> Iterator[str]:
    """The local service in a process of its own (so that it does not share this one's GIL)."""
    command = [sys.executable, "-m", "genai_commons_bedrock.testing", "--latency", str(latency)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip().split("=", 1)[1]
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def environ(url: str) -> dict[str, str]:
    names = ("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "AWS_ENDPOINT_URL_BEDROCK")
    return {**KEYS, **dict.fromkeys(names, url), "AWS_EC2_METADATA_DISABLED": "true"}


def median_ms(fn: Callable[[], object], calls: int) -> float:
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def overhead(calls: int) -> None:
    import boto3
    import structlog
    from botocore.config import Config as BotoConfig

    from genai_commons import Config, Host, Request

    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO), cache_logger_on_first_use=True
    )
    with local_bedrock() as url, tempfile.TemporaryDirectory() as home:
        os.environ.update(environ(url), GENAI_HOME=home)
        config = BotoConfig(retries={"total_max_attempts": 1, "mode": "standard"}, read_timeout=300, connect_timeout=10)
        client = boto3.Session().client("bedrock-runtime", config=config)
        messages = [{"role": "user", "content": [{"text": "Hello there, how are you today?"}]}]
        inference = {"maxTokens": 200, "temperature": 0.5}

        def direct() -> object:
            return client.converse(modelId=MODEL, messages=messages, inferenceConfig=inference)

        host = Host(Config.load(), allow=["bedrock"])
        model = host.model(f"bedrock:{MODEL}")
        request = Request.create(max_tokens=200, temperature=0.5).with_message(
            "user", "Hello there, how are you today?"
        )

        def through_host() -> object:
            return host.chat(model, request)

        for fn in (direct, through_host):  # warm both (clients, connections, caches)
            for _ in range(20):
                fn()
        direct_samples: list[float] = []
        host_samples: list[float] = []
        for _ in range(calls):  # alternate call by call, so that drift and noise hit both alike
            for fn, samples in ((direct, direct_samples), (through_host, host_samples)):
                started = time.perf_counter()
                fn()
                samples.append((time.perf_counter() - started) * 1000)
        host.close()
    base, ours = statistics.median(direct_samples), statistics.median(host_samples)
    share = (ours - base) / base * 100
    print(f"converse: {calls} calls each, alternating, medians")
    print(f"  boto3 client.converse directly (baseline)  {base:7.3f} ms/call")
    extra = f"overhead {ours - base:6.3f} ms = {share:5.1f} %"
    print(f"  host.chat through the plugin               {ours:7.3f} ms/call  {extra}")
    print(f"  target <= 10 % of the direct median: {'met' if share <= 10 else 'NOT met'}")
    results.measure(
        "overhead",
        "chat (Converse) against the local Bedrock server: median per call",
        "ms",
        ("host.chat through the plugin", ours),
        [("boto3 client.converse", base)],
        goal=results.target("overhead <= 10 % of boto3", share, "<=", 10, unit="%", figure="overhead share"),
        group="chat_per_call",
    )
    results.series(
        "bedrock_converse_samples",
        "Converse against the local Bedrock server, per call, alternating",
        "ms",
        "samples",
        {"boto3 client.converse": direct_samples, "host.chat (this project)": host_samples},
    )


def embeddings(texts: int, concurrency: int | None) -> None:
    from genai_commons import Config, Host

    with local_bedrock(latency=0.02) as url, tempfile.TemporaryDirectory() as home:
        os.environ.update(environ(url), GENAI_HOME=home)
        config = Config.load()
        if concurrency is not None:
            config = Config(
                home=config.home, providers={"bedrock": {"max_concurrency": concurrency}}, environ=config.environ
            )
        host = Host(config, allow=["bedrock"])
        provider = host.plugin_manager.get_plugin("bedrock")
        body = '{"inputText": "warm up"}'
        provider.invoke_model(TITAN, body)
        sample = 25
        started = time.perf_counter()
        for _ in range(sample):
            provider.invoke_model(TITAN, body)
        sequential = (time.perf_counter() - started) / sample * texts
        started = time.perf_counter()
        result = host.embed(f"bedrock:{TITAN}", [f"text number {i}" for i in range(texts)])
        wall = time.perf_counter() - started
        assert len(result.vectors) == texts
        concurrency = provider.bedrock_settings.max_concurrency
        host.close()
    print(f"embeddings: {texts} Titan v2 texts, endpoint answering after 20 ms, max_concurrency {concurrency}")
    print(f"  sequential calls (baseline, {sample} measured)   {sequential:6.2f} s")
    print(f"  host.embed                                 {wall:6.2f} s")
    print(f"  target <= 3 s: {'met' if wall <= 3 else 'NOT met'}")
    results.measure(
        "embeddings",
        f"{texts} Titan v2 embeddings, endpoint answering after 20 ms: wall time",
        "s",
        (f"host.embed (max_concurrency {concurrency})", wall),
        [(f"sequential calls (extrapolated from {sample})", sequential)],
        goal=results.target("<= 3 s" if texts == 1000 else "<= 3 s (for 1,000 texts)", wall, "<=", 3, unit="s"),
    )


def imports(runs: int) -> None:
    baseline = "import boto3"
    core_only = "import genai_commons.provider\nimport boto3, botocore.config"  # what any provider plugin costs
    plugin = (  # what the host imports at start-up (the entry point), and boto3 as the first call does
        "import genai_commons\nfrom genai_commons_bedrock import BedrockProvider\nimport boto3, botocore.config"
    )
    first_call = (  # and every module the first calls load (informative)
        "import genai_commons\n"
        "from genai_commons_bedrock import BedrockProvider\n"
        "import genai_commons_bedrock.chat, genai_commons_bedrock.embeddings, genai_commons_bedrock.images\n"
        "import genai_commons_bedrock.catalog, boto3, botocore.config"
    )

    def once(code: str) -> float:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        return (time.perf_counter() - started) * 1000

    times: dict[str, list[float]] = {baseline: [], core_only: [], plugin: [], first_call: []}
    for code in times:
        once(code)  # warm the file cache
    for _ in range(runs):
        for code, samples in times.items():
            samples.append(once(code))
    base = statistics.median(times[baseline])
    ours = statistics.median(times[plugin])
    full = statistics.median(times[first_call])
    core = statistics.median(times[core_only])
    print(f"import: median of {runs} interleaved processes")
    print(f"  python -c 'import boto3' (baseline)          {base:7.1f} ms")
    print(f"  core's Provider base + boto3 (informative)   {core:7.1f} ms  (+{core - base:5.1f} ms)")
    print(f"  core + the plugin's entry point + boto3      {ours:7.1f} ms  (+{ours - base:5.1f} ms)")
    print(f"  ... + every capability module (informative)  {full:7.1f} ms  (+{full - base:5.1f} ms)")
    print(f"  target <= boto3 + 60 ms: {'met' if ours - base <= 60 else 'NOT met'}")
    results.measure(
        "imports",
        "import of the core, the plugin's entry point and boto3, whole process, median",
        "ms",
        ("core + entry point + boto3", ours),
        [("python -c 'import boto3'", base)],
        goal=results.target("<= boto3 + 60 ms", ours - base, "<=", 60, unit="ms", figure="extra over boto3"),
        group="import_time",
        note=f"every capability module too: {full:.1f} ms; the core's Provider base + boto3: {core:.1f} ms",
    )
    names = {
        baseline: "import boto3",
        core_only: "Provider base + boto3",
        plugin: "entry point + boto3",
        first_call: "every module + boto3",
    }
    results.series(
        "bedrock_import_runs",
        "Bedrock plugin import, whole processes, interleaved runs",
        "ms",
        "samples",
        {names[code]: samples for code, samples in times.items()},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--texts", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--concurrency", type=int, help="max_concurrency for the embeddings (default: the plugin's)")
    parser.add_argument("--only", choices=["overhead", "embeddings", "imports"])
    results.add_argument(parser)
    args = parser.parse_args()
    results.start(args.json)
    if args.only in (None, "overhead"):
        overhead(args.calls)
    if args.only in (None, "embeddings"):
        embeddings(args.texts, args.concurrency)
    if args.only in (None, "imports"):
        imports(args.runs)


if __name__ == "__main__":
    main()
