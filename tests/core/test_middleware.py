"""The Middleware base: every capability call reaches ``around``/``around_async``, described by a
``CapabilityCall``; short-circuit, changed results and requests, errors, order, and the no-answer path."""

from __future__ import annotations

import asyncio
import gc
import inspect
import warnings
from collections.abc import AsyncIterator, Iterator
from typing import Any

import attrs
import pytest

from genai_commons import (
    AgentRequest,
    AuthenticationError,
    CapabilityCall,
    ChunkCollection,
    ContentFilteredError,
    DeployedModel,
    Host,
    Middleware,
    Modality,
    PluginError,
    Request,
    RerankRequest,
    RerankResponse,
    RerankResult,
    Response,
    StreamEnd,
    TextDelta,
    UnsupportedCapabilityError,
    hookimpl,
    hookspecs,
)
from genai_commons.middleware import AsyncProceed, Proceed
from genai_commons.testing import FakeProvider, UsageRecorder, default_models

CAPABILITY_HOOKS = {
    name
    for name, function in vars(hookspecs).items()
    if name.startswith("genai_") and (inspect.getdoc(function) or "").startswith("**capability**")
}


class Everything(FakeProvider):
    """The fake, plus the two capabilities it lacks: reranking and ingestion from a data source
    (which answers None, as a provider whose knowledge base has no data source does)."""

    def __init__(self) -> None:
        rerank = DeployedModel(provider="fake", model_id="rerank", output_modality=Modality.RERANK)
        super().__init__(models=[*default_models(), rerank])

    def rerank(self, model: DeployedModel, request: RerankRequest) -> RerankResponse:
        scores = [RerankResult(index=i, relevance_score=1.0 / (i + 1)) for i in range(len(request.documents))]
        return RerankResponse(results=scores, input_tokens=1)


class Recorder(Middleware):
    """Sees every call, sync and async, and passes it on."""

    def __init__(self, log: list[str] | None = None, tag: str = "") -> None:
        self.calls: list[CapabilityCall] = []
        self.log = log if log is not None else []
        self.tag = tag

    def around(self, call: CapabilityCall, proceed: Proceed) -> Any:
        self.calls.append(call)
        self.log.append(f"{self.tag}>")
        try:
            return proceed()
        finally:
            self.log.append(f"<{self.tag}")

    async def around_async(self, call: CapabilityCall, proceed: AsyncProceed) -> Any:
        self.calls.append(call)
        self.log.append(f"{self.tag}>")
        try:
            return await proceed()
        finally:
            self.log.append(f"<{self.tag}")


def _exercise(host: Host) -> None:
    """One call of every capability through the sync API."""
    host.chat("fake:chat", "hello")
    list(host.stream("fake:chat", "hello"))
    host.embed("fake:embed", ["some words"])
    host.count_tokens("fake:chat", ["two words"])
    host.generate_image("fake:image", "a cat")
    host.rerank("fake:rerank", "cats", ["a cat", "a dog"])
    host.ingest("fake:docs", ChunkCollection.of_texts(["cats purr", "dogs bark"]))
    host.retrieve("fake:docs", "cats")
    host.retrieve_and_generate("fake:docs", "what do cats do?", model="fake:chat")
    host.stored_chunk_ids("fake:docs", ["x"])
    host.list_chunks("fake:docs")
    host.delete_chunks("fake:docs", ["x"])
    host.drop_collection("fake:docs")
    with pytest.raises(UnsupportedCapabilityError, match="no data source"):  # the hook answers None
        host.ingest_from_source("fake:docs")
    list(host.stream_agent("fake:agent", "hi"))


async def _aexercise(host: Host) -> None:
    """One call of every async capability."""
    await host.achat("fake:chat", "hello")
    [event async for event in await host.astream("fake:chat", "hello")]
    await host.aembed("fake:embed", ["some words"])
    await host.agenerate_image("fake:image", "a cat")
    await host.arerank("fake:rerank", "cats", ["a cat", "a dog"])
    await host.aingest("fake:docs", ChunkCollection.of_texts(["cats purr", "dogs bark"]))
    await host.aretrieve("fake:docs", "cats")
    await host.aretrieve_and_generate("fake:docs", "what do cats do?", model="fake:chat")
    await host.astored_chunk_ids("fake:docs", ["x"])
    await host.alist_chunks("fake:docs")
    await host.adelete_chunks("fake:docs", ["x"])
    await host.adrop_collection("fake:docs")
    with pytest.raises(UnsupportedCapabilityError, match="no data source"):
        await host.aingest_from_source("fake:docs")
    [event async for event in host.astream_agent("fake:agent", "hi")]


