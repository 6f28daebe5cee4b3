"""benchmarks/report.py: it runs benchmark scripts with --json, goes on past one that fails or is
skipped, and writes REPORT.md (a row per figure, the failed and skipped ones shown as such) and PNG
charts. A real benchmark (bench_host_overhead.py, with few calls) runs next to two small scripts
that fail and skip through the same results helper."""

from __future__ import annotations

import importlib.util
import json
import shutil
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

BROKEN = '''\
"""A benchmark that breaks half-way, after one figure."""
import argparse

import _results as results

parser = argparse.ArgumentParser()
results.add_argument(parser)
results.start(parser.parse_args().json)
results.measure("part one", "first figure", "ms", ("this project", 2.0), [("raw", 1.5)])
results.series("broken_rounds", "rounds before breaking", "requests/s", "rounds", {"raw": [10, 11], "ours": [12, 9]})
raise RuntimeError("the fake server went away")
'''

SKIPPING = '''\
"""A benchmark whose optional package is missing."""
import argparse

import _results as results

parser = argparse.ArgumentParser()
results.add_argument(parser)
results.start(parser.parse_args().json)
results.skip("not installed: some-optional-sdk")
'''


def load_module(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"benchmarks_{name}", BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path.name} is not a PNG"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    width, height = struct.unpack(">II", data[16:24])
    assert zlib.crc32(data[12:29]) == struct.unpack(">I", data[29:33])[0], "IHDR checksum"
    return width, height


@pytest.fixture(scope="module")
def report_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    """One run of the report over a scripts folder: a real benchmark, a broken one, a skipped one."""
    root = tmp_path_factory.mktemp("bench")
    scripts = root / "scripts"
    scripts.mkdir()
    for name in ("_results.py", "bench_host_overhead.py"):
        shutil.copy(BENCHMARKS / name, scripts / name)
    (scripts / "bench_zz_broken.py").write_text(textwrap.dedent(BROKEN))
    (scripts / "bench_zz_skipping.py").write_text(textwrap.dedent(SKIPPING))
    out = root / "report"
    command = [sys.executable, str(BENCHMARKS / "report.py"), "--quick", "--scripts", str(scripts), "--out", str(out)]
    done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=120)
    return done, out


def test_the_run_goes_on_past_a_failure_and_a_skip(report_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    done, out = report_run
    assert done.returncode == 0, done.stdout + done.stderr
    assert "benchmarks: 1 ok, 1 skipped, 1 failed" in done.stdout
    saved = {p.stem: json.loads(p.read_text()) for p in (out / "results").glob("bench_*.json")}
    assert saved["bench_host_overhead"]["status"] == "ok"
    assert saved["bench_host_overhead"]["argv"] == ["--calls", "300"], "the quick plan's arguments"
    assert saved["bench_zz_broken"]["status"] == "failed"
    assert "RuntimeError: the fake server went away" in saved["bench_zz_broken"]["reason"]
    assert len(saved["bench_zz_broken"]["measures"]) == 1, "what was measured before the failure is kept"
    assert saved["bench_zz_skipping"]["status"] == "skipped"
    assert "RuntimeError" in (out / "logs" / "bench_zz_broken.log").read_text()


def test_report_has_a_row_per_figure_and_shows_failed_and_skipped(
    report_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    _, out = report_run
    report = (out / "REPORT.md").read_text(encoding="utf-8")
    assert "**Quick run**" in report
    assert "| CPU |" in report and "| Python | CPython" in report and "httpx 0." in report
    table = report.split("## Results")[1].split("## Charts")[0]
    rows = [line for line in table.splitlines() if line.startswith("| `bench_")]
    overhead = [row for row in rows if row.startswith("| `bench_host_overhead` · chat")]
    assert len(overhead) == 3, rows
    first = overhead[0].split(" | ")
    assert "host.chat(model, request): **" in first[2] and " µs**" in first[2]
    assert first[3].startswith("provider.chat() directly: ")
    assert first[4] == "overhead ≤ 20 µs" and first[5].startswith("overhead: ")
    assert first[6].rstrip(" |") in ("✅ met", "❌ not met")
    assert overhead[2].endswith("| — | — | — |"), "the informative figure has no target"
    broken = [row for row in rows if row.startswith("| `bench_zz_broken`")]
    assert "this project: **2.00 ms**" in broken[0] and "raw: 1.50 ms" in broken[0]
    assert "💥 failed" in broken[1] and "RuntimeError: the fake server went away" in broken[1]
    skipped = [row for row in rows if row.startswith("| `bench_zz_skipping`")]
    assert len(skipped) == 1 and "⏭ skipped" in skipped[0] and "not installed: some-optional-sdk" in skipped[0]
    assert "`bench_zz_broken`: the end of its output" in report


def test_charts_are_real_pngs(report_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    pytest.importorskip("matplotlib", reason="matplotlib is not installed: the report is written without charts")
    from matplotlib import image

    _, out = report_run
    report = (out / "REPORT.md").read_text(encoding="utf-8")
    charts = sorted((out / "charts").glob("*.png"))
    assert {p.name for p in charts} == {"host_overhead.png", "broken_rounds.png"}
    for chart in charts:
        assert f"](charts/{chart.name})" in report
        width, height = png_size(chart)
        assert width >= 300 and height >= 150
        pixels = image.imread(chart)
        assert pixels.std() > 0.05, f"{chart.name} is blank"
        assert chart.stat().st_size > 5_000


def test_render_only_and_strict(report_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    _, out = report_run
    (out / "REPORT.md").unlink()
    command = [sys.executable, str(BENCHMARKS / "report.py"), "--render-only", "--strict", "--out", str(out)]
    done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, "a failed benchmark fails a strict run"
    assert "bench_zz_broken" in (out / "REPORT.md").read_text(encoding="utf-8")


def test_results_helper_checks_what_it_is_given(tmp_path: Path) -> None:
    results = load_module("_results")
    goal = results.target("<= 1.2 x httpx", 1.3, "<=", 1.2, unit="ratio")
    assert results.is_met(goal) is False
    assert results.is_met(results.target(">= raw", 1.01, ">=", 1.0, unit="ratio")) is True
    with pytest.raises(ValueError, match="direction"):
        results.target("x", 1, "<", 2, unit="s")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(results.document("bench_x", "ok") | {"schema": 99}))
    with pytest.raises(ValueError, match="schema"):
        results.load(bad)
    good = tmp_path / "good.json"
    good.write_text(json.dumps(results.document("bench_x", "skipped", "no SDK")))
    assert results.load(good)["reason"] == "no SDK"
