"""Chat calls of the host: with and without history, the tool loop, streaming."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from functools import partial
from typing import TYPE_CHECKING, Any

from . import deadlines
from ._host_base import HostBase, ModelRef
from .capabilities import check_chat
from .declarations import check_formats
from .errors import ToolLoopError, ValidationError
from .model.enums import Capability
from .retry import call_with_retry, call_with_retry_async

_END = object()
_NOTHING = object()  # no first event: iterate the rest only

if TYPE_CHECKING:
    from .model import (
        DeployedModel,
        FileCollection,
        Request,
        Response,
    )
    from .streams import AsyncChatStream, ChatStream


class ChatCalls(HostBase):
    """``chat``, ``achat``, ``stream``, ``astream``."""

    def _chat_input(
        self, model: ModelRef, request: Request | str, files: FileCollection | None, stream: bool
    ) -> tuple[DeployedModel, Request]:
        deployed = self.model(model)
        if isinstance(request, str):
            from .model.chat import Request  # noqa: PLC0415 - the chat model loads on first use

            request = Request.from_prompt(request, files=files)
        elif files is not None:
            raise ValidationError("pass files inside the request's messages when you pass a Request")
        check_chat(deployed, request, stream=stream)
        self._route(deployed.provider, Capability.CHAT_STREAM if stream else Capability.CHAT)
        return deployed, request

    def chat(
        self,
        model: ModelRef,
        request: Request | str,
        *,
        files: FileCollection | None = None,
        run_tools: bool = True,
        max_steps: int | None = None,
    ) -> Response:
        """A chat completion: from a prompt (chat without history, optionally with ``files``) or
        from a :class:`Request` (chat with history). When the model calls functions the request
        offers, the host runs them and calls the model again, up to ``max_steps`` model calls;
        the response's usage covers every step and one usage event is recorded."""
        deployed, current = self._chat_input(model, request, files, stream=False)
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
        return final

    async def achat(
        self,
        model: ModelRef,
        request: Request | str,
        *,
        files: FileCollection | None = None,
        run_tools: bool = True,
        max_steps: int | None = None,
    ) -> Response:
        """:meth:`chat`, async; coroutine tool functions run concurrently."""
        from .toolloop import aggregate, next_step, run_calls_async, runnable_calls  # noqa: PLC0415

        deployed, current = self._chat_input(model, request, files, stream=False)
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
        return final

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

    def stream(self, model: ModelRef, request: Request | str, *, files: FileCollection | None = None) -> ChatStream:
        """A streamed chat completion. Iterate for events; the stream's ``response`` holds the
        assembled result at the end. Tool calls come back in the response; the host does not run
        them while streaming."""
        from .streams import ChatStream  # noqa: PLC0415

        deployed, req = self._chat_input(model, request, files, stream=True)
        if _has_files(req):
            req = self._fetch(req, deployed)
        started = time.perf_counter()

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
        events = _prepend_sync(first, iterator, bound)
        return ChatStream(events, deployed.provider, started, lambda r: self._record_response(deployed, "chat", r, 1))

    async def astream(
        self, model: ModelRef, request: Request | str, *, files: FileCollection | None = None
    ) -> AsyncChatStream:
        """:meth:`stream`, for ``async for``."""
        from .streams import AsyncChatStream  # noqa: PLC0415

        deployed, req = self._chat_input(model, request, files, stream=True)
        if _has_files(req):
            req = await self._afetch(req, deployed)
        started = time.perf_counter()

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
        return AsyncChatStream(
            _prepend(first, iterator, bound),
            deployed.provider,
            started,
            lambda r: self._record_response(deployed, "chat", r, 1),
        )


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
