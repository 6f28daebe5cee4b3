"""The tool-calling loop's steps: run the functions the model asked for, and aggregate usage.

A tool that raises, or that the model calls with bad arguments or by a wrong name, is reported to
the model as a tool error message (``is_error``), never raised through: the model can recover.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Sequence
from typing import Any

import attrs

from ._log import get_logger
from .errors import ValidationError
from .model import Message, Request, Response, Role, ToolCall, ToolChoice
from .model.functions import prepare_arguments

_log = get_logger(__name__)


def runnable_calls(request: Request, response: Response) -> bool:
    """True when the model asked for tools and the host can run every one of them.

    A call of a tool without a Python callable (described to the model only) hands the response
    back to the caller, who runs it. A call of a name the request does not offer is answered
    with a tool error, so it does not stop the loop.
    """
    if not response.tool_calls:
        return False
    offered = {tool.name for tool in request.tools}
    return all(request.function(c.name) is not None or c.name not in offered for c in response.tool_calls)


def _error_message(call: ToolCall, text: str) -> Message:
    return Message(role=Role.TOOL, content=text, tool_call_id=call.id, is_error=True)


def _prepare(request: Request, call: ToolCall) -> tuple[object, dict[str, object]] | Message:
    function = request.function(call.name)
    if function is None:
        return _error_message(call, f"Error: there is no tool named {call.name!r}")
    try:
        return function.callable, prepare_arguments(function.callable, call.parsed_arguments())
    except ValidationError as exc:
        return _error_message(call, f"Error: {exc}")


def _failed(call: ToolCall, exc: Exception) -> Message:
    _log.info("tool_failed", tool=call.name, error=type(exc).__name__)
    return _error_message(call, f"Error: {type(exc).__name__}: {exc}")


def run_calls(request: Request, response: Response) -> list[Message]:
    """The assistant turn and one tool message per call, running the functions in order."""
    import asyncio  # noqa: PLC0415 - only when a tool returned an awaitable; kept off import time

    messages = [response.message]
    for call in response.tool_calls:
        prepared = _prepare(request, call)
        if isinstance(prepared, Message):
            messages.append(prepared)
            continue
        fn, kwargs = prepared
        try:
            value = fn(**kwargs)  # type: ignore[operator]
            if inspect.isawaitable(value):
                value = asyncio.run(_await(value))
            messages.append(Message(role=Role.TOOL, content=result_text(value), tool_call_id=call.id))
        except Exception as exc:
            messages.append(_failed(call, exc))
    return messages


def next_step(request: Request, messages: Sequence[Message]) -> Request:
    """The request of the loop's next step: ``messages`` (the model's calls and their results)
    appended, and a forced tool choice (``any`` or a named tool) back to ``auto``. The model was
    made to call a tool once; forced again, it would call tools until ``max_steps`` (as the OpenAI
    API does with ``tool_choice="required"``) and never answer."""
    following = request.with_messages(*messages)
    if following.tool_choice is ToolChoice.AUTO:
        return following
    return attrs.evolve(following, tool_choice=ToolChoice.AUTO, tool_choice_name=None)


async def _await(value: object) -> object:
    return await value  # type: ignore[misc]


async def run_calls_async(request: Request, response: Response) -> list[Message]:
    """As :func:`run_calls`; coroutine functions run concurrently, sync ones in worker threads."""
    import asyncio  # noqa: PLC0415

    async def one(call: ToolCall) -> Message:
        prepared = _prepare(request, call)
        if isinstance(prepared, Message):
            return prepared
        fn, kwargs = prepared
        try:
            if inspect.iscoroutinefunction(fn):
                value = await fn(**kwargs)
            else:
                value = await asyncio.to_thread(fn, **kwargs)  # type: ignore[arg-type]
                if inspect.isawaitable(value):
                    value = await value
            return Message(role=Role.TOOL, content=result_text(value), tool_call_id=call.id)
        except Exception as exc:
            return _failed(call, exc)

    results = await asyncio.gather(*(one(call) for call in response.tool_calls))
    return [response.message, *results]


def _sum(values: Sequence[int | None]) -> int | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def aggregate(responses: Sequence[Response]) -> Response:
    """The last response, with tokens and durations summed over every step (one Usage)."""
    last = responses[-1]
    if len(responses) == 1:
        return last
    durations = [r.duration_ms for r in responses if r.duration_ms is not None]
    return attrs.evolve(
        last,
        input_tokens=_sum([r.input_tokens for r in responses]),
        output_tokens=_sum([r.output_tokens for r in responses]),
        total_tokens=_sum([r.total_tokens for r in responses]),
        cache_read_tokens=_sum([r.cache_read_tokens for r in responses]),
        cache_write_tokens=_sum([r.cache_write_tokens for r in responses]),
        reasoning_tokens=_sum([r.reasoning_tokens for r in responses]),
        duration_ms=sum(durations) if durations else None,
    )


def result_text(value: Any) -> str:
    """A tool's return value as the text sent back to the model (strings as they are, else JSON)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, default=_json_default, ensure_ascii=False)


def _json_default(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    import attrs  # noqa: PLC0415

    if attrs.has(type(value)):
        from .serialization import unstructure  # noqa: PLC0415 - the converter loads on first use

        return unstructure(value)
    return str(value)
