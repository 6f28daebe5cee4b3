"""Machine-readable figures of one benchmark run, for ``benchmarks/report.py``.

Every ``bench_*.py`` takes ``--json PATH`` (``add_argument``) and, after parsing its arguments, calls
``start(args.json)``. Where it prints a figure it hands the same figure to ``measure`` (a value set
against its baseline(s) and target) or ``series`` (values to chart: rounds, samples, competitors).
The file is written when the script exits, also when it fails half-way (status ``failed`` and the
error, with the figures measured so far); ``skip(reason)`` ends a script that cannot run here
(an optional package missing) with status ``skipped``. Without ``--json`` nothing is written and
the script prints exactly what it printed before.

The file (``"schema": 1``)::

    {
      "schema": 1,
      "benchmark": "bench_openai",              # the script's file name without .py
      "title": "The OpenAI plugin against raw httpx, ...",
      "argv": ["--pairs", "200"],
      "status": "ok",                           # ok | skipped | failed
      "reason": null,                           # why skipped or failed
      "started": "2025-06-01T12:00:00+00:00",
      "duration_s": 41.2,
      "measures": [
        {
          "section": "chat",                    # the script's part (its --only choice or heading)
          "label": "median per call, non-streaming",
          "unit": "us",                         # us | ms | s | requests/s | chunks/s | ratio | recall | ...
          "subject": {"name": "host.chat", "value": 345.2},
          "baselines": [                        # the first is the baseline; then competitors
            {"name": "raw httpx", "value": 301.0, "note": ""},
            {"name": "OpenAI SDK", "value": null, "note": "not installed"}
          ],
          "target": {                           # null when the figure has no target
            "text": "overhead <= 100 us",
            "figure": "overhead (median of paired differences)",
            "actual": 41.2, "unit": "us", "direction": "<=", "value": 100.0
          },
          "met": true,                          # null when there is no target
          "group": "chat_per_call",             # measures sharing a group share a chart across benchmarks
          "note": ""
        }
      ],
      "series": [
        {
          "name": "async_rounds_at_once",       # unique in the file; the chart's file name
          "title": "async throughput, interleaved rounds",
          "unit": "requests/s",
          "kind": "rounds",                     # bars: one bar per name (median of its values)
                                                # rounds: one line per name over the rounds
                                                # samples: p50 and p99 bars per name
          "values": {"raw httpx.AsyncClient": [1830.0, 1795.2], "host.achat": [1901.4, 1850.0]}
        }
      ]
    }

Values are plain numbers (``null`` for "not measured"); a benchmark written in another way (a
shell script, another helper's tool) may write the same document by hand.
"""

from __future__ import annotations

import argparse
import atexit
import json
import math
import re
import sys
import time
import traceback
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, NoReturn

SCHEMA = 1
STATUSES = ("ok", "skipped", "failed")
KINDS = ("bars", "rounds", "samples")
DIRECTIONS = ("<=", ">=")


class _Run:
    def __init__(self) -> None:
        self.path: Path | None = None
        self.document: dict[str, Any] = {}
        self.started = 0.0
        self.written = False


_run = _Run()


def add_argument(parser: argparse.ArgumentParser) -> None:
    """``--json PATH``: also write the figures as JSON (this module's schema)."""
    parser.add_argument(
        "--json", type=Path, metavar="PATH", help="also write the figures as JSON (schema: benchmarks/_results.py)"
    )


