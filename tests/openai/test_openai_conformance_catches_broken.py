"""The conformance suite catches real bugs: run on deliberately broken variants of the OpenAI
plugin (over ``httpx.MockTransport``), each fails the check meant to catch it, and the unbroken
plugin passes the same checks. The suite runs in a pytest subprocess, as a plugin's own would."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ElementTree
from pathlib import Path

MODULE = textwrap.dedent(
    """
    from typing import Any

    import attrs
    import pytest

    from genai_commons import ProviderError, RateLimitError, Request, StreamEnd, ToolCallDelta
    from genai_commons.testing.conformance import ProviderConformance
    from genai_commons_openai import JsonSchemaFormat, OpenAIChatOptions, OpenAIProvider
    from genai_commons_openai.testing import FakeOpenAI


    class DropsStreamedToolCalls(OpenAIProvider):
        def chat_stream(self, model, request):
            events = super().chat_stream(model, request)
            return (e for e in events if not isinstance(e, ToolCallDelta))


    class IgnoresSystemPrompt(OpenAIProvider):
        def chat(self, model, request):
            return super().chat(model, attrs.evolve(request, system_prompt=None))


    class MapsRateLimitToGenericError(OpenAIProvider):
        def chat(self, model, request):
            try:
                return super().chat(model, request)
            except RateLimitError as exc:
                raise ProviderError("the call failed", provider=self.name) from exc


    class ReportsNoStreamUsage(OpenAIProvider):
        def chat_stream(self, model, request):
            for event in super().chat_stream(model, request):
                if isinstance(event, StreamEnd):
                    event = attrs.evolve(event, input_tokens=None, output_tokens=None, total_tokens=None)
                yield event


    class Suite(ProviderConformance):
        CHAT_MODEL = "openai:gpt-4o-mini"
        STREAM_MODEL = "openai:gpt-4o-mini"
        PROVIDER: Any = OpenAIProvider

        @pytest.fixture
        def plugin(self):
            self.service = FakeOpenAI(api_key="sk-test")
            return self.PROVIDER(self.service.transport())

        @pytest.fixture
        def provider_settings(self):
            return {"api_key": "sk-test"}

        def fail_next(self, plugin, kind):
            self.service.fail_next({"stream_cut": "disconnect"}.get(kind, kind))

        def transport_calls(self, plugin):
            return len(self.service.calls)

        def last_request(self, plugin):
            return self.service.calls[-1].body

        def structured_output(self, request: Request, schema):
            return request.with_options(OpenAIChatOptions(response_format=JsonSchemaFormat(name="a", schema=schema)))


    class TestUnbroken(Suite):
        pass


    class TestDropsStreamedToolCalls(Suite):
        PROVIDER = DropsStreamedToolCalls


    class TestIgnoresSystemPrompt(Suite):
        PROVIDER = IgnoresSystemPrompt


    class TestMapsRateLimitToGenericError(Suite):
        PROVIDER = MapsRateLimitToGenericError


    class TestReportsNoStreamUsage(Suite):
        PROVIDER = ReportsNoStreamUsage
    """
)

#: The checks run on every variant: those meant to catch the bugs, and some each variant passes.
CHECKS = [
    "test_chat",
    "test_stream_assembles_its_deltas",
    "test_tool_call_round_trip",
    "test_tool_calls_while_streaming",
    "test_system_prompt_reaches_the_service",
    "test_stream_reports_usage_at_its_end",
    "test_errors_are_mapped",
    "test_retry_after_is_honoured",
]

#: variant -> the checks that must fail for it (and only those).
CAUGHT_BY = {
    "TestUnbroken": set(),
    "TestDropsStreamedToolCalls": {"test_tool_calls_while_streaming"},
    "TestIgnoresSystemPrompt": {"test_system_prompt_reaches_the_service"},
    "TestMapsRateLimitToGenericError": {"test_errors_are_mapped[rate_limit]", "test_retry_after_is_honoured[chat]"},
    "TestReportsNoStreamUsage": {"test_stream_reports_usage_at_its_end"},
}


def test_each_broken_variant_fails_the_check_meant_to_catch_it(tmp_path: Path) -> None:
    (tmp_path / "test_variants.py").write_text(MODULE)
    (tmp_path / "pytest.ini").write_text("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    report = tmp_path / "report.xml"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-k",
            " or ".join(CHECKS),
            f"--junitxml={report}",
            str(tmp_path),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert report.exists(), result.stdout + result.stderr
    failed: dict[str, set[str]] = {name: set() for name in CAUGHT_BY}
    ran: dict[str, int] = dict.fromkeys(CAUGHT_BY, 0)
    for case in ElementTree.parse(report).getroot().iter("testcase"):
        variant = case.get("classname", "").rpartition(".")[2]
        ran[variant] += 1
        if case.find("failure") is not None or case.find("error") is not None:
            failed[variant].add(case.get("name", ""))
    assert all(count >= 16 for count in ran.values()), ran
    assert failed == CAUGHT_BY, result.stdout[-4000:]
