"""REPORT.md: the machine, every figure next to its baselines and target, the charts, the runs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

UNITS = {"us": "µs"}
COUNTS = {"count", "rows", "chunks", "calls", "errors", "connections", "requests", "writes", "kills"}
MARKS = {True: "✅ met", False: "❌ not met", None: "—"}
STATUS = {"ok": "ok", "skipped": "⏭ skipped", "failed": "💥 failed"}


def number(value: float | None, unit: str = "") -> str:
    if value is None:
        return "not measured"
    size = abs(value)
    if unit in COUNTS and float(value).is_integer():
        return f"{int(value):,} {unit}" if unit != "count" else f"{int(value):,}"
    text = (
        f"{value:,.0f}"
        if size >= 1000
        else f"{value:.1f}"
        if size >= 100
        else f"{value:.2f}"
        if size >= 1
        else f"{value:.3f}"
    )
    shown = UNITS.get(unit, unit)
    return f"{text} {shown}".strip() if shown not in ("ratio", "recall") else text


def cell(text: str) -> str:
    """Table-safe text: no pipes or line breaks that would split the row."""
    return text.replace("|", "\\|").replace("\n", " ")


def _baselines(measure: dict[str, Any]) -> str:
    parts = []
    for baseline in measure["baselines"]:
        value = baseline["value"]
        shown = number(value, measure["unit"]) if value is not None else baseline.get("note") or "not measured"
        note = f" ({baseline['note']})" if value is not None and baseline.get("note") else ""
        parts.append(f"{cell(baseline['name'])}: {shown}{cell(note)}")
    return "<br>".join(parts) or "—"


def _target(measure: dict[str, Any]) -> tuple[str, str]:
    goal = measure.get("target")
    if not goal:
        return "—", "—"
    figure = f"{goal['figure']}: " if goal.get("figure") else ""
    text = re.sub(r"\bus\b", "µs", goal["text"].replace("<=", "≤").replace(">=", "≥"))
    return cell(text), cell(f"{figure}{number(goal['actual'], goal['unit'])}")


def _rows(documents: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| Benchmark | Measure | This project | Baseline(s) | Target | Compared figure | Met? |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for document in documents:
        name = f"`{document['benchmark']}`"
        for measure in document["measures"]:
            subject = measure["subject"]
            target, figure = _target(measure)
            note = f"<br>{cell(measure['note'])}" if measure.get("note") else ""
            lines.append(
                f"| {name} · {cell(measure['section'])} | {cell(measure['label'])}{note} "
                f"| {cell(subject['name'])}: **{number(subject['value'], measure['unit'])}** "
                f"| {_baselines(measure)} | {target} | {figure} | {MARKS[measure['met']]} |"
            )
        if document["status"] != "ok":
            reason = cell(document.get("reason") or "")
            what = "figures above are partial; " if document["measures"] else ""
            lines.append(f"| {name} | {STATUS[document['status']]} | {what}{reason} | | | | |")
    return lines


def _machine(run: dict[str, Any]) -> list[str]:
    facts = run["machine"]
    cpus = f"{facts['cpu_count']} logical" + (
        f", {facts['cpus_usable']} usable by this process"
        if facts.get("cpus_usable") not in (None, facts["cpu_count"])
        else ""
    )
    load = " / ".join(
        f"{when}: {', '.join(str(v) for v in facts_load)}"
        for when, facts_load in (("before", facts.get("load_before")), ("after", run.get("load_after")))
        if facts_load
    )
    versions = ", ".join(
        f"{name} {version}" if version else f"{name} (not installed)" for name, version in facts["packages"].items()
    )
    return [
        "| | |",
        "| --- | --- |",
        f"| date (UTC) | {facts['date']} |",
        f"| run | {run['mode']}, {run.get('duration_s', '?')} s in all |",
        f"| CPU | {cell(facts['cpu'])} ({cpus}) |",
        f"| memory | {facts.get('memory_gib')} GiB |",
        f"| load average (1, 5, 15 min) | {load or 'unknown'} |",
        f"| OS | {cell(facts['os'])} |",
        f"| Python | {facts['python']} |",
        f"| commit | {facts.get('commit') or 'unknown'} |",
        f"| packages | {cell(versions)} |",
    ]


def _runs(documents: list[dict[str, Any]]) -> list[str]:
    lines = ["| Benchmark | Status | Seconds | Arguments | Log |", "| --- | --- | --- | --- | --- |"]
    for document in documents:
        seconds = f"{document['duration_s']:.1f}" if document.get("duration_s") is not None else "—"
        arguments = " ".join(document.get("argv") or []) or "(defaults)"
        log = f"[log](logs/{document['benchmark']}.log)" if document.get("exit_code") is not None else "—"
        status = STATUS[document["status"]]
        lines.append(f"| `{document['benchmark']}` | {status} | {seconds} | `{cell(arguments)}` | {log} |")
    return lines


def render(
    documents: list[dict[str, Any]], run: dict[str, Any], drawn: list[tuple[Path, str]], why_not: str, *, base: Path
) -> str:
    """The whole report; chart paths are written relative to ``base`` (the report's folder)."""
    ok = sum(d["status"] == "ok" for d in documents)
    met = sum(m["met"] is True for d in documents for m in d["measures"])
    targets = sum(m["met"] is not None for d in documents for m in d["measures"])
    lines = [
        "# Benchmark report",
        "",
        f"{len(documents)} benchmarks ({ok} ran to the end), {targets} targets of which {met} met. "
        "Every figure was measured in this run, next to its baseline (raw httpx or boto3, and the OpenAI SDK "
        "and LiteLLM where they are installed), on the same machine at the same time.",
        "",
    ]
    if run["mode"] == "quick":
        lines += [
            "> **Quick run** (`--quick`): every benchmark ran with small counts, as a smoke test. The figures "
            "are not comparable with the targets, which hold for the full counts (`./scripts/bench`).",
            "",
        ]
    lines += ["## Machine", "", *_machine(run), "", "## Results", "", *_rows(documents), ""]
    failed = [d for d in documents if d["status"] == "failed" and d.get("log_tail")]
    lines += ["## Charts", ""]
    if why_not:
        lines += [f"No charts: {why_not}.", ""]
    for path, title in drawn:
        lines += [f"### {title}", "", f"![{title}]({path.relative_to(base).as_posix()})", ""]
    lines += ["## Runs", "", *_runs(documents), ""]
    for document in failed:
        lines += [
            f"### `{document['benchmark']}`: the end of its output",
            "",
            "```text",
            *document["log_tail"],
            "```",
            "",
        ]
    return "\n".join(lines)
