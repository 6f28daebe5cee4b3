"""What every test shares: the process-wide logging configuration is left as each test found it.

The ``genai`` command configures structlog for the process it runs in (as an application does);
a test that runs the command in-process would otherwise leave its level filter to later tests,
which then see no info events.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _structlog_left_unconfigured() -> Iterator[None]:
    yield
    structlog = sys.modules.get("structlog")
    if structlog is not None and structlog.is_configured():
        structlog.reset_defaults()
