"""Quota awareness: each key's monthly token entitlement against what this host has used.

Mendix Cloud sells model capacity as a monthly token quota that does not carry over. Configure
the entitlement per key (``[providers.mxcloud.monthly_tokens]``, by key name as in
``mxcloud:NAME``); consumption is the month's (UTC) total tokens of that model in the core's usage
store (``[usage] store = true`` keeps it across runs), plus this process's calls since it last
read the store. Crossing ``quota_warning`` (80 % by default) logs one ``quota_threshold_reached``
warning per key and month; with ``quota_hard_stop`` a call on a key whose entitlement is used up
fails with :class:`QuotaExceededError` before anything is sent. The portal remains the authority
(it also counts other apps using the same resource).
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from attrs import frozen

from genai_commons import QuotaExceededError, Usage, get_logger

from .errors import PROVIDER

__all__ = ["QuotaLine", "QuotaTracker", "month_start"]

log = get_logger(__name__)

#: Seconds between two reads of the usage store.
REFRESH_S = 60.0


def month_start(now: datetime | None = None) -> datetime:
    """The first instant of the current month, UTC."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


@frozen(kw_only=True)
class QuotaLine:
    """One key in the quota report."""

    key: str
    since: datetime
    used_tokens: int
    entitlement: int | None
    calls: int = 0

    @property
    def share(self) -> float | None:
        return None if not self.entitlement else self.used_tokens / self.entitlement

    @property
    def remaining(self) -> int | None:
        return None if self.entitlement is None else max(0, self.entitlement - self.used_tokens)

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "since": self.since.isoformat(),
            "used_tokens": self.used_tokens,
            "calls": self.calls,
            "entitlement": self.entitlement,
            "share": None if self.share is None else round(self.share, 4),
            "remaining": self.remaining,
        }


class QuotaTracker:
    """See the module docstring; one per provider instance."""

    def __init__(self) -> None:
        self.entitlements: dict[str, int] = {}
        self.warning = 0.8
        self.hard_stop = False
        self.database: Path | None = None
        self.store_on = False
        self._lock = threading.Lock()
        self._month: datetime | None = None
        self._base: dict[str, int] = {}
        self._delta: dict[str, int] = {}
        self._delta_calls: dict[str, int] = {}
        self._read_at = float("-inf")
        self._warned: set[tuple[str, datetime]] = set()

    def configure(
        self, entitlements: dict[str, int], warning: float, hard_stop: bool, database: Path | None, store: bool
    ) -> None:
        with self._lock:
            self.entitlements = dict(entitlements)
            self.warning = warning
            self.hard_stop = hard_stop
            self.database = database
            self.store_on = store
            self._read_at = float("-inf")
            self._base, self._delta, self._delta_calls = {}, {}, {}

    # -- the store -----------------------------------------------------------------------------

    def _totals(self, since: datetime) -> dict[str, tuple[int, int]]:
        """model id -> (total tokens, calls) of this provider since ``since``, from the usage store."""
        if self.database is None or not self.database.exists():
            return {}
        from genai_commons.usage import GroupBy, UsageDatabase, usage_report  # noqa: PLC0415

        with UsageDatabase(self.database) as db:
            report = usage_report(db, by=GroupBy.MODEL, since=since, provider=PROVIDER)
        totals: dict[str, tuple[int, int]] = {}
        for row in report.rows:  # one row per model id and display name
            tokens, calls = totals.get(str(row.model_id), (0, 0))
            totals[str(row.model_id)] = (tokens + row.total_tokens, calls + row.calls)
        return totals

    def _refresh(self) -> None:
        month = month_start()
        stale = time.monotonic() - self._read_at > REFRESH_S
        if month != self._month or (stale and self.store_on):
            totals = self._totals(month)
            with self._lock:
                if month != self._month or self.store_on:
                    self._delta, self._delta_calls = {}, {}
                self._month = month
                self._base = {k: v[0] for k, v in totals.items()}
                self._read_at = time.monotonic()

    def used(self, key: str) -> int:
        """Tokens used this month by the model of that key name."""
        self._refresh()
        return self._base.get(key, 0) + self._delta.get(key, 0)

    # -- per call ------------------------------------------------------------------------------

    def before_call(self, key: str) -> None:
        """Warn at the threshold; with the hard stop, refuse a key whose entitlement is used up."""
        entitlement = self.entitlements.get(key)
        if entitlement is None:
            return
        used = self.used(key)
        self._maybe_warn(key, used, entitlement)
        if self.hard_stop and used >= entitlement:
            raise QuotaExceededError(
                f"key {key!r} has used {used:,} of its {entitlement:,} tokens this month (since "
                f"{month_start():%Y-%m-%d}); quota_hard_stop refuses further calls until the month ends. Raise "
                f"[providers.mxcloud.monthly_tokens] {key}, or set quota_hard_stop = false",
                provider=PROVIDER,
                code="monthly_entitlement_used",
            )

    def record(self, usage: Usage) -> None:
        """Count a successful call (the host's usage event)."""
        if usage.provider != PROVIDER:
            return
        with self._lock:
            self._delta[usage.model_id] = self._delta.get(usage.model_id, 0) + usage.total_tokens
            self._delta_calls[usage.model_id] = self._delta_calls.get(usage.model_id, 0) + usage.calls
        entitlement = self.entitlements.get(usage.model_id)
        if entitlement is not None:
            self._maybe_warn(usage.model_id, self.used(usage.model_id), entitlement)

    def _maybe_warn(self, key: str, used: int, entitlement: int) -> None:
        month = self._month or month_start()
        if used < self.warning * entitlement or (key, month) in self._warned:
            return
        self._warned.add((key, month))
        log.warning(
            "quota_threshold_reached",
            key=key,
            used_tokens=used,
            entitlement=entitlement,
            share=round(used / entitlement, 4),
            threshold=self.warning,
        )

    # -- the report ----------------------------------------------------------------------------

    def report(self, keys: list[str], *, now: datetime | None = None) -> list[QuotaLine]:
        """This month's consumption of every key that has an entitlement or used tokens."""
        since = month_start(now)
        totals = self._totals(since)
        if not self.store_on:  # the store has nothing of this process; add what it counted
            for key, tokens in self._delta.items():
                old_tokens, calls = totals.get(key, (0, 0))
                totals[key] = (old_tokens + tokens, calls + self._delta_calls.get(key, 0))
        names = sorted({*keys, *self.entitlements, *totals})
        return [
            QuotaLine(
                key=name,
                since=since,
                used_tokens=totals.get(name, (0, 0))[0],
                calls=totals.get(name, (0, 0))[1],
                entitlement=self.entitlements.get(name),
            )
            for name in names
            if name in self.entitlements or name in totals or name in keys
        ]
