"""Chat calls of the host: with and without history, the tool loop, streaming."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar, Unpack

from . import deadlines
from ._host_base import HostBase, ModelRef
from .capabilities import check_chat
from .declarations import check_formats
from .errors import ToolLoopError
from .fallbacks import over_targets
from .model.enums import Capability
from .retry import call_with_retry, call_with_retry_async

_END = object()
_NOTHING = object()  # no first event: iterate the rest only

if TYPE_CHECKING:
    from .call_forms import ChatInput
    from .model import (
        DeployedModel,
        FileCollection,
        Request,
        Response,
    )
    from .model.openai_format import ChatParams
    from .streams import AsyncChatStream, ChatStream
    from .structured_output import Plan

    _Stream = TypeVar("_Stream", ChatStream, AsyncChatStream)

_NO_PARAMS: dict[str, Any] = {}


class ChatCalls(HostBase):
    """``chat``, ``achat``, ``stream``, ``astream``."""

    def _chat_input(
        self,
        model: ModelRef,
        request: ChatInput,
        files: FileCollection | None,
        stream: bool,
        params: Any = _NO_PARAMS,
        output_schema: Any = None,
    ) -> tuple[DeployedModel, Request, Plan | None]:
        """The model, the checked request (shaped for the output schema, when there is one) and
        the structured-output plan (None without a schema)."""
        deployed = self.model(model)
        request = (_to_request or _load_call_forms())(request, files, params)
        check_chat(deployed, request, stream=stream)
        self._route(deployed.provider, Capability.CHAT_STREAM if stream else Capability.CHAT, deployed.model_id)
        if output_schema is None and request.output_schema is None:
            return deployed, request, None
        shaped = _plan(deployed, request, output_schema)
        return deployed, shaped.request, shaped

    @over_targets
    def chat(
        self,
        model: ModelRef,
        request: ChatInput,
        *,
        files: FileCollection | None = None,
        run_tools: bool = True,
        max_steps: int | None = None,
        output_schema: Any = None,
        **params: Unpack[ChatParams],
    ) -> Response:
        """A chat completion: from a prompt (chat without history, optionally with ``files``), from
        a :class:`Request` (chat with history) or from a list of OpenAI-style messages
        (``[{"role": "user", "content": "Hi"}]``). Keyword parameters (``system``,
        ``temperature``, ``top_p``, ``max_tokens``, ``stop``, ``tools``, ``tool_choice``) set the
        request's fields. When the model calls functions the request offers, the host runs them
        and calls the model again, up to ``max_steps`` model calls; the response's usage covers
        every step and one usage event is recorded."""
        deployed, current, shaped = self._chat_input(model, request, files, False, params, output_schema)
        if _has_files(current):
            current = self._fetch(current, deployed)
        limit = max_steps or self.config.tools.max_steps
        responses: list[Response] = []
        while True:
            started = time.perf_counter()
            response = self._call(
                deployed.provider, Capability.CHAT, partial(self._hook.genai_chat, model=deployed, request=current)
            )
            responses.append(self._timed(response, started))
            if not (run_tools and response.message.tool_calls):
                break
            from .toolloop import next_step, run_calls, runnable_calls  # noqa: PLC0415 - only once the model calls tools

            if not runnable_calls(current, response):
                break
            if len(responses) >= limit:
                raise self._loop_limit(deployed, responses)
            current = next_step(current, run_calls(current, response))
        final = responses[0] if len(responses) == 1 else _aggregate(responses)
        self._record_response(deployed, "chat", final, len(responses))
        return final if shaped is None else shaped.finish(final)

    @over_targets
    async def achat(
        self,
        model: ModelRef,
        request: ChatInput,
        *,
        files: FileCollection | None = None,
        run_tools: bool = True,
        max_steps: int | None = None,
        output_schema: Any = None,
        **params: Unpack[ChatParams],
    ) -> Response:
        """:meth:`chat`, async; coroutine tool functions run concurrently."""
        from .toolloop import aggregate, next_step, run_calls_async, runnable_calls  # noqa: PLC0415

        deployed, current, shaped = self._chat_input(model, request, files, False, params, output_schema)
        if _has_files(current):
            current = await self._afetch(current, deployed)
        limit = max_steps or self.config.tools.max_steps
        responses: list[Response] = []
        while True:
            started = time.perf_counter()
            response = await self._call_async(
                deployed.provider,
                Capability.CHAT,
                partial(self._hook.genai_chat_async, model=deployed, request=current),
            )
            responses.append(self._timed(response, started))
            if not (run_tools and runnable_calls(current, response)):
                break
            if len(responses) >= limit:
                raise self._loop_limit(deployed, responses)
            current = next_step(current, await run_calls_async(current, response))
        final = aggregate(responses)
        self._record_response(deployed, "chat", final, len(responses))
        return final if shaped is None else shaped.finish(final)

    def _fetch(self, request: Request, model: DeployedModel) -> Request:
        from .fetch import fetch_urls  # noqa: PLC0415 - only for requests with files

        fetched = fetch_urls(request, model, self.config.files)
        if fetched is not request:  # downloaded files now have a format to check
            check_formats(model, fetched)
        return fetched

    async def _afetch(self, request: Request, model: DeployedModel) -> Request:
        from .fetch import afetch_urls  # noqa: PLC0415

        fetched = await afetch_urls(request, model, self.config.files)
        if fetched is not request:  # downloaded files now have a format to check
            check_formats(model, fetched)
        return fetched

    def _loop_limit(self, model: DeployedModel, responses: list[Response]) -> ToolLoopError:
        return ToolLoopError(
            f"model {model.ref} was still calling tools after {len(responses)} steps; raise max_steps "
            "(or [tools] max_steps) if the task needs more, or check the tools' answers",
            steps=len(responses),
            response=_aggregate(responses),
        )

    @over_targets
    def stream(
        self,
        model: ModelRef,
        request: ChatInput,
        *,
        files: FileCollection | None = None,
        run_tools: bool = True,
        max_steps: int | None = None,
        output_schema: Any = None,
        **params: Unpack[ChatParams],
    ) -> ChatStream:
        """A streamed chat completion; takes what :meth:`chat` takes. Iterate for events; the
        stream's ``response`` holds the assembled result at the end. When the model calls
        functions the request offers, the host runs them as :meth:`chat` does: every step's events
        stream through, each tool run shows as a :class:`ToolExecution` event, and ``response``
        sums the usage of every step. ``run_tools=False`` hands tool calls back instead."""
        from .streams import ChatStream  # noqa: PLC0415

        deployed, req, shaped = self._chat_input(model, request, files, True, params, output_schema)
        if _has_files(req):
            req = self._fetch(req, deployed)
        started = time.perf_counter()
        events = self._stream_events(deployed, req)
        if not (run_tools and req.tools and _has_functions(req)):
            return _shaped_stream(
                shaped,
                ChatStream(events, deployed.provider, started, lambda r: self._record_response(deployed, "chat", r, 1)),
            )
        from .stream_tools import StepAssembler, loop_events  # noqa: PLC0415 - only for tool loops

        steps = StepAssembler(deployed.provider)
        looped = loop_events(
            events,
            req,
            partial(self._stream_events, deployed),
            steps,
            max_steps or self.config.tools.max_steps,
            partial(self._loop_limit, deployed),
        )
        return _shaped_stream(
            shaped,
            ChatStream(
                looped,
                deployed.provider,
                started,
                lambda r: self._record_response(deployed, "chat", r, len(steps.steps)),
                steps,
            ),
        )

    def _stream_events(self, deployed: DeployedModel, req: Request) -> Iterator[Any]:
        """The provider's events of one streamed call, opened with retries, read under the deadline."""

        def open_stream() -> tuple[Any, Any]:
            deadlines.check(deployed.provider)
            events = self._hook.genai_chat_stream(model=deployed, request=req)
            if events is None:
                raise self._no_answer(deployed.provider, Capability.CHAT_STREAM)
            iterator = iter(events)
            with deadlines.overdue_timeouts:
                return iterator, next(iterator, _END)

        with self._deadline(deployed.provider) as bound:
            iterator, first = call_with_retry(self.config.retry, "chat_stream", open_stream)
        return _prepend_sync(first, iterator, bound)

    @over_targets
    async def astream(
        self,
        model: ModelRef,
        request: ChatInput,
        *,
        files: FileCollection | None = None,
        run_tools: bool = True,
        max_steps: int | None = None,
        output_schema: Any = None,
        **params: Unpack[ChatParams],
    ) -> AsyncChatStream:
        """:meth:`stream`, for ``async for``; coroutine tool functions run concurrently."""
        from .streams import AsyncChatStream  # noqa: PLC0415

        deployed, req, shaped = self._chat_input(model, request, files, True, params, output_schema)
        if _has_files(req):
            req = await self._afetch(req, deployed)
        started = time.perf_counter()
        events = await self._astream_events(deployed, req)
        if not (run_tools and req.tools and _has_functions(req)):
            return _shaped_stream(
                shaped,
                AsyncChatStream(
                    events, deployed.provider, started, lambda r: self._record_response(deployed, "chat", r, 1)
                ),
            )
        from .stream_tools import StepAssembler, aloop_events  # noqa: PLC0415

        steps = StepAssembler(deployed.provider)
        looped = aloop_events(
            events,
            req,
            partial(self._astream_events, deployed),
            steps,
            max_steps or self.config.tools.max_steps,
            partial(self._loop_limit, deployed),
        )
        return _shaped_stream(
            shaped,
            AsyncChatStream(
                looped,
                deployed.provider,
                started,
                lambda r: self._record_response(deployed, "chat", r, len(steps.steps)),
                steps,
            ),
        )

    async def _astream_events(self, deployed: DeployedModel, req: Request) -> AsyncIterator[Any]:
        """:meth:`_stream_events` for the async API."""

        async def open_stream() -> tuple[Any, Any]:
            deadlines.check(deployed.provider)
            events = self._hook.genai_chat_stream_async(model=deployed, request=req)
            if events is None:
                raise self._no_answer(deployed.provider, Capability.CHAT_STREAM)
            iterator = aiter(events)
            with deadlines.overdue_timeouts:
                return iterator, await anext(iterator, _END)

        with self._deadline(deployed.provider) as bound:
            iterator, first = await call_with_retry_async(self.config.retry, "chat_stream", open_stream)
        return _prepend(first, iterator, bound)


