"""Fallbacks between two real plugins against their loopback fakes: OpenAI and Mendix Cloud, each
answering when the other is down (``[aliases]`` with two targets)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from genai_commons import Config, Host, Request, RetryPolicy, ServiceUnavailableError, TextDelta
from genai_commons.testing import UsageRecorder
from genai_commons_mxcloud import MxCloudProvider
from genai_commons_mxcloud.testing import FakeMxCloud, FakeMxCloudServer, Reply
from genai_commons_openai import OpenAIProvider
from genai_commons_openai.testing import FakeOpenAI, FakeOpenAIServer

KEY = "sk-test"
ATTEMPTS = 2


@pytest.fixture
def mx() -> Iterator[FakeMxCloudServer]:
    with FakeMxCloudServer(FakeMxCloud(dimensions=16)) as running:
        yield running


@pytest.fixture
def host(server: FakeOpenAIServer, mx: FakeMxCloudServer, recorder: UsageRecorder, tmp_path: Path) -> Iterator[Host]:
    claude = mx.service.issue_key("TEXT_GENERATION", name="claude", token="tok-claude")
    config = Config.defaults(
        tmp_path,
        retry=RetryPolicy(max_attempts=ATTEMPTS, initial_delay=0, max_delay=0),
        providers={"openai": {"base_url": server.url, "api_key": KEY}, "mxcloud": {"keys": [claude]}},
        aliases={"smart": ["openai:gpt-4o-mini", "mxcloud:claude"], "steady": ["mxcloud:claude", "openai:gpt-4o-mini"]},
    )
    with Host(config, load_entry_points=False, plugins=[OpenAIProvider, MxCloudProvider, recorder]) as made:
        yield made


def test_openai_down_mendix_cloud_answers(
    host: Host, service: FakeOpenAI, mx: FakeMxCloudServer, recorder: UsageRecorder
) -> None:
    service.fail_next("unavailable", times=ATTEMPTS)
    mx.service.script("Hello from Mendix Cloud.")
    response = host.chat("smart", "hi")
    assert response.text == "Hello from Mendix Cloud."
    assert response.model == "mxcloud:claude"
    assert len(service.calls) == ATTEMPTS and len(mx.service.calls("/converse")) == 1
    assert (recorder.last.provider, recorder.last.model_id) == ("mxcloud", "claude")


def test_mendix_cloud_throttled_openai_answers_async(
    host: Host, service: FakeOpenAI, mx: FakeMxCloudServer, recorder: UsageRecorder
) -> None:
    mx.service.fail_next("rate_limit", times=ATTEMPTS)
    service.script("Hello from OpenAI.")
    response = asyncio.run(host.achat("steady", "hi"))
    assert (response.text, response.model) == ("Hello from OpenAI.", "openai:gpt-4o-mini")
    assert recorder.last.provider == "openai"


def test_an_answering_first_target_keeps_the_call(host: Host, service: FakeOpenAI, mx: FakeMxCloudServer) -> None:
    service.script("first")
    assert host.chat("smart", "hi").model == "openai:gpt-4o-mini"
    assert not mx.service.calls("/converse")


def test_a_stream_falls_back_before_its_first_event(
    host: Host, service: FakeOpenAI, mx: FakeMxCloudServer, recorder: UsageRecorder
) -> None:
    service.fail_next("unavailable", times=ATTEMPTS)
    mx.service.script("streamed by Mendix Cloud")
    stream = host.stream("smart", "hi")
    text = "".join(e.text for e in stream if isinstance(e, TextDelta))
    assert text == "streamed by Mendix Cloud"
    assert stream.response is not None and stream.response.model == "mxcloud:claude"
    assert recorder.last.provider == "mxcloud"


def test_an_async_stream_falls_back_before_its_first_event(
    host: Host, service: FakeOpenAI, mx: FakeMxCloudServer
) -> None:
    mx.service.fail_next("unavailable", times=ATTEMPTS)
    service.script("streamed by OpenAI")

    async def run() -> tuple[str, str | None]:
        stream = await host.astream("steady", "hi")
        text = "".join([e.text async for e in stream if isinstance(e, TextDelta)])
        return text, stream.response.model if stream.response else None

    assert asyncio.run(run()) == ("streamed by OpenAI", "openai:gpt-4o-mini")


def test_a_stream_cut_after_its_first_event_is_not_fallen_back_from(
    host: Host, service: FakeOpenAI, mx: FakeMxCloudServer
) -> None:
    service.script("a long answer that is cut")
    service.fail_next("disconnect")
    stream = host.stream("smart", "hi")
    with pytest.raises(ServiceUnavailableError):
        list(stream)
    assert not mx.service.calls("/converse")


def test_the_tool_loop_continues_on_mendix_cloud(
    host: Host, service: FakeOpenAI, mx: FakeMxCloudServer, recorder: UsageRecorder
) -> None:
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return f"18 degrees in {city}"

    service.fail_next("unavailable", times=ATTEMPTS)
    mx.service.script(Reply(tool_calls=[("get_weather", {"city": "Paris"})]), "It is 18 degrees in Paris.")
    response = host.chat("smart", Request.from_prompt("Weather in Paris?").with_function(get_weather))
    assert response.text == "It is 18 degrees in Paris."
    assert response.model == "mxcloud:claude"
    assert len(mx.service.calls("/converse")) == 2  # both steps on the target that answered
    assert len(service.calls) == ATTEMPTS  # OpenAI saw only the failed first step
    assert (recorder.last.provider, recorder.last.calls) == ("mxcloud", 2)
