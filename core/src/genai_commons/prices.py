"""Prices per model, and the cost of a usage record.

The core ships a small table of published prices (``genai_commons/data/prices.toml``, with the
date it was taken and its sources) for the built-in catalogue models of OpenAI and Bedrock.
``[prices."PROVIDER:MODEL"]`` in the configuration overrides an entry key by key, or adds one.
Prices are in USD: per million tokens, and per generated image.

A cost is computed only when every kind of token (and image) the record used has a price; for
anything else it is None — never guessed. Mendix Cloud's unit is its quota, not money: it has no
prices.
"""

from __future__ import annotations

import functools
import math
import tomllib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs
from attrs import field, frozen

from .errors import ConfigurationError

if TYPE_CHECKING:
    from .config import Config

__all__ = ["PRICE_KEYS", "Price", "PriceTable", "price_table", "shipped_prices"]

_MILLION = 1_000_000
#: The keys of a price entry.
PRICE_KEYS = ("input", "output", "cached_input", "cache_write", "image")


def _price_value(_instance: Any, attribute: Any, value: float | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ConfigurationError(f"price {attribute.name} must be a number of USD of at least 0, got {value!r}")


@frozen(kw_only=True)
class Price:
    """One model's prices in USD: tokens per million, images each. None: no price for that kind."""

    #: Input tokens neither read from nor written to a prompt cache.
    input: float | None = field(default=None, validator=_price_value)
    output: float | None = field(default=None, validator=_price_value)
    #: Input tokens read from the prompt cache.
    cached_input: float | None = field(default=None, validator=_price_value)
    #: Input tokens written to the prompt cache.
    cache_write: float | None = field(default=None, validator=_price_value)
    #: One generated image.
    image: float | None = field(default=None, validator=_price_value)

    def merged(self, other: Price) -> Price:
        """This price with the keys ``other`` sets replaced."""
        changes = {key: getattr(other, key) for key in PRICE_KEYS if getattr(other, key) is not None}
        return attrs.evolve(self, **changes)

    def cost(
        self,
        *,
        input_tokens: int,
        output_tokens: int,
        cache_read_tokens: int = 0,
        cache_write_tokens: int = 0,
        images: int = 0,
    ) -> float | None:
        """The cost in USD, or None when a kind of token or image used has no price.
        ``input_tokens`` counts cached tokens too (as :class:`~genai_commons.Usage` does). A
        price with only ``image`` set is a model billed per image: its tokens cost nothing."""
        if self.image is not None and self.input is None and self.output is None:
            return images * self.image
        plain = max(input_tokens - cache_read_tokens - cache_write_tokens, 0)
        total = 0.0
        for count, rate, per in (
            (plain, self.input, _MILLION),
            (cache_read_tokens, self.cached_input, _MILLION),
            (cache_write_tokens, self.cache_write, _MILLION),
            (output_tokens, self.output, _MILLION),
            (images, self.image, 1),
        ):
            if count:
                if rate is None:
                    return None
                total += count * rate / per
        return total


@frozen(kw_only=True)
class PriceTable:
    """Prices by ``PROVIDER:MODEL``, with where and when the shipped ones were taken."""

    prices: Mapping[str, Price] = field(factory=dict)
    currency: str = "USD"
    #: When the shipped prices were taken (ISO date).
    taken: str | None = None
    #: The published price page of each provider.
    sources: Mapping[str, str] = field(factory=dict)

    def price(self, provider: str, model_id: str) -> Price | None:
        """The price of one model, or None when none is known."""
        return self.prices.get(f"{provider}:{model_id}")

    def cost(
        self,
        provider: str,
        model_id: str,
        *,
        input_tokens: int,
        output_tokens: int,
        cache_read_tokens: int = 0,
        cache_write_tokens: int = 0,
        images: int = 0,
    ) -> float | None:
        """The cost in USD of one usage, or None when the model has no price for what it used."""
        price = self.prices.get(f"{provider}:{model_id}")
        if price is None:
            return None
        return price.cost(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cache_read_tokens=cache_read_tokens,
            cache_write_tokens=cache_write_tokens,
            images=images,
        )

    def with_overrides(self, overrides: Mapping[str, Price]) -> PriceTable:
        """This table with configured entries merged in (key by key) or added."""
        if not overrides:
            return self
        prices = dict(self.prices)
        for ref, price in overrides.items():
            known = prices.get(ref)
            prices[ref] = known.merged(price) if known is not None else price
        return attrs.evolve(self, prices=prices)


@functools.cache
def shipped_prices() -> PriceTable:
    """The price table shipped with the core (read once)."""
    from importlib import resources  # noqa: PLC0415 - only when a cost is first computed

    text = resources.files("genai_commons").joinpath("data/prices.toml").read_text(encoding="utf-8")
    data = tomllib.loads(text)
    prices = {ref: Price(**entry) for ref, entry in data.get("models", {}).items()}
    return PriceTable(
        prices=prices, currency=data.get("currency", "USD"), taken=data.get("taken"), sources=data.get("sources", {})
    )


def price_table(config: Config) -> PriceTable:
    """The shipped prices with ``[prices."PROVIDER:MODEL"]`` of ``config`` applied."""
    return shipped_prices().with_overrides(config.prices)


def prices_of(value: Mapping[str, Price | Mapping[str, Any]]) -> dict[str, Price]:
    """An attrs converter: ``Config(prices=...)`` takes :class:`Price` objects or tables of
    ``input``, ``output``, ``cached_input``, ``cache_write`` and ``image``."""
    if not isinstance(value, Mapping):
        raise ConfigurationError(
            f'prices must be a table of [prices."PROVIDER:MODEL"] tables, got {type(value).__name__}'
        )
    out: dict[str, Price] = {}
    for ref, price in value.items():
        if isinstance(price, Price):
            out[ref] = price
            continue
        if not isinstance(price, Mapping):
            raise ConfigurationError(f'[prices."{ref}"] must be a table of {", ".join(PRICE_KEYS)}')
        unknown = sorted(set(price) - set(PRICE_KEYS))
        if unknown:
            raise ConfigurationError(f'[prices."{ref}"] has no key {unknown[0]!r}; use {", ".join(PRICE_KEYS)}')
        out[ref] = Price(**price)
    return out


def check_price_refs(_instance: Any, _attribute: Any, value: Mapping[str, Price]) -> None:
    """An attrs validator: every ``[prices]`` key is ``PROVIDER:MODEL``."""
    for ref in value:
        provider, _, model = ref.partition(":")
        if not provider or not model:
            raise ConfigurationError(
                f'[prices."{ref}"]: name the model as PROVIDER:MODEL, for example [prices."openai:gpt-4o"]'
            )
