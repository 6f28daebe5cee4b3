"""Events of a streamed chat completion.

A provider's streaming hook yields these; the host assembles them into a :class:`Response`
(tool-call deltas are joined by index into complete :class:`ToolCall` objects).
"""

from __future__ import annotations

from attrs import field, frozen

from ._validators import in_range, optional_stop_reason
from .enums import StopReason
from .tools import ToolCall


@frozen(kw_only=True)
class TextDelta:
    """A piece of the assistant's text."""

    text: str


@frozen(kw_only=True)
class ToolCallDelta:
    """A piece of a tool call; ``id`` and ``name`` come with the first piece of each index."""

    index: int = field(validator=in_range(0, None))
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@frozen(kw_only=True)
class StreamEnd:
    """The last event: why the model stopped, and the usage of the whole call."""

    stop_reason: StopReason | None = field(default=None, converter=optional_stop_reason)
    provider_stop_reason: str | None = None
    input_tokens: int | None = field(default=None, validator=in_range(0, None))
    output_tokens: int | None = field(default=None, validator=in_range(0, None))
    total_tokens: int | None = field(default=None, validator=in_range(0, None))
    #: Input tokens read from / written to the prompt cache, and reasoning tokens (see ``Response``).
    cache_read_tokens: int | None = field(default=None, validator=in_range(0, None))
    cache_write_tokens: int | None = field(default=None, validator=in_range(0, None))
    reasoning_tokens: int | None = field(default=None, validator=in_range(0, None))
    model_id: str | None = None


@frozen(kw_only=True)
class ToolExecution:
    """The host ran a tool the model called: the call, and the text sent back to the model as its
    result. Only streams that run the host's tool loop yield it (providers never do); the next
    step's events follow it."""

    call: ToolCall
    #: What the tool returned, as sent to the model (an error message when ``is_error``).
    result: str
    is_error: bool = False


#: What a streaming hook yields (and, with the host's tool loop, :class:`ToolExecution`).
ChatStreamEvent = TextDelta | ToolCallDelta | StreamEnd | ToolExecution