def start(path: Path | str | None, benchmark: str | None = None, title: str | None = None) -> None:
    """Begin recording; the file at ``path`` (none: record nothing) is written when the process exits."""
    main = sys.modules.get("__main__")
    _run.path = Path(path) if path is not None else None
    _run.started = time.perf_counter()
    _run.written = False
    _run.document = {
        "schema": SCHEMA,
        "benchmark": benchmark or Path(sys.argv[0]).stem,
        "title": title or _first_sentence(getattr(main, "__doc__", None) or ""),
        "argv": sys.argv[1:],
        "status": "ok",
        "reason": None,
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "duration_s": None,
        "measures": [],
        "series": [],
    }
    if _run.path is None:
        return
    previous = sys.excepthook

    def on_error(kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> None:
        where = traceback.extract_tb(tb)[-1] if tb is not None else None
        at = f" (at {Path(where.filename).name}:{where.lineno})" if where is not None else ""
        _run.document["status"] = "failed"
        _run.document["reason"] = f"{kind.__name__}: {error}{at}"
        previous(kind, error, tb)

    sys.excepthook = on_error
    atexit.register(write)


def target(text: str, actual: float, direction: str, value: float, *, unit: str, figure: str = "") -> dict[str, Any]:
    """A target: ``actual`` (the figure compared, in ``unit``) ``direction`` (<= or >=) ``value``."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, not {direction!r}")
    return {
        "text": text,
        "figure": figure,
        "actual": _number(actual),
        "unit": unit,
        "direction": direction,
        "value": float(value),
    }


def is_met(goal: Mapping[str, Any]) -> bool | None:
    """Whether a target's actual figure meets it (None when it was not measured)."""
    actual = goal.get("actual")
    if actual is None:
        return None
    return bool(actual <= goal["value"]) if goal["direction"] == "<=" else bool(actual >= goal["value"])


def measure(
    section: str,
    label: str,
    unit: str,
    subject: tuple[str, float | None],
    baselines: Iterable[tuple[str, float | None] | tuple[str, float | None, str]] = (),
    *,
    goal: dict[str, Any] | None = None,
    met: bool | None = None,
    group: str | None = None,
    note: str = "",
) -> None:
    """One figure of this project next to its baseline(s); ``met`` defaults to the target's own check
    (give it when the target has more than one condition, as the script's printed verdict does)."""
    rows = []
    for baseline in baselines:
        name, value, *rest = baseline
        rows.append({"name": name, "value": _number(value), "note": rest[0] if rest else ""})
    _run.document["measures"].append(
        {
            "section": section,
            "label": label,
            "unit": unit,
            "subject": {"name": subject[0], "value": _number(subject[1])},
            "baselines": rows,
            "target": goal,
            "met": (is_met(goal) if met is None else met) if goal is not None else None,
            "group": group,
            "note": note,
        }
    )


def series(name: str, title: str, unit: str, kind: str, values: Mapping[str, Iterable[float] | float]) -> None:
    """Values to chart: ``values`` maps a name (this project, a baseline, a competitor) to its numbers."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    data = {label: [_number(v) for v in _numbers(value)] for label, value in values.items()}
    _run.document["series"].append({"name": name, "title": title, "unit": unit, "kind": kind, "values": data})


def slug(text: str) -> str:
    """``text`` as a file-name part: lower case, runs of other characters as one underscore."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def skip(reason: str) -> NoReturn:
    """End the script: it cannot run here (an optional package is missing, say)."""
    _run.document["status"] = "skipped"
    _run.document["reason"] = reason
    print(f"skipped: {reason}")
    write()
    sys.exit(0)


def write() -> None:
    """Write the file (once; called at exit by ``start``)."""
    if _run.path is None or _run.written:
        return
    _run.written = True
    _run.document["duration_s"] = round(time.perf_counter() - _run.started, 3)
    _run.path.parent.mkdir(parents=True, exist_ok=True)
    _run.path.write_text(json.dumps(_run.document, indent=1) + "\n", encoding="utf-8")


def document(benchmark: str, status: str, reason: str | None = None, **fields: Any) -> dict[str, Any]:
    """A document for a benchmark that wrote none (it was skipped before starting, or it crashed)."""
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, not {status!r}")
    return {
        "schema": SCHEMA,
        "benchmark": benchmark,
        "title": fields.pop("title", ""),
        "argv": fields.pop("argv", []),
        "status": status,
        "reason": reason,
        "started": fields.pop("started", None),
        "duration_s": fields.pop("duration_s", None),
        "measures": fields.pop("measures", []),
        "series": fields.pop("series", []),
        **fields,
    }


def load(path: Path) -> dict[str, Any]:
    """Read a results file, checking the parts the report relies on (ValueError naming what is wrong)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise ValueError(f"{path}: not a results document of schema {SCHEMA}")
    if data.get("status") not in STATUSES:
        raise ValueError(f"{path}: status must be one of {STATUSES}")
    for key in ("benchmark", "measures", "series"):
        if key not in data:
            raise ValueError(f"{path}: no {key!r}")
    for item in data["measures"]:
        missing = {"section", "label", "unit", "subject", "baselines", "target", "met"} - set(item)
        if missing:
            raise ValueError(f"{path}: a measure lacks {sorted(missing)}")
    for item in data["series"]:
        if item.get("kind") not in KINDS or not isinstance(item.get("values"), dict):
            raise ValueError(f"{path}: series {item.get('name')!r} needs a kind in {KINDS} and values")
    return data


def _numbers(value: Iterable[float] | float) -> list[float]:
    return [float(v) for v in value] if isinstance(value, Iterable) else [float(value)]


def _number(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _first_sentence(doc: str) -> str:
    paragraph = " ".join(doc.strip().split("\n\n")[0].split())
    end = paragraph.find(". ")
    return paragraph if end < 0 else paragraph[: end + 1]
