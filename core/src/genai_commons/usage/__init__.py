"""Token usage: the default SQLite store (a plugin), reports and clean-up.

The host emits one ``genai_usage_recorded`` event per successful call; :class:`SQLiteUsageStore`
persists it when ``[usage] store = true`` (or ``GENAI_STORE_USAGE_METRICS=1``). Read the data with
:class:`UsageDatabase` and :func:`usage_report`, or with ``genai usage report``.
"""

from __future__ import annotations

from .report import CleanupResult, GroupBy, UsageReport, UsageRow, cleanup, period, usage_report
from .sqlite_store import SQLiteUsageStore, UsageDatabase

__all__ = [
    "CleanupResult",
    "GroupBy",
    "SQLiteUsageStore",
    "UsageDatabase",
    "UsageReport",
    "UsageRow",
    "cleanup",
    "period",
    "usage_report",
]
