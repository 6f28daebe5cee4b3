"""The conformance checks of chat beyond plain text: tools, what reaches the service, streams, faults.

:class:`ChatConformance` is a mixin of :class:`~genai_commons.testing.conformance.ProviderConformance`
(subclass that, not this). A check is skipped only when the model under test declares it lacks
what the check needs (``supports_function_calling``, ``supports_system_prompt``,
``supports_history``, ``supports_streaming``, ``input_modalities``), or, for what a model cannot
declare today, when the suite says so with a class attribute (``STOP_SEQUENCES``,
``STRUCTURED_OUTPUT``, ``STREAM_USAGE``, ``RETRY_AFTER``; all default to checked).

What the fake service must do for these checks:

* answer with a call of the tool when the request forces one (tool choice ``tool`` or ``any``)
  and the conversation does not end with a tool result, its arguments filling the tool's JSON
  schema; answer in text after a tool result;
* stop its answer at a stop sequence, when it echoes the prompt (the fakes do);
* let :meth:`~ChatConformance.last_request` read the last request it received;
* fail on demand (:meth:`fail_next`) with every kind of
  :data:`~genai_commons.testing.failures.FAILURE_KINDS`, for streamed requests too, and with
  those of :data:`~genai_commons.testing.failures.EXTRA_KINDS`: ``rate_limit_wait`` (a 429 that
  says to wait :data:`~genai_commons.testing.failures.RETRY_AFTER_SECONDS`) and ``stream_cut``
  (a streamed answer whose connection breaks after its first event).
"""

from __future__ import annotations

import asyncio
import base64
import json
import struct
import time
import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

import pytest

from ..model import (
    FileCollection,
    FileContent,
    FileType,
    Modality,
    Request,
    Response,
    StreamEnd,
    ToolCallDelta,
    ToolChoice,
)
from .failures import EXTRA_KINDS, FAILURE_KINDS, RETRY_AFTER_SECONDS

if TYPE_CHECKING:
    from ..config import RetryPolicy
    from ..host import Host
    from ..model import DeployedModel
    from .fakes import UsageRecorder

__all__ = ["ChatConformance"]

_PROMPT = "Say hello to the conformance suite"
_TOOL = "conformance_lookup"
_SYSTEM_MARK = "conformance-system-5e1f"
_HISTORY_MARK = "conformance-history-9b3c"
_RESULT_MARK = "conformance-result-7d2a"
_STOP = "HALT"
_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "sunny": {"type": "boolean"}},
    "required": ["city", "sunny"],
    "additionalProperties": False,
}


