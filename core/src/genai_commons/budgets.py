"""Monthly budgets: the spend of the month against each ``[budgets]`` limit, checked before calls.

The :class:`BudgetGuard` reads the month's sums (tokens and USD per provider and model) from the
usage store once, then keeps them current from the usage records the host emits — no query per
call. It reads the store again every :attr:`BudgetGuard.refresh_s` seconds (to count what other
processes recorded) and when a new month begins (UTC). A limit reached makes the next call to
what it covers fail with :class:`BudgetExceededError` before any network call; crossing
``warn_at`` of a limit logs ``budget_threshold_crossed`` once per month, and reaching it
``budget_exhausted``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from attrs import frozen

from ._log import get_logger
from .errors import BudgetExceededError, ConfigurationError

if TYPE_CHECKING:
    from .budget_settings import BudgetLimit, BudgetSettings
    from .config import Config
    from .model.usage import Usage
    from .prices import PriceTable
    from .usage.sqlite_store import UsageDatabase

__all__ = ["BudgetGuard", "BudgetStatus", "month_start"]

_log = get_logger(__name__)
#: The key of the overall sums.
_ALL = ("", "")


def month_start(now: datetime) -> datetime:
    """The first instant of ``now``'s calendar month, in UTC."""
    now = now.astimezone(UTC)
    return datetime(now.year, now.month, 1, tzinfo=UTC)


