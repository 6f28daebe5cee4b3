"""The pooled clients: one sync client and one async client (per event loop) for each provider,
reused across calls, closed by ``Host.close()``, ``aclose()`` or, failing those, a finalizer."""

from __future__ import annotations

import asyncio
import gc
import socket
from pathlib import Path

import httpx
import pytest

from genai_commons import Config, Host, Request, RetryPolicy, ServiceUnavailableError
from genai_commons_openai import OpenAIChatOptions, OpenAIProvider
from genai_commons_openai.testing import FakeOpenAIServer


def _config(tmp_path: Path, server: FakeOpenAIServer) -> Config:
    return Config.defaults(tmp_path, providers={"openai": {"base_url": server.url, "api_key": "sk-test"}})


def test_one_sync_client_serves_every_call_and_closes_with_the_host(tmp_path: Path, server: FakeOpenAIServer) -> None:
    provider = OpenAIProvider()
    host = Host(_config(tmp_path, server), load_entry_points=False, plugins=[provider])
    host.chat("openai:gpt-4o-mini", "one")
    client = provider.clients.sync()
    host.embed("openai:text-embedding-3-small", "two")
    host.generate_image("openai:dall-e-2", "three")
    assert provider.clients.sync() is client and server.connections == 1
    host.close()
    assert client.is_closed


def test_one_async_client_per_event_loop(tmp_path: Path, server: FakeOpenAIServer) -> None:
    provider = OpenAIProvider()
    host = Host(_config(tmp_path, server), load_entry_points=False, plugins=[provider])

    async def calls() -> object:
        await asyncio.gather(*(host.achat("openai:gpt-4o-mini", f"call {i}") for i in range(5)))
        client = provider.clients.async_()
        await host.aembed("openai:text-embedding-3-small", "more")
        assert provider.clients.async_() is client
        return client

    first = asyncio.run(calls())
    second = asyncio.run(calls())
    assert first is not second  # the first loop is gone, and its client with it
    host.close()


def test_closing_from_async_code(tmp_path: Path, server: FakeOpenAIServer) -> None:
    provider = OpenAIProvider()
    host = Host(_config(tmp_path, server), load_entry_points=False, plugins=[provider])

    async def main() -> None:
        await host.achat("openai:gpt-4o-mini", "hi")
        client = provider.clients.async_()
        await provider.aclose()
        assert client.is_closed
        await host.achat("openai:gpt-4o-mini", "a new client after closing")
        again = provider.clients.async_()
        host.close()  # from inside the running loop: the close is scheduled on it
        await asyncio.sleep(0.05)
        assert again.is_closed

    asyncio.run(main())


def test_a_provider_dropped_without_closing_is_closed_by_its_finalizer(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    provider = OpenAIProvider()
    host = Host(_config(tmp_path, server), load_entry_points=False, plugins=[provider])
    host.chat("openai:gpt-4o-mini", "hi")
    client = provider.clients.sync()
    del host, provider
    gc.collect()
    assert client.is_closed


def test_new_settings_make_new_clients(tmp_path: Path, server: FakeOpenAIServer) -> None:
    provider = OpenAIProvider()
    with Host(_config(tmp_path, server), load_entry_points=False, plugins=[provider]) as host:
        host.chat("openai:gpt-4o-mini", "hi")
        old = provider.clients.sync()
        assert provider.settings is not None
        provider.configure(provider.settings)
        assert old.is_closed and provider.clients.sync() is not old


def test_async_calls_and_streams_share_one_pool_and_send_what_the_client_would(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    """Plain async exchanges skip the client's per-request machinery but not its settings: its
    headers, its timeouts and its connection pool."""
    seen: list[httpx.Request] = []
    answer = {"choices": [{"message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}]}

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=answer)

    config = Config.defaults(tmp_path, providers={"openai": {"api_key": "sk-test", "timeout": 30}})
    with Host(config, load_entry_points=False, plugins=[OpenAIProvider(httpx.MockTransport(handler))]) as host:
        request = Request.from_prompt("hi").with_options(OpenAIChatOptions(timeout=7))
        assert asyncio.run(host.achat("openai:gpt-4o-mini", "hi")).text == "hi"
        assert asyncio.run(host.achat("openai:gpt-4o-mini", request)).text == "hi"
    default, custom = seen
    assert default.headers["authorization"] == "Bearer sk-test"
    assert default.headers["user-agent"].startswith("python-httpx/")
    assert default.headers["content-type"] == "application/json" and "accept-encoding" in default.headers
    assert default.extensions["timeout"]["read"] == 30 and custom.extensions["timeout"]["read"] == 7

    provider = OpenAIProvider()
    with Host(_config(tmp_path, server), load_entry_points=False, plugins=[provider]) as host:

        async def calls() -> None:
            for i in range(3):
                await host.achat("openai:gpt-4o-mini", f"call {i}")
                async for _ in await host.astream("openai:gpt-4o-mini", f"stream {i}"):
                    pass

        asyncio.run(calls())
    assert server.connections == 1


def test_async_calls_go_through_a_proxy_set_in_the_environment(
    tmp_path: Path, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With HTTP_PROXY set, async calls are routed as the client routes them: here to a proxy that
    is not listening, so they fail to connect, as the sync calls do."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    settings = {"base_url": server.url, "api_key": "sk-test"}
    config = Config.defaults(tmp_path, retry=RetryPolicy(max_attempts=1), providers={"openai": settings})
    with Host(config, load_entry_points=False, plugins=[OpenAIProvider()]) as host:
        with pytest.raises(ServiceUnavailableError):
            host.chat("openai:gpt-4o-mini", "hi")
        with pytest.raises(ServiceUnavailableError):
            asyncio.run(host.achat("openai:gpt-4o-mini", "hi"))
    assert server.connections == 0
