"""Start-up cost: importing genai_commons and creating a Host that discovers every installed plugin,
against `python -c "import httpx"`, as whole processes, interleaved in the same run.

Target (issue 2): median(host) <= 1.2 x median(httpx).

    .venv/bin/python benchmarks/bench_startup.py [--runs 40]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import _results as results

BASELINE = "import httpx"
SUBJECT = "import genai_commons; genai_commons.Host()"


def run(code: str, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    results.add_argument(parser)
    args = parser.parse_args()
    results.start(args.json)
    with tempfile.TemporaryDirectory() as home:
        # bytecode caches written and used, as an installed package has them (pip compiles on install)
        env = {**{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}, "GENAI_HOME": home}
        for code in (BASELINE, SUBJECT):  # warm the file-system cache
            run(code, env)
        baseline, subject = [], []
        for _ in range(args.runs):
            baseline.append(run(BASELINE, env))
            subject.append(run(SUBJECT, env))
        plugins = subprocess.run(
            [sys.executable, "-c", "import genai_commons; print(len(genai_commons.Host().plugins()))"],
            check=True,
            env=env,
            capture_output=True,
            text=True,
        ).stdout.strip()
    b, s = statistics.median(baseline), statistics.median(subject)
    print(f"runs per command                 {args.runs}")
    print(f"plugins discovered by the host    {plugins}")
    print(f"python -c 'import httpx'          median {b * 1000:7.1f} ms")
    print(f"import genai_commons + Host()     median {s * 1000:7.1f} ms")
    print(f"ratio                             {s / b:7.2f}  (target <= 1.20: {'met' if s / b <= 1.2 else 'NOT met'})")
    results.measure(
        "startup",
        f"import genai_commons + Host() ({plugins} plugins), whole process, median",
        "ms",
        ("import genai_commons; Host()", s * 1000),
        [("python -c 'import httpx'", b * 1000)],
        goal=results.target("<= 1.2 x httpx", s / b, "<=", 1.2, unit="ratio", figure="ratio to httpx"),
        group="import_time",
    )
    results.series(
        "startup_runs",
        "start-up, whole processes, interleaved runs",
        "ms",
        "samples",
        {
            "python -c 'import httpx'": [v * 1000 for v in baseline],
            "genai_commons + Host()": [v * 1000 for v in subject],
        },
    )


if __name__ == "__main__":
    main()
