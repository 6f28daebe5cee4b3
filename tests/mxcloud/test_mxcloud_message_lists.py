"""OpenAI-style message lists and keyword parameters through the Mendix Cloud plugin (Converse)
and its loopback fake, and streams that run the host's tool loop."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

from genai_commons import Host, ToolExecution
from genai_commons.testing import UsageRecorder
from genai_commons_mxcloud.testing import FakeMxCloud, Reply

PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="


def get_weather(city: str) -> dict[str, object]:
    """The weather in a city."""
    return {"city": city, "temperature": 18}


def test_a_message_list_becomes_a_converse_request(host: Host, service: FakeMxCloud) -> None:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}"}},
            ],
        },
    ]
    response = host.chat("mxcloud:claude", messages, temperature=0.5, max_tokens=40, stop=["END"])
    [call] = service.calls("/converse")
    body = call.body
    assert body["system"] == [{"text": "Be brief."}]
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    [image] = [block["image"] for block in body["messages"][2]["content"] if "image" in block]
    assert image["format"] == "png" and base64.b64decode(image["source"]["bytes"]) == base64.b64decode(PNG_B64)
    config = body["inferenceConfig"]
    assert (config["temperature"], config["maxTokens"], config["stopSequences"]) == (0.5, 40, ["END"])
    assert response.to_openai()["choices"][0]["message"]["content"] == response.text


def test_stream_runs_the_tool_loop_through_converse_stream(
    host: Host, service: FakeMxCloud, recorder: UsageRecorder
) -> None:
    service.script(Reply(tool_calls=[("get_weather", {"city": "Paris"})]), "It is 18 degrees in Paris.")
    stream = host.stream("mxcloud:claude", [{"role": "user", "content": "Weather?"}], tools=[get_weather])
    events = list(stream)
    [execution] = [e for e in events if isinstance(e, ToolExecution)]
    assert execution.call.name == "get_weather" and '"temperature": 18' in execution.result
    assert stream.response is not None and stream.response.text == "It is 18 degrees in Paris."
    _, second = (c.body for c in service.calls("/converse-stream"))
    assert second["messages"][2]["content"][0]["toolResult"]["content"] == [
        {"json": {"city": "Paris", "temperature": 18}}
    ]
    assert len(recorder.records) == 1 and recorder.records[0].calls == 2


def test_astream_runs_the_tool_loop(host: Host, service: FakeMxCloud, recorder: UsageRecorder) -> None:
    service.script(Reply(tool_calls=[("get_weather", {"city": "Oslo"})]), "Mild in Oslo.")

    async def run() -> str:
        stream = await host.astream("mxcloud:claude", "Weather in Oslo?", tools=[get_weather], tool_choice="required")
        return (await stream.collect()).text

    assert asyncio.run(run()) == "Mild in Oslo."
    first, second = (c.body for c in service.calls("/converse-stream"))
    assert first["toolConfig"]["toolChoice"] == {"any": {}}
    assert "any" not in str(second.get("toolConfig", {}).get("toolChoice", {}))  # forced once only
    assert recorder.records[0].calls == 2
