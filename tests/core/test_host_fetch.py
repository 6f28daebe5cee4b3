"""File URLs in chat messages are downloaded by the host only when the user allows it, only for
models that cannot read URLs themselves, and within limits; a loopback HTTP server plays the web."""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from click.testing import CliRunner

from genai_commons import (
    DeployedModel,
    FileCollection,
    FileContent,
    FileFetchError,
    Modality,
    Request,
    UnsupportedCapabilityError,
    ValidationError,
)
from genai_commons.config import Config, FileSettings
from genai_commons.fetch import pending_urls
from genai_commons.testing import FakeProvider, UsageRecorder
from genai_commons.testing.fakes import default_models

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAwS2OUAAAAABJRU5ErkJggg=="
)
INLINE_ONLY = DeployedModel(
    provider="fake",
    model_id="inline",
    input_modalities={Modality.TEXT, Modality.IMAGE, Modality.DOCUMENT},
    url_input_modalities=(),
    supports_streaming=True,
)
ALLOWED = FileSettings(fetch_urls=True, fetch_private_networks=True)


class Web:
    """Routes of the loopback server: path -> (status, headers, body)."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, dict[str, str], bytes]] = {
            "/cat.png": (200, {"Content-Type": "image/png"}, PNG),
            "/paper.pdf": (200, {"Content-Type": "application/pdf"}, b"%PDF-1.4 tiny"),
            "/page.html": (200, {"Content-Type": "text/html"}, b"<html></html>"),
            "/missing.png": (404, {"Content-Type": "text/plain"}, b"no"),
            "/big.png": (200, {"Content-Type": "image/png"}, PNG + b"\0" * 4096),
            "/moved.png": (302, {"Location": "/cat.png"}, b""),
            "/loop.png": (302, {"Location": "/loop.png"}, b""),
            "/to-file.png": (302, {"Location": "file:///etc/passwd"}, b""),
            "/empty.png": (200, {"Content-Type": "image/png"}, b""),
        }
        self.hits: list[str] = []


@pytest.fixture
def web() -> Iterator[tuple[Web, str]]:
    state = Web()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.hits.append(self.path)
            status, headers, body = state.routes.get(self.path.partition("?")[0], (404, {}, b""))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def provider() -> FakeProvider:
    return FakeProvider(models=[*default_models(), INLINE_ONLY])


MakeHost = Callable[..., Any]


def _files(url: str, file_type: str) -> FileCollection:
    return FileCollection.of(FileContent.from_url(url, file_type, text_content="the file"))


def ask(url: str, file_type: str = "image") -> Request:
    return Request.from_prompt("what is this?", files=_files(url, file_type))


def test_urls_are_refused_unless_allowed_and_nothing_is_fetched(
    web: tuple[Web, str], provider: FakeProvider, make_host: MakeHost
) -> None:
    state, base = web
    host = make_host(provider)
    with pytest.raises(UnsupportedCapabilityError, match=r"GENAI_FETCH_URLS=1") as caught:
        host.chat("fake:inline", ask(f"{base}/cat.png"))
    assert caught.value.capability == "file URLs"
    assert state.hits == [] and provider.calls == []


def test_models_that_read_urls_get_them_as_they_are(
    web: tuple[Web, str], provider: FakeProvider, make_host: MakeHost
) -> None:
    state, base = web
    host = make_host(provider, files=ALLOWED)
    host.chat("fake:chat", ask(f"{base}/cat.png"))
    sent = provider.last_request.messages[0].files
    assert sent is not None and sent.files[0].url == f"{base}/cat.png"
    assert state.hits == []


def test_allowed_download_inlines_the_bytes_with_their_type(
    web: tuple[Web, str], provider: FakeProvider, make_host: MakeHost
) -> None:
    state, base = web
    recorder = UsageRecorder()
    host = make_host(provider, recorder, files=ALLOWED)
    host.chat("fake:inline", ask(f"{base}/moved.png?sig=secret"))
    sent = provider.last_request.messages[0].files
    assert sent is not None
    file = sent.files[0]
    assert file.to_bytes() == PNG and file.extension == "png" and file.text_content == "the file"
    assert state.hits == ["/moved.png?sig=secret", "/cat.png"]
    assert len(recorder.records) == 1


def test_documents_are_downloaded_too(web: tuple[Web, str], provider: FakeProvider, make_host: MakeHost) -> None:
    _, base = web
    host = make_host(provider, files=ALLOWED)
    host.chat("fake:inline", ask(f"{base}/paper.pdf", "document"))
    sent = provider.last_request.messages[0].files
    assert sent is not None and sent.files[0].extension == "pdf"


async def test_async_and_streaming_calls_download_too(
    web: tuple[Web, str], provider: FakeProvider, make_host: MakeHost
) -> None:
    state, base = web
    host = make_host(provider, files=ALLOWED)
    await host.achat("fake:inline", ask(f"{base}/cat.png"))
    stream = await host.astream("fake:inline", ask(f"{base}/cat.png"))
    async for _ in stream:
        pass
    for _ in host.stream("fake:inline", ask(f"{base}/cat.png")):
        pass
    assert state.hits == ["/cat.png"] * 3
    assert all(call.request.messages[0].files.files[0].data for call in provider.calls)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("path", "settings", "message"),
    [
        ("/missing.png", ALLOWED, "HTTP 404"),
        ("/page.html", ALLOWED, "text/html, not an image"),
        ("/big.png", FileSettings(fetch_urls=True, fetch_private_networks=True, fetch_max_bytes=1024), "larger than"),
        ("/loop.png", ALLOWED, "redirects more than 5 times"),
        ("/to-file.png", ALLOWED, "non-http URL"),
        ("/empty.png", ALLOWED, "is empty"),
        ("/cat.png", FileSettings(fetch_urls=True), "loopback, private or reserved"),
    ],
)
def test_failed_downloads_are_clear_errors_and_nothing_is_sent(
    web: tuple[Web, str],
    provider: FakeProvider,
    make_host: MakeHost,
    path: str,
    settings: FileSettings,
    message: str,
) -> None:
    _, base = web
    recorder = UsageRecorder()
    host = make_host(provider, recorder, files=settings)
    with pytest.raises(FileFetchError, match=message) as caught:
        host.chat("fake:inline", ask(f"{base}{path}?token=s3cr3t"))
    assert "s3cr3t" not in str(caught.value) and "token" not in caught.value.url
    assert provider.calls == [] and recorder.records == []


async def test_async_download_failures_are_the_same_errors(
    web: tuple[Web, str], provider: FakeProvider, make_host: MakeHost
) -> None:
    _, base = web
    host = make_host(provider, files=FileSettings(fetch_urls=True))
    with pytest.raises(FileFetchError, match="loopback"):
        await host.achat("fake:inline", ask(f"{base}/cat.png"))
    host = make_host(provider, files=ALLOWED)
    with pytest.raises(FileFetchError, match="HTTP 404"):
        await host.achat("fake:inline", ask(f"{base}/missing.png"))


def test_connection_refused_is_a_fetch_error(provider: FakeProvider, make_host: MakeHost) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    host = make_host(provider, files=ALLOWED)
    with pytest.raises(FileFetchError, match="could not download"):
        host.chat("fake:inline", ask(f"http://127.0.0.1:{port}/cat.png"))


def test_pending_urls_skip_inline_data_and_other_schemes() -> None:
    request = Request.from_prompt("x", files=_files("s3://bucket/cat.png", "image"))
    assert pending_urls(request, INLINE_ONLY) == []
    request = Request.from_prompt("x", files=_files("data:image/png;base64,iVBORw0K", "image"))
    assert pending_urls(request, INLINE_ONLY) == []


def test_environment_switch(tmp_path: Any) -> None:
    assert Config.load(environ={"GENAI_HOME": str(tmp_path), "GENAI_FETCH_URLS": "1"}).files.fetch_urls
    assert not Config.load(environ={"GENAI_HOME": str(tmp_path)}).files.fetch_urls
    (tmp_path / "config.toml").write_text("[files]\nfetch_urls = true\nfetch_max_bytes = 1000\n")
    config = Config.load(environ={"GENAI_HOME": str(tmp_path)})
    assert config.files.fetch_urls and config.files.fetch_max_bytes == 1000


def test_cli_url_option(web: tuple[Web, str], provider: FakeProvider, make_host: MakeHost) -> None:
    from genai_commons.cli import CliState, main

    state, base = web
    cli_state = CliState(host=make_host(provider, files=ALLOWED))
    result = CliRunner().invoke(main, ["chat", "fake:inline", "hi", "-u", f"{base}/cat.png"], obj=cli_state)
    assert result.exit_code == 0, result.output
    sent = provider.last_request.messages[0].files
    assert sent is not None and sent.files[0].to_bytes() == PNG and state.hits == ["/cat.png"]
    result = CliRunner().invoke(main, ["chat", "fake:inline", "hi", "-u", "ftp://example.com/x.png"], obj=cli_state)
    assert result.exit_code == 2 and "not an http(s) URL" in result.output
    with pytest.raises(ValidationError):
        FileContent.from_url("gopher://x", "image")


def test_ingestion_never_fetches_urls_inside_files(
    web: tuple[Web, str], provider: FakeProvider, make_host: MakeHost, tmp_path: Any
) -> None:
    from genai_commons.knowledge.loaders import Loader
    from genai_commons.knowledge.pipeline import ingest_documents

    state, base = web
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "page.html").write_text(
        f'<html><head><link rel="stylesheet" href="{base}/style.css"><script src="{base}/x.js"></script></head>'
        f'<body><img src="{base}/cat.png"><iframe src="{base}/page.html"></iframe><a href="{base}/paper.pdf">paper'
        "</a> about cats</body></html>"
    )
    (docs / "notes.md").write_text(f"# Cats\n\n![a cat]({base}/cat.png) and [a paper]({base}/paper.pdf).\n")
    (docs / "links.txt").write_text(f"see {base}/cat.png\n")
    report = ingest_documents(make_host(provider, files=ALLOWED), "fake:docs", Loader().load([docs]))
    assert report.files == 3 and report.inserted >= 3 and not report.skipped
    assert state.hits == []
