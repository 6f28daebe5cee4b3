"""Errors: HTTP answers, refused connections, timeouts and TLS failures become core errors with
advice, the cause and the cluster's body kept; the host retries the retryable ones."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from opensearch_helpers import chunk, chunks, kb, settings_for
from opensearch_standin import OpenSearchStandIn
from opensearchpy.exceptions import OpenSearchException
from osmem_server import OsmemClone

from genai_commons import (
    AuthenticationError,
    BadRequestError,
    Host,
    IngestMode,
    PermissionDeniedError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
    RetrievalQuery,
    ServiceUnavailableError,
)
from genai_commons_opensearch import OpenSearchProvider


@pytest.fixture
def compass(provider: OpenSearchProvider) -> OpenSearchProvider:
    provider.ingest(kb(), chunks(chunk("a", [1.0, 0.0]), chunk("b", [0.0, 1.0])), IngestMode.INSERT)
    return provider


QUERY = RetrievalQuery(vector=[1.0, 0.0], k=1)


@pytest.mark.parametrize(
    ("status", "kind", "error", "advice"),
    [
        (401, "security_exception", AuthenticationError, "check username and password"),
        (403, "security_exception", PermissionDeniedError, "data access policy"),
        (429, "circuit_breaking_exception", RateLimitError, "overloaded"),
        (503, "cluster_block_exception", ServiceUnavailableError, "the host retries"),
        (400, "search_phase_execution_exception", BadRequestError, "refused the request"),
        (413, "content_too_long", BadRequestError, "lower bulk_max_bytes"),
    ],
)
def test_http_errors_become_core_errors(
    compass: OpenSearchProvider, standin: OpenSearchStandIn, status: int, kind: str, error: type, advice: str
) -> None:
    standin.fail_next(status, kind, "simulated reason", path="_search")
    with pytest.raises(error) as info:
        compass.retrieve(kb(), QUERY)
    raised = info.value
    assert isinstance(raised, ProviderError) and raised.provider == "opensearch"
    assert (raised.status, raised.code) == (status, kind)
    assert advice in str(raised) and "simulated reason" in str(raised)
    assert isinstance(raised.__cause__, OpenSearchException)
    assert '"simulated reason"' in (raised.body or "")


def test_an_unreachable_cluster_is_unavailable(make_provider: Callable[..., OpenSearchProvider]) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    provider = make_provider(url=url)
    with pytest.raises(ServiceUnavailableError, match="GENAI_OPENSEARCH_URL") as info:
        provider.retrieve(kb(), QUERY)
    assert url in str(info.value) and info.value.retryable


def test_a_slow_cluster_times_out(make_provider: Callable[..., OpenSearchProvider], standin: OpenSearchStandIn) -> None:
    provider = make_provider(timeout=0.2)
    standin.fail_next(0, delay=1.0)  # no answer within the timeout
    with pytest.raises(ProviderTimeoutError, match="did not answer in time") as info:
        provider.knowledge_bases()
    assert info.value.retryable


def test_the_host_retries_retryable_errors_once_each(
    make_host: Callable[..., Host], standin: OpenSearchStandIn
) -> None:
    host = make_host()
    host.ingest("opensearch:docs", chunks(chunk("a", [1.0, 0.0] * 4)))
    standin.reset()
    standin.fail_next(503, path="_search")
    assert [c.chunk_id for c in host.retrieve("opensearch:docs", RetrievalQuery(vector=[1.0, 0.0] * 4))] == ["a"]
    assert len(standin.calls("POST", "_search")) == 2
    standin.fail_next(401, path="_search")
    with pytest.raises(AuthenticationError):
        host.retrieve("opensearch:docs", RetrievalQuery(vector=[1.0, 0.0] * 4))
    assert len(standin.calls("POST", "_search")) == 3  # not retried


def test_secrets_stay_out_of_errors_and_reprs(standin: OpenSearchStandIn) -> None:
    provider = OpenSearchProvider()
    provider.configure(settings_for(standin.url, username="admin", password="s3cret-Pa55"))
    standin.fail_next(401, "security_exception", "unauthorized")
    with pytest.raises(AuthenticationError) as info:
        provider.knowledge_bases()
    text = " ".join([str(info.value), repr(info.value), info.value.body or "", repr(provider.opensearch_settings)])
    assert "s3cret-Pa55" not in text
    provider.close()


# -- TLS ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (made with the openssl command)."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    command = (
        "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1"
    )
    subprocess.run(
        [*command.split(), "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def tls_standin(osmem_clone: OsmemClone, certificate: tuple[Path, Path]) -> Iterator[OpenSearchStandIn]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    with OpenSearchStandIn(osmem_clone.url, tls=context) as proxy:
        yield proxy


def make(url: str, **values: Any) -> OpenSearchProvider:
    provider = OpenSearchProvider()
    provider.configure(settings_for(url, **values))
    return provider


def test_tls_with_the_clusters_ca(tls_standin: OpenSearchStandIn, certificate: tuple[Path, Path]) -> None:
    assert tls_standin.url.startswith("https://")
    provider = make(tls_standin.url, ca_certs=str(certificate[0]))
    try:
        assert provider.knowledge_bases() == []
    finally:
        provider.close()


def test_tls_against_an_unknown_ca_says_what_to_set(tls_standin: OpenSearchStandIn) -> None:
    provider = make(tls_standin.url)
    try:
        with pytest.raises(ProviderError, match="set ca_certs") as info:
            provider.knowledge_bases()
        assert not info.value.retryable
    finally:
        provider.close()


@pytest.mark.filterwarnings("ignore::Warning")  # urllib3 and opensearch-py warn about unverified TLS
def test_tls_without_verification(tls_standin: OpenSearchStandIn) -> None:
    provider = make(tls_standin.url, verify_certs=False)
    try:
        assert provider.knowledge_bases() == []
    finally:
        provider.close()