def test_every_capability_hook_reaches_the_middleware(make_host: Any) -> None:
    recorder = Recorder()
    host = make_host(Everything())
    host.register(recorder, name="recorder")

    _exercise(host)
    asyncio.run(_aexercise(host))

    seen = {call.hook for call in recorder.calls}
    # retrieve_and_generate_async and kb_sync_async: the provider has no native operation, so no
    # implementation answers and the call never reaches around_async (see the no-answer test)
    assert seen == CAPABILITY_HOOKS - {"genai_retrieve_and_generate_async", "genai_ingest_from_source_async"}
    for call in recorder.calls:
        assert call.is_async == call.hook.endswith("_async")
        assert call.streaming == (call.operation in {"chat_stream", "invoke_agent"})
        assert call.operation == call.hook.removeprefix("genai_").removesuffix("_async")
        assert call.provider == "fake"


def test_a_call_describes_its_target_and_request(make_host: Any) -> None:
    recorder = Recorder()
    host = make_host(Everything())
    host.register(recorder, name="recorder")
    request = Request.from_prompt("describe me")

    host.chat("fake:chat", request)
    asyncio.run(host.aretrieve("fake:docs", "cats"))
    list(host.stream_agent("fake:agent", AgentRequest(input_text="hi")))

    by_hook = {call.hook: call for call in recorder.calls}  # retrieval embeds the query first
    chat, retrieve, agent = by_hook["genai_chat"], by_hook["genai_retrieve_async"], by_hook["genai_invoke_agent"]
    assert by_hook["genai_embed_async"].target == "fake:embed"
    assert (chat.hook, chat.capability, chat.target) == ("genai_chat", "chat", "fake:chat")
    assert chat.model is not None and chat.model.ref == "fake:chat"
    assert chat.request is request and chat.arguments["request"] is request
    assert (chat.is_async, chat.streaming, chat.knowledge_base, chat.agent) == (False, False, None, None)
    assert (retrieve.hook, retrieve.target, retrieve.capability) == ("genai_retrieve_async", "fake:docs", "retrieve")
    assert retrieve.knowledge_base is not None and retrieve.model is None
    assert getattr(retrieve.request, "text", None) == "cats"
    assert (agent.hook, agent.target, agent.streaming) == ("genai_invoke_agent", "fake:agent", True)
    assert agent.agent is not None and isinstance(agent.request, AgentRequest)


class Cache(Middleware):
    """Answers a repeated prompt without calling the provider. The host records the usage of what
    it gets, so a cached answer carries zero tokens: usage counts only what providers spent."""

    def __init__(self) -> None:
        self.answers: dict[tuple[str, str], Response] = {}

    @staticmethod
    def _key(call: CapabilityCall) -> tuple[str, str] | None:
        if call.operation != "chat" or not isinstance(call.request, Request):
            return None
        return (call.target, call.request.messages[-1].content or "")

    @staticmethod
    def _free(response: Response) -> Response:
        return attrs.evolve(response, input_tokens=0, output_tokens=0, total_tokens=0)

    def around(self, call: CapabilityCall, proceed: Proceed) -> Any:
        key = self._key(call)
        if key is not None and key in self.answers:
            return self._free(self.answers[key])
        response = proceed()
        if key is not None:
            self.answers[key] = response
        return response

    async def around_async(self, call: CapabilityCall, proceed: AsyncProceed) -> Any:
        key = self._key(call)
        if key is not None and key in self.answers:
            return self._free(self.answers[key])
        response = await proceed()
        if key is not None:
            self.answers[key] = response
        return response