def _plan(deployed: DeployedModel, request: Request, output_schema: Any) -> Plan:
    from .structured_output import plan  # noqa: PLC0415 - only for calls with an output schema

    shaped = plan(deployed, request, output_schema)
    assert shaped is not None  # there is a schema
    return shaped


def _shaped_stream(shaped: Plan | None, stream: _Stream) -> _Stream:
    """``stream``, answering in the output schema's JSON when the call has one."""
    if shaped is None:
        return stream
    from .structured_output import shape_stream  # noqa: PLC0415

    return shape_stream(shaped, stream)


#: :func:`genai_commons.call_forms.to_request`, loaded with the first chat call (it imports the
#: chat model); kept here so that each call pays no import statement.
_to_request: Callable[[Any, FileCollection | None, Any], Request] | None = None


def _load_call_forms() -> Callable[[Any, FileCollection | None, Any], Request]:
    global _to_request  # noqa: PLW0603 - loaded once, on first use
    from .call_forms import to_request  # noqa: PLC0415

    _to_request = to_request
    return to_request


def _has_functions(request: Request) -> bool:
    """Whether the request offers a tool the host can run (a Python function)."""
    return any(request.function(tool.name) is not None for tool in request.tools)


def _has_files(request: Request) -> bool:
    return any(message.files is not None for message in request.messages)


