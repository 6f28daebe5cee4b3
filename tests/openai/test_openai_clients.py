"""The pooled clients: one sync client and one async client (per event loop) for each provider,
reused across calls, closed by ``Host.close()``, ``aclose()`` or, failing those, a finalizer."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path

from genai_commons import Config, Host
from genai_commons_openai import OpenAIProvider
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