def test_a_short_circuit_skips_the_provider_and_its_usage(make_host: Any) -> None:
    fake, recorder = FakeProvider(), UsageRecorder()
    host = make_host(fake, recorder)
    host.register(Cache(), name="cache")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = host.chat("fake:chat", "same question")
        second = host.chat("fake:chat", "same question")
        third = asyncio.run(host.achat("fake:chat", "same question"))
        fourth = asyncio.run(host.achat("fake:chat", "another question"))
        gc.collect()

    assert first.text == second.text == third.text == "echo: same question"
    assert fourth.text == "echo: another question"
    assert [c.payload.messages[-1].content for c in fake.calls] == ["same question", "another question"]
    # one usage record per successful call; the cached ones spent no tokens
    assert [u.total_tokens for u in recorder.records] == [first.total_tokens, 0, 0, fourth.total_tokens]
    assert not [w for w in caught if "never awaited" in str(w.message)]  # the unused provider call was closed


class Shout(Middleware):
    """Changes every chat result, whole or streamed, sync or async."""

    def around(self, call: CapabilityCall, proceed: Proceed) -> Any:
        result = proceed()
        if call.operation == "chat":
            return Response.of_text(result.text.upper(), input_tokens=result.input_tokens)
        if call.operation == "chat_stream":
            return (TextDelta(text=e.text.upper()) if isinstance(e, TextDelta) else e for e in result)
        return result

    async def around_async(self, call: CapabilityCall, proceed: AsyncProceed) -> Any:
        result = await proceed()
        if call.operation == "chat":
            return Response.of_text(result.text.upper(), input_tokens=result.input_tokens)
        if call.operation == "chat_stream":
            return self._shout(result)
        return result

    @staticmethod
    async def _shout(events: AsyncIterator[Any]) -> AsyncIterator[Any]:
        async for event in events:
            yield TextDelta(text=event.text.upper()) if isinstance(event, TextDelta) else event


def test_a_middleware_changes_results_and_streamed_events(make_host: Any) -> None:
    host = make_host(FakeProvider())
    host.register(Shout(), name="shout")

    assert host.chat("fake:chat", "quiet please").text == "ECHO: QUIET PLEASE"
    assert asyncio.run(host.achat("fake:chat", "quiet")).text == "ECHO: QUIET"
    stream = host.stream("fake:chat", "quiet")
    assert [e.text for e in stream if isinstance(e, TextDelta)] == ["ECHO:", " QUIET"]
    assert stream.response is not None and stream.response.text == "ECHO: QUIET"

    async def streamed() -> list[Any]:
        return [e async for e in await host.astream("fake:chat", "quiet")]

    events = asyncio.run(streamed())
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["ECHO:", " QUIET"]
    assert isinstance(events[-1], StreamEnd)


class RedactPrompt(Middleware):
    """Rewrites the request before the provider sees it."""

    def around(self, call: CapabilityCall, proceed: Proceed) -> Any:
        if isinstance(call.request, Request):
            text = (call.request.messages[-1].content or "").replace("alice@example.com", "[email]")
            return proceed(call.with_request(Request.from_prompt(text)))
        return proceed()


def test_a_middleware_changes_the_request_the_provider_sees(make_host: Any) -> None:
    fake = FakeProvider()
    host = make_host(fake)
    host.register(RedactPrompt(), name="redact")
    assert host.chat("fake:chat", "mail alice@example.com").text == "echo: mail [email]"
    assert fake.calls[0].payload.messages[-1].content == "mail [email]"
    host.register(_DropRequest(), name="drop")
    with pytest.raises(PluginError, match="genai_drop_collection has no request"):  # nothing to replace
        host.drop_collection("fake:docs")


class _DropRequest(Middleware):
    def around(self, call: CapabilityCall, proceed: Proceed) -> Any:
        return proceed(call.with_request("nothing")) if call.operation == "drop_collection" else proceed()


class Guardrail(Middleware):
    def __init__(self) -> None:
        self.refusal = ContentFilteredError("the prompt mentions a secret project; rephrase it", provider="guard")

    def around(self, call: CapabilityCall, proceed: Proceed) -> Any:
        raise self.refusal

    async def around_async(self, call: CapabilityCall, proceed: AsyncProceed) -> Any:
        raise self.refusal


def test_an_error_raised_in_a_middleware_reaches_the_caller_as_is(make_host: Any) -> None:
    fake, recorder = FakeProvider(), UsageRecorder()
    host = make_host(fake, recorder)
    guard = Guardrail()
    host.register(guard, name="guard")

    with pytest.raises(ContentFilteredError) as raised:
        host.chat("fake:chat", "project x")
    assert raised.value is guard.refusal
    with pytest.raises(ContentFilteredError) as raised:
        asyncio.run(host.achat("fake:chat", "project x"))
    assert raised.value is guard.refusal
    assert fake.calls == [] and recorder.records == []


