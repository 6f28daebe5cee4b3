"""First calls from many threads at once, in fresh processes (issue 12, defect 1).

A process whose threads make their first calls together touches every lazy import and lazily
built object for the first time from several threads at once. Once, a thread saw structlog's
module half-initialised while another thread imported it (to print the first retry warning), and
a call that had succeeded raised ``AttributeError``. Each run here is a fresh interpreter (nothing
imported yet), its threads released together by a barrier, and the provider's first answers fail
with a retryable 503 so that the host logs warnings while the other calls are in flight; repeated,
since a race shows only sometimes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from load_helpers import ServerProcess

WORKER = Path(__file__).with_name("first_calls_worker.py")
#: Fresh processes per plugin, and the threads each starts (one of them runs asyncio tasks).
RUNS = 4
THREADS = 12
#: The failure each fake gives the first calls: retryable, so that the host warns and retries.
FAILURE = {"openai": "unavailable", "mxcloud": "unavailable", "bedrock": "unavailable"}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", ["openai", "mxcloud", "bedrock"])
def test_first_calls_from_many_threads_in_fresh_processes_all_succeed(kind: str, tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GENAI_", "AWS_"))}
    with ServerProcess(kind) as server:
        for run in range(RUNS):
            server.fail_next(FAILURE[kind], 3)
            home = tmp_path / f"run{run}"
            done = subprocess.run(
                [sys.executable, str(WORKER), kind, json.dumps(server.info), str(home), str(THREADS)],
                capture_output=True,
                text=True,
                timeout=90,
                env=env,
                check=False,
            )
            assert done.returncode == 0, done.stderr[-3000:]
            result = json.loads(done.stdout.strip().splitlines()[-1])
            assert result["errors"] == [], f"run {run}: {result['errors']}"
            assert result["ok"] == 2 * THREADS - 1
            assert "Traceback" not in done.stderr, done.stderr[-3000:]