def _aggregate(responses: list[Response]) -> Response:
    from .toolloop import aggregate  # noqa: PLC0415

    return aggregate(responses)


def bounded_events(events: Iterator[Any], bound: deadlines.Bound) -> Iterator[Any]:
    """``events``, each read under ``bound`` (agent turns)."""
    return _prepend_sync(_NOTHING, events, bound)


def abounded_events(events: AsyncIterator[Any], bound: deadlines.Bound) -> AsyncIterator[Any]:
    """:func:`bounded_events` for an async iterator."""
    return _prepend(_NOTHING, events, bound)


def _prepend_sync(first: Any, rest: Iterator[Any], bound: deadlines.Bound) -> Iterator[Any]:
    """``first`` then ``rest``, each event read under the stream's deadline ``bound``; closing
    this closes the provider's iterator (its HTTP response)."""
    try:
        if first is _END:
            return
        if first is not _NOTHING:
            yield first
        while True:
            token = deadlines.enter(bound)
            try:
                with deadlines.overdue_timeouts:
                    item = next(rest, _END)
                if item is not _END:
                    deadlines.check()
            finally:
                deadlines.leave(token)
            if item is _END:
                return
            yield item
    finally:
        close = getattr(rest, "close", None)
        if close is not None:
            close()


async def _prepend(first: Any, rest: AsyncIterator[Any], bound: deadlines.Bound) -> AsyncIterator[Any]:
    """``first`` then ``rest``, each event read under the stream's deadline ``bound``; closing
    this closes the provider's async iterator."""
    try:
        if first is _END:
            return
        if first is not _NOTHING:
            yield first
        while True:
            token = deadlines.enter(bound)
            try:
                with deadlines.overdue_timeouts:
                    item = await anext(rest, _END)
                if item is not _END:
                    deadlines.check()
            finally:
                deadlines.leave(token)
            if item is _END:
                return
            yield item
    finally:
        aclose = getattr(rest, "aclose", None)
        if aclose is not None:
            await aclose()
