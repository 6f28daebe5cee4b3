"""The loopback fake-server base of the testing kit (genai_commons.testing.http): a tiny service
served through it and reached with a real httpx client over loopback."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from genai_commons.testing.http import HTTPAnswer, HTTPRequest, LoopbackServer, sse_event


class Counter:
    """A tiny service: POST /add adds the JSON body's ``n``; GET /total tells the sum."""

    def __init__(self) -> None:
        self.total = 0
        self.seen: list[HTTPRequest] = []
        self.next: HTTPAnswer | None = None

    def __call__(self, request: HTTPRequest) -> HTTPAnswer:
        self.seen.append(request)
        if self.next is not None:
            answer, self.next = self.next, None
            return answer
        if request.method == "POST" and request.path == "/add":
            self.total += int(request.json()["n"])
            return HTTPAnswer.json({"total": self.total})
        if request.path == "/total":
            return HTTPAnswer.json({"total": self.total, "unit": request.query.get("unit")})
        return HTTPAnswer.json({"error": "no such route"}, status=404)


def wait_until_closed(server: LoopbackServer) -> tuple[int, int, int]:
    """The server's connection counts once it has seen every connection close (its thread notices
    a moment after the client closes)."""
    deadline = time.monotonic() + 5
    while server.open_connections and time.monotonic() < deadline:
        time.sleep(0.01)
    return server.connection_counts()


@pytest.fixture
def counter() -> Counter:
    return Counter()


@pytest.fixture
def server(counter: Counter) -> Iterator[LoopbackServer]:
    with LoopbackServer(counter) as running:
        yield running


def test_a_service_answers_json_over_a_kept_alive_connection(server: LoopbackServer, counter: Counter) -> None:
    with httpx.Client(base_url=server.url) as client:
        assert client.post("/add", json={"n": 2}).json() == {"total": 2}
        assert client.post("/add", json={"n": 3}, headers={"X-Trace": "t1"}).json() == {"total": 5}
        answer = client.get("/total", params={"unit": "apples"})
        assert answer.json() == {"total": 5, "unit": "apples"}
        assert answer.headers["content-type"] == "application/json"
        assert client.get("/nowhere").status_code == 404
    request = counter.seen[1]
    assert (request.method, request.path, request.json()) == ("POST", "/add", {"n": 3})
    assert request.headers["x-trace"] == "t1" and request.headers["content-type"] == "application/json"
    assert counter.seen[2].target == "/total?unit=apples" and counter.seen[2].query == {"unit": "apples"}
    assert wait_until_closed(server) == (1, 0, 1)  # one connection for four requests, closed by the client
    assert server.problems == []


def test_a_status_with_retry_after_reaches_the_client(server: LoopbackServer, counter: Counter) -> None:
    counter.next = HTTPAnswer.json({"error": "slow down"}, status=429, headers={"Retry-After": "7"})
    answer = httpx.get(f"{server.url}/total")
    assert answer.status_code == 429 and answer.headers["retry-after"] == "7"
    assert answer.json() == {"error": "slow down"}


def test_a_streamed_answer_arrives_piece_by_piece_with_chunked_encoding(
    server: LoopbackServer, counter: Counter
) -> None:
    release = threading.Event()

    def events() -> Iterator[bytes]:
        yield sse_event({"n": 1})
        release.wait(5)  # the second event waits until the client has read the first
        yield sse_event("done", event="end")

    counter.next = HTTPAnswer.stream(events())
    with httpx.Client() as client, client.stream("GET", f"{server.url}/events") as answer:
        assert answer.headers["transfer-encoding"] == "chunked"
        assert answer.headers["content-type"] == "text/event-stream"
        pieces = answer.iter_bytes()
        assert next(pieces) == b'data: {"n": 1}\n\n'
        release.set()
        assert b"".join(pieces) == b"event: end\ndata: done\n\n"
        assert client.get(f"{server.url}/total").json()["total"] == 0  # the connection is still good
    assert server.connections == 1


