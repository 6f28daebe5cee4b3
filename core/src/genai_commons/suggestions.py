"""What an error suggests for a provider, model or knowledge-base name the host does not know.

A typo (``opneai``) gets the installed name closest to it (:func:`difflib.get_close_matches`). A
distribution is named for installing only when this project publishes it (:data:`PUBLISHED`):
the error for ``opneai:gpt-4o-mini`` must never invite ``pip install genai-commons-opneai``, a name
anyone could register on PyPI with a look-alike package behind it. Pure functions, no I/O.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping

__all__ = ["PUBLISHED", "close_names", "did_you_mean", "unknown_provider_message"]

#: The providers this project publishes, and the distribution of each (``genai-commons[NAME]`` is
#: the same distribution as an extra of the core).
PUBLISHED: Mapping[str, str] = {
    "openai": "genai-commons-openai",
    "azure": "genai-commons-openai",
    "bedrock": "genai-commons-bedrock",
    "mxcloud": "genai-commons-mxcloud",
    "opensearch": "genai-commons-opensearch",
    "local": "genai-commons-local",
}

#: How alike two names must be to suggest one for the other (difflib's ratio; 0.6 is its default).
_CUTOFF = 0.6


def close_names(name: str, candidates: Iterable[str], *, limit: int = 3) -> list[str]:
    """The candidates closest to ``name``, closest first; none when nothing is alike."""
    unique = sorted(set(candidates) - {name})
    found = difflib.get_close_matches(name, unique, n=limit, cutoff=_CUTOFF)
    if not found:  # a difference of case only (OpenAI) is below difflib's cutoff for short names
        found = [c for c in unique if c.lower() == name.lower()][:limit]
    return found


def did_you_mean(name: str, candidates: Iterable[str], *, prefix: str = "") -> str:
    """`` (did you mean X?)`` (or ``X or Y``) for the closest candidates, each shown after
    ``prefix`` (``mxcloud:``), or an empty string when none is alike."""
    found = close_names(name, candidates)
    return f" (did you mean {' or '.join(prefix + f for f in found)}?)" if found else ""


def unknown_provider_message(name: str, installed: Iterable[str], rest: str | None = None) -> str:
    """The message for a provider that is not installed.

    :param name: the provider name as given.
    :param installed: the names of the installed providers.
    :param rest: what followed ``PROVIDER:`` in the reference (model id, knowledge base, agent), to
        suggest a whole reference.
    """
    names = sorted(set(installed))
    head = f"no provider named {name!r} is installed (installed: {', '.join(names) or 'none'})"

    def ref(provider: str) -> str:
        return f"{provider}:{rest}" if rest else provider

    if name in PUBLISHED:
        return f"{head}; install it with `pip install {PUBLISHED[name]}`, then see `genai plugins`"
    near = close_names(name, names, limit=1)
    if near:
        return f"{head}; did you mean {ref(near[0])}? `genai plugins` lists the installed providers"
    near = close_names(name, [p for p in PUBLISHED if p not in names], limit=1)
    if near:
        return (
            f"{head}; did you mean {ref(near[0])}? Provider {near[0]!r} comes with `pip install {PUBLISHED[near[0]]}`"
        )
    return f"{head}; check the spelling, and `genai plugins` for what is installed"
