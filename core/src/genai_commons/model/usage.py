"""Token usage of one complete interaction (``Usage``); metadata only, never prompt or response text."""

from __future__ import annotations

from datetime import UTC, datetime

from attrs import field, frozen

from ..errors import ValidationError
from ._validators import in_range, non_empty


def _utc(value: datetime) -> datetime:
    if value.tzinfo is UTC:
        return value
    if value.tzinfo is None:
        raise ValidationError("usage timestamps must be timezone-aware")
    return value.astimezone(UTC)


def _now() -> datetime:
    return datetime.now(UTC)


@frozen(kw_only=True)
class Usage:
    """Usage of one complete interaction, aggregated over every model call it made.

    The host emits one after every successful call through the ``genai_usage_recorded`` event;
    usage stores persist it when enabled (the seed's ``StoreUsageMetrics``).
    """

    provider: str = field(validator=non_empty)
    deployed_model_display_name: str
    model_id: str
    #: ``chat``, ``embed``, ``image``, ``rerank``, ``retrieve``, ``ingest`` or ``agent``.
    operation: str
    input_tokens: int = field(default=0, validator=in_range(0, None))
    output_tokens: int = field(default=0, validator=in_range(0, None))
    total_tokens: int = field(default=0, validator=in_range(0, None))
    duration_ms: float = field(default=0.0, validator=in_range(0, None))
    timestamp: datetime = field(factory=_now, converter=_utc)
    #: Model calls aggregated into this record (several for a tool-calling loop).
    calls: int = field(default=1, validator=in_range(1, None))
    #: Input tokens read from the provider's prompt cache (counted in ``input_tokens`` too).
    cache_read_tokens: int = field(default=0, validator=in_range(0, None))
    #: Input tokens written to the provider's prompt cache (counted in ``input_tokens`` too).
    cache_write_tokens: int = field(default=0, validator=in_range(0, None))
    #: Output tokens spent on reasoning (counted in ``output_tokens`` too).
    reasoning_tokens: int = field(default=0, validator=in_range(0, None))
    #: What the interaction cost in USD, from the price table (see :mod:`genai_commons.prices`);
    #: None when no price is known for the model (never guessed).
    cost: float | None = field(default=None, validator=in_range(0, None))