def test_a_close_delimited_stream_ends_with_the_connection(server: LoopbackServer, counter: Counter) -> None:
    counter.next = HTTPAnswer.stream([b"one ", b"", b"two"], content_type="text/plain", framing="close")
    answer = httpx.get(f"{server.url}/plain")
    assert answer.text == "one two"
    assert "content-length" not in answer.headers and "transfer-encoding" not in answer.headers


def test_a_stall_ends_with_the_client_s_read_timeout(server: LoopbackServer, counter: Counter) -> None:
    counter.next = HTTPAnswer.stall(2.0)
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(f"{server.url}/total", timeout=httpx.Timeout(5.0, read=0.2))
    assert time.monotonic() - started < 1.5


def test_a_delay_holds_the_answer_back(server: LoopbackServer, counter: Counter) -> None:
    counter.next = HTTPAnswer.json({"late": True}, delay=0.3)
    started = time.monotonic()
    assert httpx.get(f"{server.url}/total").json() == {"late": True}
    assert time.monotonic() - started >= 0.3


def test_a_dropped_connection_gives_no_answer(server: LoopbackServer, counter: Counter) -> None:
    counter.next = HTTPAnswer(drop=True)
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(f"{server.url}/total")


def test_a_stream_cut_in_the_middle_fails_the_reader(server: LoopbackServer, counter: Counter) -> None:
    counter.next = HTTPAnswer.stream([sse_event({"n": 1}), sse_event({"n": 2})], cut=True)
    received: list[bytes] = []
    with pytest.raises(httpx.RemoteProtocolError), httpx.stream("GET", f"{server.url}/events") as answer:
        received.extend(answer.iter_bytes())
    assert b"".join(received) == b'data: {"n": 1}\n\ndata: {"n": 2}\n\n'


def test_a_body_cut_short_of_its_length_fails_the_reader(server: LoopbackServer, counter: Counter) -> None:
    counter.next = HTTPAnswer.json({"padding": "x" * 100}, cut=True)
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(f"{server.url}/total")


def test_a_failing_service_answers_500_and_is_reported(server: LoopbackServer, counter: Counter) -> None:
    answer = httpx.post(f"{server.url}/add", json={"n": "not a number"})
    assert answer.status_code == 500
    assert server.problems == ["ValueError: invalid literal for int() with base 10: 'not a number'"]


def test_a_chunked_request_body_is_read_whole(server: LoopbackServer, counter: Counter) -> None:
    def body() -> Iterator[bytes]:
        yield b'{"n"'
        yield b": 4}"

    assert httpx.post(f"{server.url}/add", content=body()).json() == {"total": 4}
    assert "transfer-encoding" in counter.seen[0].headers


def test_stop_closes_the_connections_clients_still_hold(counter: Counter) -> None:
    server = LoopbackServer(counter).start()
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as held:
        held.sendall(b"GET /total HTTP/1.1\r\nHost: x\r\n\r\n")
        received = b""
        while not received.endswith(b"}"):  # the head and the body may come in separate pieces
            received += held.recv(4096)
        assert received.startswith(b"HTTP/1.1 200 ")
        assert server.open_connections == 1
        server.stop()
        assert held.recv(4096) == b""  # the server closed it
    server.stop()  # twice is fine
    assert server.peak_connections == 1
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.url}/total")
    with server:  # and it starts again
        assert httpx.get(f"{server.url}/total").json()["total"] == 0


def test_a_subclass_answers_instead_of_a_handler() -> None:
    class Hello(LoopbackServer):
        def answer(self, request: HTTPRequest) -> HTTPAnswer:
            return HTTPAnswer(body=f"hello {request.path}".encode(), headers={"content-type": "text/plain"})

    with Hello() as server:
        assert httpx.get(f"{server.url}/you").text == "hello /you"
    with pytest.raises(RuntimeError, match="not started"):
        _ = LoopbackServer(Counter()).url
