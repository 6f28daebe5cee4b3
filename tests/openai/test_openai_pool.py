"""The async connection pool (pool.py): one request per connection, within the limits, against
the loopback fake OpenAI server."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from genai_commons import Host
from genai_commons.http.pool import ConnectionSlots
from genai_commons_openai.testing import FakeOpenAI, FakeOpenAIServer, Reply

BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def client(server: FakeOpenAIServer, connections: int, pool_timeout: float | None = 5.0) -> httpx.AsyncClient:
    slots = ConnectionSlots(httpx.Limits(max_connections=connections, max_keepalive_connections=connections))
    return httpx.AsyncClient(
        transport=slots,
        base_url=server.url,
        headers={"Authorization": "Bearer sk-test"},
        timeout=httpx.Timeout(5.0, pool=pool_timeout),
    )


async def test_many_requests_share_the_limited_connections(server: FakeOpenAIServer) -> None:
    async with client(server, 3) as http:

        async def one(i: int) -> str:
            body = {**BODY, "messages": [{"role": "user", "content": f"number {i}"}]}
            answer = await http.post("/chat/completions", json=body)
            answer.raise_for_status()
            return str(answer.json()["choices"][0]["message"]["content"])

        answers = await asyncio.gather(*(one(i) for i in range(40)))
        assert all(f"number {i}" in text for i, text in enumerate(answers))
        slots = http._transport
        assert isinstance(slots, ConnectionSlots)
        assert slots.stats == {"connections": 3, "idle": 3, "waiting": 0}
    accepted, _, peak = server.connection_counts()
    assert accepted == 3 and peak <= 3


async def test_a_streamed_response_holds_its_connection_until_closed(
    server: FakeOpenAIServer, service: FakeOpenAI
) -> None:
    service.script(Reply("one two three"))
    async with client(server, 1, pool_timeout=0.2) as http:
        async with http.stream("POST", "/chat/completions", json={**BODY, "stream": True}) as streaming:
            assert streaming.status_code == 200
            with pytest.raises(httpx.PoolTimeout):
                await http.post("/chat/completions", json=BODY)
            await streaming.aread()
        assert (await http.post("/chat/completions", json=BODY)).status_code == 200


async def test_a_cancelled_waiter_loses_no_connection(server: FakeOpenAIServer) -> None:
    async with client(server, 1) as http:
        async with http.stream("POST", "/chat/completions", json={**BODY, "stream": True}) as streaming:
            waiting = asyncio.create_task(http.post("/chat/completions", json=BODY))
            await asyncio.sleep(0.05)
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            await streaming.aread()
        answer = await asyncio.wait_for(http.post("/chat/completions", json=BODY), 5)
        assert answer.status_code == 200


async def test_a_failed_request_gives_its_connection_back(server: FakeOpenAIServer, service: FakeOpenAI) -> None:
    service.fail_next("drop")  # the server closes the connection without answering
    async with client(server, 1) as http:
        with pytest.raises(httpx.TransportError):
            await http.post("/chat/completions", json=BODY)
        assert (await http.post("/chat/completions", json=BODY)).status_code == 200


async def test_closing_closes_every_connection(server: FakeOpenAIServer) -> None:
    http = client(server, 4)
    await asyncio.gather(*(http.post("/chat/completions", json=BODY) for _ in range(8)))
    await http.aclose()
    for _ in range(50):
        if server.connection_counts()[1] == 0:
            break
        await asyncio.sleep(0.02)
    assert server.connection_counts()[1] == 0
    with pytest.raises(RuntimeError, match="closed"):
        await http.post("/chat/completions", json=BODY)


async def test_the_plugin_uses_it_within_the_configured_limit(openai_host, server: FakeOpenAIServer) -> None:
    host: Host = openai_host(max_connections=5)
    answers = await asyncio.gather(*(host.achat("openai:gpt-4o-mini", f"question {i}") for i in range(30)))
    assert all(f"question {i}" in a.text for i, a in enumerate(answers))
    assert server.connection_counts()[2] <= 5