def _next_month(start: datetime) -> datetime:
    return datetime(start.year + start.month // 12, start.month % 12 + 1, 1, tzinfo=UTC)


@frozen(kw_only=True)
class BudgetStatus:
    """One limit and what the month has used of it."""

    #: ``overall``, ``provider NAME`` or ``model PROVIDER:MODEL``.
    scope: str
    #: ``tokens`` or ``usd``.
    unit: str
    limit: float
    spent: float
    #: The month (UTC) the spend is counted from.
    since: datetime

    @property
    def fraction(self) -> float:
        return self.spent / self.limit

    @property
    def remaining(self) -> float:
        return max(self.limit - self.spent, 0.0)

    @property
    def exhausted(self) -> bool:
        return self.spent >= self.limit


class BudgetGuard:
    """The month's spend against the configured limits (thread-safe).

    :param settings: the ``[budgets]`` section.
    :param database: the usage store's database, read for the month's sums.
    :param prices: the price table (to refuse a USD limit on a model that has no price).
    :param clock: the current time, for tests.
    """

    #: Seconds after which the sums are read again from the store (other processes' usage).
    refresh_s: float = 60.0

    def __init__(
        self,
        settings: BudgetSettings,
        database: UsageDatabase,
        prices: PriceTable,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        for ref, limit in settings.models.items():
            provider, _, model_id = ref.partition(":")
            if limit.usd is not None and prices.price(provider, model_id) is None:
                raise ConfigurationError(
                    f'[budgets.models."{ref}"] usd: no price is known for {ref}, so its cost cannot be counted; '
                    f'add [prices."{ref}"] with input and output prices per million tokens, or limit tokens instead'
                )
        self.settings = settings
        self.database = database
        self._clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.Lock()
        #: (provider, model_id) -> [tokens, usd]; ("", "") overall, (provider, "") per provider.
        self._sums: dict[tuple[str, str], list[float]] = {}
        self._since = month_start(self._clock())
        self._until = self._since
        self._next_refresh = float("-inf")
        #: (scope, unit, level) already logged this month.
        self._warned: set[tuple[str, str, str]] = set()

    @classmethod
    def for_config(cls, config: Config) -> BudgetGuard:
        """The guard of ``config``'s budgets; :class:`ConfigurationError` when the usage store is off."""
        if not config.usage.store:
            raise ConfigurationError(
                "[budgets] needs the usage store to count what was spent: set [usage] store = true "
                "(or GENAI_STORE_USAGE_METRICS=1), or remove the [budgets] limits"
            )
        from .prices import price_table  # noqa: PLC0415
        from .usage.sqlite_store import UsageDatabase  # noqa: PLC0415

        return cls(config.budgets, UsageDatabase(config.usage_database), price_table(config))

    # -- the month's sums --------------------------------------------------------------------

    def _current(self) -> None:
        """Read the sums from the store when they are stale or a new month began (under the lock)."""
        now = self._clock()
        if now < self._until and time.monotonic() < self._next_refresh:
            return
        since = month_start(now)
        if since != self._since:
            self._warned.clear()
        self._since = since
        self._until = _next_month(since)
        sums: dict[tuple[str, str], list[float]] = {}
        for row in self.database.totals(("provider", "model_id"), since=self._since):
            provider, model_id, total, cost = row[0], row[1], row[5], row[10]
            self._add(sums, provider, model_id, float(total or 0), float(cost or 0.0))
        self._sums = sums
        self._next_refresh = time.monotonic() + self.refresh_s
        self._warn_all()

    @staticmethod
    def _add(sums: dict[tuple[str, str], list[float]], provider: str, model_id: str, tokens: float, usd: float) -> None:
        for key in (_ALL, (provider, ""), (provider, model_id)):
            entry = sums.setdefault(key, [0.0, 0.0])
            entry[0] += tokens
            entry[1] += usd

    def _limits(self, provider: str, model_id: str | None) -> list[tuple[str, tuple[str, str], BudgetLimit]]:
        found: list[tuple[str, tuple[str, str], BudgetLimit]] = []
        settings = self.settings
        if settings.overall is not None:
            found.append(("overall", _ALL, settings.overall))
        limit = settings.providers.get(provider)
        if limit is not None:
            found.append((f"provider {provider}", (provider, ""), limit))
        if model_id is not None and settings.models:
            limit = settings.models.get(f"{provider}:{model_id}")
            if limit is not None:
                found.append((f"model {provider}:{model_id}", (provider, model_id), limit))
        return found

    def _statuses(self, provider: str, model_id: str | None) -> list[BudgetStatus]:
        out: list[BudgetStatus] = []
        for scope, key, limit in self._limits(provider, model_id):
            tokens, usd = self._sums.get(key, (0.0, 0.0))
            if limit.tokens is not None:
                out.append(
                    BudgetStatus(scope=scope, unit="tokens", limit=limit.tokens, spent=tokens, since=self._since)
                )
            if limit.usd is not None:
                out.append(BudgetStatus(scope=scope, unit="usd", limit=limit.usd, spent=usd, since=self._since))
        return out

    # -- the host's calls --------------------------------------------------------------------

    def check(self, provider: str, model_id: str | None = None) -> None:
        """Raise :class:`BudgetExceededError` when a limit covering this call is reached."""
        with self._lock:
            self._current()
            statuses = self._statuses(provider, model_id)
        for status in statuses:
            if status.exhausted:
                raise BudgetExceededError(
                    f"the monthly budget of {status.scope} is used up: {_amount(status.spent, status.unit)} of "
                    f"{_amount(status.limit, status.unit)} since {status.since:%Y-%m-%d} (UTC); raise the limit in "
                    "[budgets] of the configuration, or wait for the next month",
                    provider=provider,
                    scope=status.scope,
                    unit=status.unit,
                    limit=status.limit,
                    spent=status.spent,
                )

    def record(self, usage: Usage) -> None:
        """Count one usage record (the host calls this for every record it emits)."""
        with self._lock:
            self._current()
            if usage.timestamp < self._since:
                return
            self._add(self._sums, usage.provider, usage.model_id, float(usage.total_tokens), usage.cost or 0.0)
            self._warn(usage.provider, usage.model_id)

    def status(self) -> list[BudgetStatus]:
        """Every limit with the month's spend, overall first, then providers, then models."""
        with self._lock:
            self._current()
            out = [s for s in self._statuses("", None) if s.scope == "overall"]
            for provider in self.settings.providers:
                out.extend(s for s in self._statuses(provider, None) if s.scope != "overall")
            for ref in self.settings.models:
                provider, _, model_id = ref.partition(":")
                out.extend(s for s in self._statuses(provider, model_id) if s.scope.startswith("model "))
        return out

    # -- warnings -----------------------------------------------------------------------------

    def _warn_all(self) -> None:
        self._warn("", None)
        for provider in self.settings.providers:
            self._warn(provider, None)
        for ref in self.settings.models:
            provider, _, model_id = ref.partition(":")
            self._warn(provider, model_id)

    def _warn(self, provider: str, model_id: str | None) -> None:
        for status in self._statuses(provider, model_id):
            if status.exhausted:
                level, event = "exhausted", "budget_exhausted"
            elif status.fraction >= self.settings.warn_at:
                level, event = "warn", "budget_threshold_crossed"
            else:
                continue
            key = (status.scope, status.unit, level)
            if key in self._warned:
                continue
            self._warned.add(key)
            _log.warning(
                event,
                scope=status.scope,
                unit=status.unit,
                limit=status.limit,
                spent=round(status.spent, 6),
                used=round(status.fraction, 4),
                month=f"{status.since:%Y-%m}",
            )

    def close(self) -> None:
        self.database.close()


def _amount(value: float, unit: str) -> str:
    return f"{value:,.2f} USD" if unit == "usd" else f"{int(value):,} tokens"
