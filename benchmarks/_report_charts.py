"""The report's PNG charts, drawn with matplotlib (Agg, no display): one per series a benchmark wrote
(bars, rounds or samples), and one per group of measures shared across benchmarks (chat per call by
provider, import times), each figure of this project next to its baselines."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from _report_markdown import UNITS

GROUPS = {
    "chat_per_call": "Chat per call, by provider: this project against raw HTTP or the provider's SDK",
    "import_time": "Import and start-up time, whole processes: this project against its baseline",
}
NOT_INSTALLED = "matplotlib is not installed (./scripts/bench installs it, or pip install '.[bench]')"


def draw_all(documents: list[dict[str, Any]], folder: Path) -> tuple[list[tuple[Path, str]], str]:
    """Draw every chart into ``folder``; the (path, title) of each, and why none were drawn (or "")."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return [], NOT_INSTALLED
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    drawn: list[tuple[Path, str]] = []
    for group, title in GROUPS.items():
        members = [(d["benchmark"], m) for d in documents for m in d["measures"] if m.get("group") == group]
        if members:
            path = folder / f"group_{group}.png"
            _save(plt, _group(plt, title, members), path)
            drawn.append((path, title))
    for document in documents:
        for item in document["series"]:
            if not any(v is not None for values in item["values"].values() for v in values):
                continue
            draw = {"bars": _bars, "rounds": _rounds, "samples": _samples}[item["kind"]]
            title = f"{document['benchmark']}: {item['title']}"
            path = folder / f"{item['name']}.png"
            _save(plt, draw(plt, title, item), path)
            drawn.append((path, title))
    return drawn, ""


def _save(plt: Any, figure: Any, path: Path) -> None:
    figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(figure)


def _unit(unit: str) -> str:
    return UNITS.get(unit, unit)


def _wrap(text: str, width: int = 70) -> str:
    return "\n".join(textwrap.wrap(text, width)) or text


def _hbars(axes: Any, names: list[str], values: list[float], unit: str, colors: list[Any]) -> None:
    positions = range(len(names))
    bars = axes.barh(list(positions), values, color=colors)
    axes.set_yticks(list(positions), [_wrap(name, 40) for name in names])
    axes.invert_yaxis()
    axes.set_xlabel(_unit(unit))
    axes.bar_label(bars, labels=[f"{v:,.1f}" if v >= 10 else f"{v:.3g}" for v in values], padding=3, fontsize=8)
    axes.margins(x=0.15)


def _group(plt: Any, title: str, members: list[tuple[str, dict[str, Any]]]) -> Any:
    """One panel per measure: this project's figure (highlighted) and each baseline's."""
    rows = [len([b for b in m["baselines"] if b["value"] is not None]) + 1 for _, m in members]
    figure, panels = plt.subplots(len(members), 1, figsize=(9, 1.2 + sum(0.45 * r + 0.9 for r in rows)), squeeze=False)
    palette = plt.get_cmap("tab10").colors
    for (benchmark, measure), axes in zip(members, panels[:, 0], strict=True):
        measured = [b for b in measure["baselines"] if b["value"] is not None]
        names = [f"{measure['subject']['name']} (this project)"] + [b["name"] for b in measured]
        values = [measure["subject"]["value"] or 0.0] + [b["value"] for b in measured]
        _hbars(axes, names, values, measure["unit"], [palette[0]] + [palette[i % 9 + 1] for i in range(len(measured))])
        verdict = {True: "target met", False: "target NOT met", None: "no target"}[measure["met"]]
        axes.set_title(_wrap(f"{benchmark}: {measure['label']} ({verdict})", 90), fontsize=9, loc="left")
    figure.suptitle(_wrap(title, 80), fontsize=11)
    figure.tight_layout()
    return figure


def _bars(plt: Any, title: str, item: dict[str, Any]) -> Any:
    import statistics

    names = [name for name, values in item["values"].items() if any(v is not None for v in values)]
    values = [statistics.median(v for v in item["values"][name] if v is not None) for name in names]
    figure, axes = plt.subplots(figsize=(9, 1.2 + 0.5 * len(names)))
    palette = plt.get_cmap("tab10").colors
    _hbars(axes, names, values, item["unit"], [palette[i % 10] for i in range(len(names))])
    axes.set_title(_wrap(title), fontsize=10)
    figure.tight_layout()
    return figure


def _rounds(plt: Any, title: str, item: dict[str, Any]) -> Any:
    figure, axes = plt.subplots(figsize=(9, 4))
    for name, values in item["values"].items():
        rounds = [(i, v) for i, v in enumerate(values, 1) if v is not None]
        axes.plot([i for i, _ in rounds], [v for _, v in rounds], marker="o", label=name)
    axes.set_xlabel("round")
    axes.set_ylabel(_unit(item["unit"]))
    axes.set_ylim(bottom=0)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    axes.set_title(_wrap(title), fontsize=10)
    figure.tight_layout()
    return figure


def _samples(plt: Any, title: str, item: dict[str, Any]) -> Any:
    """p50 and p99 of each name's samples, side by side."""
    import numpy as np

    names = [name for name, values in item["values"].items() if any(v is not None for v in values)]
    p50, p99 = [], []
    for name in names:
        samples = np.array([v for v in item["values"][name] if v is not None])
        p50.append(float(np.percentile(samples, 50)))
        p99.append(float(np.percentile(samples, 99)))
    figure, axes = plt.subplots(figsize=(9, 1.4 + 0.7 * len(names)))
    positions = np.arange(len(names))
    height = 0.38
    for offset, values, label in ((-height / 2, p50, "p50"), (height / 2, p99, "p99")):
        bars = axes.barh(positions + offset, values, height, label=label)
        axes.bar_label(bars, labels=[f"{v:,.1f}" if v >= 10 else f"{v:.3g}" for v in values], padding=3, fontsize=8)
    axes.set_yticks(positions, [_wrap(name, 40) for name in names])
    axes.invert_yaxis()
    axes.set_xlabel(_unit(item["unit"]))
    axes.margins(x=0.15)
    axes.legend(fontsize=8)
    counts = sorted({sum(v is not None for v in values) for values in item["values"].values()})
    axes.set_title(_wrap(f"{title} ({'/'.join(map(str, counts))} samples each)"), fontsize=10)
    figure.tight_layout()
    return figure
