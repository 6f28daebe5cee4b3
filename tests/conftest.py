"""What every test shares: the process-wide logging configuration is left as each test found it,
and one cache of exported ONNX models.

The ``genai`` command configures structlog for the process it runs in (as an application does);
a test that runs the command in-process would otherwise leave its level filter to later tests,
which then see no info events.

Tests give each host a fresh genai home, and the local provider exports its embedding model to
ONNX once per home (a few seconds): ``GENAI_LOCAL_MODEL_CACHE`` points every home, and every
``genai`` process a test starts, at one cache for the session. Tests of the cache itself give
their own directory.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator

import pytest

if "GENAI_LOCAL_MODEL_CACHE" not in os.environ:
    _models = tempfile.mkdtemp(prefix="genai-test-models-")
    atexit.register(shutil.rmtree, _models, ignore_errors=True)
    os.environ["GENAI_LOCAL_MODEL_CACHE"] = _models


@pytest.fixture(autouse=True)
def _structlog_left_unconfigured() -> Iterator[None]:
    yield
    structlog = sys.modules.get("structlog")
    if structlog is not None and structlog.is_configured():
        structlog.reset_defaults()
