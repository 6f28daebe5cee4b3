"""Provider-specific options, carried the same way by requests, image options and embedding options."""

from __future__ import annotations

from typing import Any, Self, TypeVar

import attrs

T = TypeVar("T")


class CarriesProviderOptions:
    """Methods of a frozen attrs class with a ``provider_options`` tuple field: each plugin puts in
    and reads out a small frozen option class of its own."""

    __slots__ = ()
    provider_options: tuple[Any, ...]

    def with_options(self, *options: Any) -> Self:
        """A copy carrying provider-specific option objects (each plugin reads its own type)."""
        return attrs.evolve(self, provider_options=(*self.provider_options, *options))  # type: ignore[misc]  # self is an attrs instance

    def option(self, kind: type[T]) -> T | None:
        """The provider option object of the given type, or None."""
        for option in self.provider_options:
            if isinstance(option, kind):
                return option
        return None