def _png() -> bytes:
    """A 2 by 2 red PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)
    rows = (b"\x00" + b"\xff\x00\x00" * 2) * 2
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


_PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


class ChatConformance:
    """The chat checks of the conformance suite; see the module docstring."""

    #: The provider stops at a stop sequence (``Request.stop_sequences``). False: not checked.
    STOP_SEQUENCES: ClassVar[bool] = True
    #: The provider offers structured output (JSON following a schema) through
    #: :meth:`structured_output`. False: not checked (no structured output to offer).
    STRUCTURED_OUTPUT: ClassVar[bool] = True
    #: A stream's ``StreamEnd`` carries the call's token counts. False: not checked (a service
    #: that does not report usage while streaming).
    STREAM_USAGE: ClassVar[bool] = True
    #: The service says how long to wait on a 429 (Retry-After or the like), and the fake's
    #: ``rate_limit_wait`` says so. False: not checked (a service that never says).
    RETRY_AFTER: ClassVar[bool] = True

    # -- hooks a plugin implements (fail_next and transport_calls: see ProviderConformance) ----

    def fail_next(self, plugin: Any, kind: str) -> None:  # pragma: no cover - ProviderConformance's
        raise NotImplementedError

    def transport_calls(self, plugin: Any) -> int | None:  # pragma: no cover - ProviderConformance's
        raise NotImplementedError

    def _expect_failure(
        self,
        kind: str,
        call: Callable[[], object],
        plugin: Any,
        provider_name: str,
        recorder: UsageRecorder,
        retry_policy: RetryPolicy,
        what: str,
    ) -> Exception:
        """Make every attempt of ``call`` fail with ``kind``; check the core error it raises, that
        no usage is recorded, and how many requests reached the transport."""
        expected = FAILURE_KINDS[kind]
        attempts = retry_policy.max_attempts if expected.retryable else 1
        before = self.transport_calls(plugin)
        for _ in range(attempts):
            self.fail_next(plugin, kind)
        with pytest.raises(expected) as info:
            call()
        error = info.value
        assert error.__cause__ is not None, f"raise the {expected.__name__} `from` the transport error"
        assert error.provider == provider_name
        assert recorder.records == [], "no usage is recorded for a failure"
        if before is not None:
            made = "retried" if expected.retryable else "not retried"
            assert self.transport_calls(plugin) == before + attempts, f"{what} is {made}"
        return error

    def last_request(self, plugin: Any) -> Any:
        """The last request the service received: its body as text, bytes or JSON-able data, or a
        domain object (a :class:`Request`). The checks look in it for what must reach the service
        (the system prompt, an earlier turn, a tool result, an image's base64, a stop sequence).
        The default reads ``plugin.last_request``; implement this hook otherwise."""
        value = getattr(plugin, "last_request", None)
        if value is None or callable(value):
            pytest.fail(
                f"{type(self).__name__}: implement last_request(plugin), returning the last request body "
                "the fake service received"
            )
        return value

    def structured_output(self, request: Request, schema: dict[str, Any]) -> Request:
        """``request``, asking for JSON that follows ``schema``. The default is the common API,
        ``request.with_output_schema(schema)``: the host then uses the provider's own structured
        output where the model declares ``supports_structured_output``, else a forced tool call
        (function calling). Override it to check a plugin's own option instead."""
        return request.with_output_schema(schema)

    # -- helpers -------------------------------------------------------------------------------

    def _sent(self, plugin: Any) -> str:
        """The last request as text, to look for markers in."""
        value = self.last_request(plugin)
        if isinstance(value, bytes):
            return value.decode("utf-8", "replace")
        if isinstance(value, str):
            return value
        if isinstance(value, Request):
            from ..serialization import to_json  # noqa: PLC0415

            return to_json(value)
        return json.dumps(value, default=str)

    def _chat_model(self, host: Host, ref: str | None, what: str, **needs: Any) -> tuple[str, DeployedModel]:
        if ref is None:
            pytest.skip(f"no {what} given to the conformance suite")
        model = host.model(ref)
        for flag, wanted in needs.items():
            if flag == "input" and wanted not in model.input_modalities:
                pytest.skip(f"{model.ref} declares no {wanted.value} input")
            elif flag != "input" and not getattr(model, flag):
                pytest.skip(f"{model.ref} declares {flag} = False")
        return ref, model

    @staticmethod
    def _lookup_tool(calls: list[str]) -> Callable[[str], str]:
        def conformance_lookup(city: str) -> str:
            """Look up the weather of a city."""
            calls.append(city)
            return f"sunny in {city} ({_RESULT_MARK})"

        return conformance_lookup

    @staticmethod
    def _forced_tool_request(calls: list[str]) -> Request:
        tool = ChatConformance._lookup_tool(calls)
        request = Request.from_prompt("What is the weather in Paris? Use the tool.").with_function(tool, name=_TOOL)
        return request.with_tool_choice(ToolChoice.TOOL, _TOOL)

    # -- tools ---------------------------------------------------------------------------------

    def test_tool_call_round_trip(
        self, host: Host, plugin: Any, chat_model: str | None, provider_name: str, recorder: UsageRecorder
    ) -> None:
        ref, _ = self._chat_model(host, chat_model, "chat_model", supports_function_calling=True)
        calls: list[str] = []
        before = self.transport_calls(plugin)
        response = host.chat(ref, self._forced_tool_request(calls))
        assert len(calls) == 1, f"the model was made to call {_TOOL} once; the host ran it {len(calls)} times"
        assert not response.tool_calls and response.text, "after the tool result the answer is text"
        assert _RESULT_MARK in self._sent(plugin), "the tool result did not reach the service"
        if before is not None:
            made = (self.transport_calls(plugin) or 0) - before
            assert made == 2, f"a tool round trip is two requests, {made} were made"
        assert len(recorder.records) == 1, f"one usage event for the whole loop, got {recorder.operations}"
        usage = recorder.records[0]
        assert (usage.provider, usage.operation) == (provider_name, "chat")
        assert usage.input_tokens == (response.input_tokens or 0), "usage sums every step of the loop"
        assert usage.output_tokens == (response.output_tokens or 0)

    def test_tool_calls_while_streaming(self, host: Host, stream_model: str | None, recorder: UsageRecorder) -> None:
        ref, _ = self._chat_model(
            host, stream_model, "stream_model", supports_function_calling=True, supports_streaming=True
        )
        request = self._forced_tool_request([])
        stream = host.stream(ref, request, run_tools=False)
        events = list(stream)
        deltas = [e for e in events if isinstance(e, ToolCallDelta)]
        assert deltas, "the streamed answer carries no ToolCallDelta"
        first: dict[int, ToolCallDelta] = {}
        for delta in deltas:
            first.setdefault(delta.index, delta)
        assert all(d.id and d.name for d in first.values()), "the first piece of each call has its id and name"
        assert stream.response is not None
        streamed = stream.response.tool_calls
        assert [c.name for c in streamed] == [_TOOL], f"streamed calls: {[c.name for c in streamed]}"
        assert len({c.id for c in streamed}) == len(streamed) and all(c.id for c in streamed)
        plain = host.chat(ref, request, run_tools=False)
        assert [(c.name, c.parsed_arguments()) for c in streamed] == [
            (c.name, c.parsed_arguments()) for c in plain.tool_calls
        ], "the joined argument pieces differ from the non-streamed call's arguments"
        assert recorder.operations == ["chat", "chat"]

    # -- what reaches the service --------------------------------------------------------------

    def test_system_prompt_reaches_the_service(self, host: Host, plugin: Any, chat_model: str | None) -> None:
        ref, _ = self._chat_model(host, chat_model, "chat_model", supports_system_prompt=True)
        request = Request.from_prompt(_PROMPT, system_prompt=f"Answer briefly ({_SYSTEM_MARK}).")
        assert host.chat(ref, request).text
        assert _SYSTEM_MARK in self._sent(plugin), "the system prompt did not reach the service"

    def test_history_reaches_the_service(self, host: Host, plugin: Any, chat_model: str | None) -> None:
        ref, _ = self._chat_model(host, chat_model, "chat_model", supports_history=True)
        request = (
            Request()
            .with_message("user", f"My name is {_HISTORY_MARK}.")
            .with_message("assistant", "Nice to meet you.")
            .with_message("user", "What is my name?")
        )
        assert host.chat(ref, request).text
        assert _HISTORY_MARK in self._sent(plugin), "the earlier turns did not reach the service"

    def test_image_input(self, host: Host, plugin: Any, chat_model: str | None) -> None:
        ref, _ = self._chat_model(host, chat_model, "chat_model", input=Modality.IMAGE)
        image = _png()
        files = FileCollection.of(FileContent.from_bytes(image, FileType.IMAGE, extension="png"))
        assert host.chat(ref, "What colour is this image?", files=files).text
        assert base64.b64encode(image).decode() in self._sent(plugin), "the image did not reach the service"

    def test_document_input(self, host: Host, plugin: Any, chat_model: str | None) -> None:
        ref, _ = self._chat_model(host, chat_model, "chat_model", input=Modality.DOCUMENT)
        document = FileContent.from_bytes(_PDF, FileType.DOCUMENT, extension="pdf", text_content="conformance notes")
        assert host.chat(ref, "Summarise the document.", files=FileCollection.of(document)).text
        assert base64.b64encode(_PDF).decode() in self._sent(plugin), "the document did not reach the service"

    def test_stop_sequences(self, host: Host, plugin: Any, chat_model: str | None) -> None:
        ref, _ = self._chat_model(host, chat_model, "chat_model")
        if not self.STOP_SEQUENCES:
            pytest.skip(f"{type(self).__name__} sets STOP_SEQUENCES = False")
        request = Request.from_prompt(f"Repeat after me: alpha {_STOP} omega").with_stop_sequence(_STOP)
        response = host.chat(ref, request)
        assert _STOP in self._sent(plugin), "the stop sequence did not reach the service"
        assert "omega" not in response.text and _STOP not in response.text, "the answer did not stop"

    def test_structured_output(self, host: Host, chat_model: str | None, stream_model: str | None) -> None:
        ref, model = self._chat_model(host, chat_model, "chat_model")
        if not self.STRUCTURED_OUTPUT:
            pytest.skip(f"{type(self).__name__} sets STRUCTURED_OUTPUT = False")
        if not (model.supports_structured_output or model.supports_function_calling):
            pytest.skip(f"{model.ref} declares neither structured output nor function calling")
        request = self.structured_output(Request.from_prompt("Is it sunny in Paris? Answer in JSON."), _SCHEMA)
        self._check_structured(request, host.chat(ref, request))
        if stream_model is not None and request.output_schema is not None:
            streamed = host.model(stream_model)
            if streamed.supports_structured_output or streamed.supports_function_calling:
                self._check_structured(request, host.stream(stream_model, request).collect())

    @staticmethod
    def _check_structured(request: Request, response: Response) -> None:
        try:
            data = json.loads(response.text)
        except ValueError:
            pytest.fail(f"structured output is not JSON: {response.text[:80]!r}")
        assert isinstance(data, dict) and set(data) == {"city", "sunny"}, f"not the schema's object: {data!r}"
        assert isinstance(data["city"], str) and isinstance(data["sunny"], bool)
        assert not response.tool_calls, "the answer came back as a tool call, not as the answer's text"
        if request.output_schema is not None:
            assert response.parsed == data, "response.parsed is not the validated answer"

    # -- streams -------------------------------------------------------------------------------

    def test_stream_reports_usage_at_its_end(
        self, host: Host, stream_model: str | None, provider_name: str, recorder: UsageRecorder
    ) -> None:
        ref, _ = self._chat_model(host, stream_model, "stream_model", supports_streaming=True)
        if not self.STREAM_USAGE:
            pytest.skip(f"{type(self).__name__} sets STREAM_USAGE = False")
        events = list(host.stream(ref, _PROMPT))
        ends = [e for e in events if isinstance(e, StreamEnd)]
        assert len(ends) == 1, f"a stream ends with one StreamEnd, got {len(ends)}"
        end = ends[0]
        assert end.input_tokens is not None and end.output_tokens is not None, "the StreamEnd carries no usage"
        assert end.input_tokens > 0 and end.output_tokens > 0, "the StreamEnd's token counts are zero"
        assert len(recorder.records) == 1, f"one usage event per stream, got {recorder.operations}"
        usage = recorder.records[0]
        assert (usage.provider, usage.input_tokens, usage.output_tokens) == (
            provider_name,
            end.input_tokens,
            end.output_tokens,
        )

    def test_stream_closed_early(self, host: Host, stream_model: str | None, recorder: UsageRecorder) -> None:
        """Closing a stream after its first event closes the provider's iterator (its connection)
        and records no usage, sync and async; the next calls work and record once each."""
        ref, _ = self._chat_model(host, stream_model, "stream_model", supports_streaming=True)
        stream = host.stream(ref, _PROMPT)
        next(iter(stream))
        stream.close()
        assert recorder.records == [], "a stream closed early records no usage"

        async def close_async() -> Response:
            started = await host.astream(ref, _PROMPT)
            await anext(aiter(started))
            await started.aclose()
            assert recorder.records == [], "an async stream closed early records no usage"
            return await (await host.astream(ref, _PROMPT)).collect()

        assert asyncio.run(close_async()).text
        assert host.stream(ref, _PROMPT).collect().text
        assert recorder.operations == ["chat", "chat"]

    # -- faults --------------------------------------------------------------------------------

    @pytest.mark.parametrize("kind", list(FAILURE_KINDS))
    def test_stream_errors_are_mapped(
        self,
        kind: str,
        host: Host,
        plugin: Any,
        provider_name: str,
        recorder: UsageRecorder,
        retry_policy: RetryPolicy,
        stream_model: str | None,
    ) -> None:
        ref, _ = self._chat_model(host, stream_model, "stream_model", supports_streaming=True)
        self._expect_failure(
            kind,
            lambda: host.stream(ref, _PROMPT).collect(),
            plugin,
            provider_name,
            recorder,
            retry_policy,
            f"a streamed {kind} failure",
        )

    def test_stream_cut_midway(
        self, host: Host, plugin: Any, provider_name: str, recorder: UsageRecorder, stream_model: str | None
    ) -> None:
        ref, _ = self._chat_model(host, stream_model, "stream_model", supports_streaming=True)
        expected = EXTRA_KINDS["stream_cut"]
        self.fail_next(plugin, "stream_cut")
        received = []
        with pytest.raises(expected) as info:
            for event in host.stream(ref, _PROMPT):
                received.append(event)
        assert info.value.__cause__ is not None, f"raise the {expected.__name__} `from` the transport error"
        assert info.value.provider == provider_name
        assert not any(isinstance(e, StreamEnd) for e in received), "a cut stream has no StreamEnd"
        assert recorder.records == [], "no usage is recorded for a cut stream"

    @pytest.mark.parametrize("call", ["chat", "stream"])
    def test_retry_after_is_honoured(
        self,
        call: str,
        host: Host,
        plugin: Any,
        recorder: UsageRecorder,
        retry_policy: RetryPolicy,
        chat_model: str | None,
        stream_model: str | None,
    ) -> None:
        if call == "chat":
            ref, _ = self._chat_model(host, chat_model, "chat_model")
        else:
            ref, _ = self._chat_model(host, stream_model, "stream_model", supports_streaming=True)
        if not self.RETRY_AFTER:
            pytest.skip(f"{type(self).__name__} sets RETRY_AFTER = False")
        before = self.transport_calls(plugin)
        self.fail_next(plugin, "rate_limit_wait")
        started = time.perf_counter()
        response = host.chat(ref, _PROMPT) if call == "chat" else host.stream(ref, _PROMPT).collect()
        waited = time.perf_counter() - started
        assert response.text
        assert waited >= RETRY_AFTER_SECONDS * 0.9, (
            f"the host retried after {waited:.3f} s; the service asked for {RETRY_AFTER_SECONDS} s "
            "(is Retry-After read into RateLimitError.retry_after?)"
        )
        if before is not None:
            assert self.transport_calls(plugin) == before + 2, "the 429 was retried once"
        assert len(recorder.records) == 1, "usage is recorded once, for the success only"
        for _ in range(retry_policy.max_attempts):
            self.fail_next(plugin, "rate_limit_wait")
        with pytest.raises(EXTRA_KINDS["rate_limit_wait"]) as info:
            host.chat(ref, _PROMPT) if call == "chat" else host.stream(ref, _PROMPT).collect()
        assert info.value.retry_after == pytest.approx(RETRY_AFTER_SECONDS, abs=0.02), "retry_after is not the header's"