def test_a_provider_error_passes_through_the_middleware_unchanged(make_host: Any) -> None:
    fake = FakeProvider()
    host = make_host(fake)
    recorder = Recorder()
    host.register(recorder, name="recorder")
    fake.fail_next("auth")
    with pytest.raises(AuthenticationError) as raised:
        host.chat("fake:chat", "hi")
    assert raised.value.__cause__ is not None  # the fake's transport error, kept as the cause
    assert recorder.log == [">", "<"]


class RawTracer:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    @hookimpl(wrapper=True)
    def genai_chat(self, model: DeployedModel, request: Request) -> Iterator[None]:
        self.log.append("raw>")
        try:
            return (yield)
        finally:
            self.log.append("<raw")


def test_the_last_registered_middleware_is_the_outermost(make_host: Any) -> None:
    log: list[str] = []
    host = make_host(FakeProvider())
    host.register(Recorder(log, "first"), name="first")
    host.register(RawTracer(log), name="raw")
    host.register(Recorder(log, "second"), name="second")

    host.chat("fake:chat", "hi")
    assert log == ["raw>", "second>", "first>", "<first", "<second", "<raw"]
    log.clear()
    asyncio.run(host.achat("fake:chat", "hi"))
    assert log == ["second>", "first>", "<first", "<second"]


def test_a_call_nobody_answers_reaches_each_middleware_once(make_host: Any) -> None:
    """ingest_from_source for a knowledge base without a data source: no provider answers, and pluggy goes
    on to the implementations after the outer middleware; the inner one must not run again."""
    log: list[str] = []
    host = make_host(FakeProvider())
    inner, outer = Recorder(log, "inner"), Recorder(log, "outer")
    host.register(inner, name="inner")
    host.register(outer, name="outer")
    with pytest.raises(UnsupportedCapabilityError, match="no data source"):
        host.ingest_from_source("fake:docs")
    assert log == ["outer>", "inner>", "<inner", "<outer"]
    log.clear()
    host.chat("fake:chat", "after")  # nothing left over from the unanswered call
    assert log == ["outer>", "inner>", "<inner", "<outer"]


class SyncOnly(Middleware):
    """Overrides only ``around``: async calls run it in a worker thread."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def around(self, call: CapabilityCall, proceed: Proceed) -> Any:
        self.seen.append(call.hook)
        if call.operation == "embed":
            raise ContentFilteredError("no embeddings today", provider="guard")
        result = proceed()
        if call.operation == "chat":
            return Response.of_text(result.text + "!")
        if call.operation == "chat_stream":
            return (e for e in result if not isinstance(e, TextDelta) or e.text != " b")
        return result


def test_a_middleware_with_only_around_sees_async_calls_too(make_host: Any) -> None:
    fake = FakeProvider()
    host = make_host(fake)
    only = SyncOnly()
    host.register(only, name="sync-only")

    async def run() -> tuple[Response, list[Any]]:
        answer = await host.achat("fake:chat", "hi")
        events = [e async for e in await host.astream("fake:chat", "a b c")]
        with pytest.raises(ContentFilteredError, match="no embeddings today"):
            await host.aembed("fake:embed", ["x"])
        return answer, events

    answer, events = asyncio.run(run())
    assert answer.text == "echo: hi!"
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["echo:", " a", " c"]
    assert only.seen == ["genai_chat_async", "genai_chat_stream_async", "genai_embed_async"]


def test_a_middleware_instance_serves_one_host(make_host: Any) -> None:
    recorder = Recorder()
    make_host(FakeProvider()).register(recorder, name="recorder")
    with pytest.raises(PluginError, match="already registered with another host"):
        make_host(FakeProvider()).register(recorder, name="recorder")


def test_middleware_entry_points_register_the_class(make_host: Any) -> None:
    host = make_host(FakeProvider(), Recorder)  # a class, as an entry point gives it
    host.chat("fake:chat", "hi")
    recorder = host.plugin_manager.get_plugin("Recorder")
    assert [c.hook for c in recorder.calls] == ["genai_chat"]
