"""The ``[budgets]`` section of the configuration: monthly limits in tokens or USD.

::

    [budgets]
    warn_at = 0.8                  # warn once when a limit is 80 % used

    [budgets.overall]              # every provider together
    usd = 200.0

    [budgets.providers.openai]     # one provider
    tokens = 5_000_000

    [budgets.models."bedrock:amazon.nova-pro-v1:0"]   # one model
    usd = 20.0
    tokens = 1_000_000

A month is a calendar month in UTC. Tokens count every token of every operation (``total_tokens``);
USD counts the cost of the records that have a price (see :mod:`genai_commons.prices`).
"""

from __future__ import annotations

import math
from typing import Any

from attrs import field, frozen

from .errors import ConfigurationError

__all__ = ["BudgetLimit", "BudgetSettings"]


def _positive(_instance: Any, attribute: Any, value: float | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise ConfigurationError(f"a budget's {attribute.name} must be a positive number, got {value!r}")


@frozen(kw_only=True)
class BudgetLimit:
    """One monthly limit: tokens, USD, or both (whichever is reached first stops calls)."""

    tokens: int | None = field(default=None, validator=_positive)
    usd: float | None = field(default=None, validator=_positive)

    def __attrs_post_init__(self) -> None:
        if self.tokens is None and self.usd is None:
            raise ConfigurationError("a budget needs tokens, usd or both, for example usd = 50.0")


@frozen(kw_only=True)
class BudgetSettings:
    """Monthly limits overall, per provider and per model (``PROVIDER:MODEL``)."""

    #: The share of a limit at which a warning is logged (once per month and limit).
    warn_at: float = 0.8
    overall: BudgetLimit | None = None
    providers: dict[str, BudgetLimit] = field(factory=dict)
    models: dict[str, BudgetLimit] = field(factory=dict)

    def __attrs_post_init__(self) -> None:
        if not 0 < self.warn_at <= 1:
            raise ConfigurationError(f"[budgets] warn_at must be above 0 and at most 1, got {self.warn_at!r}")
        for ref in self.models:
            provider, _, model = ref.partition(":")
            if not provider or not model:
                raise ConfigurationError(
                    f'[budgets.models."{ref}"]: name the model as PROVIDER:MODEL, '
                    'for example [budgets.models."openai:gpt-4o"]'
                )

    @property
    def configured(self) -> bool:
        """Whether any limit is set."""
        return self.overall is not None or bool(self.providers) or bool(self.models)
