"""Agent invocation: the input, the events an agent streams, and the assembled response."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from attrs import field, frozen

from ._validators import in_range, non_empty
from .chat import Reference


def _str_map(value: Mapping[str, str] | None) -> Mapping[str, str]:
    return {} if value is None else {str(k): str(v) for k, v in value.items()}


def _references(value: Iterable[Reference]) -> tuple[Reference, ...]:
    return tuple(value)


def _traces(value: Iterable[AgentTrace]) -> tuple[AgentTrace, ...]:
    return tuple(value)


@frozen(kw_only=True)
class AgentRequest:
    """One turn sent to a hosted agent."""

    input_text: str = field(validator=non_empty)
    session_id: str | None = None
    enable_trace: bool = False
    end_session: bool = False
    session_attributes: Mapping[str, str] = field(factory=dict, converter=_str_map)
    prompt_session_attributes: Mapping[str, str] = field(factory=dict, converter=_str_map)


@frozen(kw_only=True)
class AgentTextChunk:
    """A piece of the agent's answer, with the references it cites."""

    text: str
    references: tuple[Reference, ...] = field(default=(), converter=_references)


@frozen(kw_only=True)
class AgentTrace:
    """One trace step of the agent (``pre_processing``, ``orchestration``, ``post_processing``,
    ``failure``, …); ``content`` holds the step's fields as the provider reports them."""

    step: str = field(validator=non_empty)
    content: Mapping[str, Any] = field(factory=dict)
    #: The model's reasoning for an orchestration step, when present.
    rationale: str | None = None


#: What an agent invocation streams.
AgentEvent = AgentTextChunk | AgentTrace


@frozen(kw_only=True)
class AgentResponse:
    """The assembled result of an agent invocation."""

    text: str
    session_id: str | None = None
    references: tuple[Reference, ...] = field(default=(), converter=_references)
    traces: tuple[AgentTrace, ...] = field(default=(), converter=_traces)
    duration_ms: float | None = field(default=None, validator=in_range(0, None))
