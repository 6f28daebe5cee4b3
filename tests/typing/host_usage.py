"""Typed use of the public API, checked by `mypy --strict` in scripts/test (never run by pytest):
what an application writes must type-check without casts or ignores."""

from __future__ import annotations

from genai_commons import Host, Response
from genai_commons.http import Call, ClientOptions, Clients, Driver, Endpoint, Operation


def chat_in_a_with_block() -> str:
    with Host() as host:
        response: Response = host.chat("openai:gpt-4o-mini", "hello")
        return response.text or ""


async def chat_in_an_async_with_block() -> str:
    async with Host() as host:
        response: Response = await host.achat("openai:gpt-4o-mini", "hello")
        return response.text or ""


def count(path: str) -> Operation[int]:
    answer = yield Call(method="GET", path=path)
    return len(answer.data)


def run_an_operation() -> int:
    driver = Driver(Clients(ClientOptions))
    return driver.run(Endpoint("demo", "https://api.example.test"), count("/items"))
