"""Every provider's loopback fake at once, holding the canary secrets of :mod:`security_canaries`,
and the environment that points the ``genai`` command at them.

* OpenAI and Azure OpenAI: two :class:`FakeOpenAIServer`, each accepting only its canary key;
* Amazon Bedrock: a :class:`LocalBedrockServer` named by the ``AWS_ENDPOINT_URL_*`` variables
  (STS included, for role assumption), accepting only the test's access key id, with a knowledge
  base and an agent; the secret access key and session token are canaries;
* Mendix Cloud GenAI: a :class:`FakeMxCloudServer` whose three connection keys (text, embeddings,
  knowledge base) carry canary tokens;
* OpenSearch: osmem-server behind the OpenSearch stand-in of ``tests/opensearch`` (which records
  every request, headers included), reached with HTTP Basic authentication and a canary password;
* :class:`EchoServer`: a server that answers every request 401 (or another status), quoting the
  credentials it received in the body, as some OpenAI-compatible servers and proxies do.
"""

from __future__ import annotations

import base64
import contextlib
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from security_canaries import CANARIES

from genai_commons.testing.http import HTTPAnswer, HTTPRequest, LoopbackServer
from genai_commons_bedrock.testing import Document, LocalBedrock, LocalBedrockServer
from genai_commons_mxcloud.testing import FakeMxCloud, FakeMxCloudServer, make_key
from genai_commons_openai.testing import FakeOpenAI, FakeOpenAIServer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "opensearch"))

from opensearch_standin import OpenSearchStandIn

__all__ = [
    "ACCESS_KEY_ID",
    "CLAUDE",
    "FOREIGN_PREFIXES",
    "NOVA_CANVAS",
    "OPENSEARCH_USER",
    "TITAN_EMBED",
    "EchoServer",
    "World",
    "basic",
    "clean_environ",
    "start_world",
]

ACCESS_KEY_ID = "AKIAEXAMPLE0SECURITY"
REGION = "us-east-1"
CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"
TITAN_EMBED = "amazon.titan-embed-text-v2:0"
NOVA_CANVAS = "amazon.nova-canvas-v1:0"
OPENSEARCH_USER = "admin"

#: Variables of the machine that would change what the commands do; unset for every test.
FOREIGN_PREFIXES = ("AWS_", "OPENAI_", "AZURE_", "GENAI_")


class EchoServer(LoopbackServer):
    """Answers every request with ``status`` and a body that quotes the credentials it received
    (``Authorization``, ``api-key``, ``x-api-key``, Basic user and password), in the JSON shapes
    the OpenAI and Mendix Cloud clients read."""

    def __init__(self, status: int = 401) -> None:
        super().__init__()
        self.status = status
        self.seen: list[str] = []

    def answer(self, request: HTTPRequest) -> HTTPAnswer:
        quoted = [request.headers.get(name) for name in ("authorization", "api-key", "x-api-key")]
        credentials = [value for value in quoted if value]
        for value in list(credentials):
            if value.lower().startswith("basic "):
                credentials.append(base64.b64decode(value[6:]).decode("utf-8", "replace"))
        said = "; ".join(credentials) or "none"
        self.seen.append(said)
        error = {"message": f"Incorrect API key provided: {said}", "type": "invalid_request_error"}
        body = {
            "error": {**error, "code": "invalid_api_key"},
            "message": f"The API key {said} is invalid.",
            "reason": f"authentication failed for {said}",
        }
        return HTTPAnswer.json(body, status=self.status)


@dataclass
class World:
    """The running fakes; see the module docstring."""

    openai: FakeOpenAIServer
    azure: FakeOpenAIServer
    bedrock: LocalBedrockServer
    mxcloud: FakeMxCloudServer
    opensearch: OpenSearchStandIn
    echo: EchoServer
    #: Mendix Cloud connection keys by name: ``claude``, ``cohere``, ``kb`` and ``revoked``.
    keys: dict[str, str] = field(default_factory=dict)

    def environ(self, home: Path, **overrides: str) -> dict[str, str]:
        """The environment of a ``genai`` command: every provider configured with its canary."""
        environ = {
            "GENAI_HOME": str(home),
            "GENAI_STORE_USAGE_METRICS": "1",
            "GENAI_EMBEDDING_MODEL": "openai:text-embedding-3-small",
            "OPENAI_API_KEY": CANARIES["openai_api_key"],
            "OPENAI_BASE_URL": self.openai.url,
            "AZURE_OPENAI_API_KEY": CANARIES["azure_api_key"],
            "AZURE_OPENAI_ENDPOINT": self.azure.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": CANARIES["aws_secret_access_key"],
            "AWS_SESSION_TOKEN": CANARIES["aws_session_token"],
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_CONFIG_FILE": str(home / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-aws-credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
            **self.bedrock.environ(),
            "GENAI_MXCLOUD_KEY": ",".join(self.keys[name] for name in ("claude", "cohere", "kb")),
            "GENAI_OPENSEARCH_URL": self.opensearch.url,
            "GENAI_OPENSEARCH_USERNAME": OPENSEARCH_USER,
            "GENAI_OPENSEARCH_PASSWORD": CANARIES["opensearch_password"],
        }
        environ.update(overrides)
        return environ

    def config(self, extra: str = "") -> str:
        """``config.toml``: one attempt per call (failures show at once), a key store for
        ``genai mxcloud key import``, the Bedrock knowledge base under a name, and ``extra``."""
        return (
            "[retry]\nmax_attempts = 1\n\n"
            '[providers.mxcloud]\nkey_store = "mxcloud-keys.json"\n\n'
            "[providers.bedrock]\ningestion_poll_interval = 0.01\n" + extra + "\n\n"
            '[knowledge_bases.handbook]\nprovider = "bedrock"\ncollection = "KBHANDBOOK"\n'
        )

    def reset(self) -> None:
        """Forget the requests received so far."""
        self.openai.service.requests.clear()
        self.azure.service.requests.clear()
        self.bedrock.service.requests.clear()
        self.mxcloud.service.requests.clear()
        self.opensearch.reset()
        self.echo.seen.clear()


def _mxcloud_keys(server: FakeMxCloudServer, echo: EchoServer) -> dict[str, str]:
    token = CANARIES["mxcloud_token"]
    service = server.service
    keys = {
        "claude": service.issue_key("TEXT_GENERATION", name="claude", token=f"{token}-t"),
        "cohere": service.issue_key("EMBEDDINGS_GENERATION", name="cohere", token=f"{token}-e"),
        "kb": service.issue_key("KNOWLEDGE_BASE", name="kb", token=f"{token}-k"),
        "revoked": service.issue_key("TEXT_GENERATION", name="revoked", token=CANARIES["mxcloud_revoked_token"]),
        # a key of a service that quotes the key back in its error answers
        "echoed": make_key("TEXT_GENERATION", echo.url, f"{token}-x", name="echoed"),
    }
    service.revoke(CANARIES["mxcloud_revoked_token"])
    return keys


@contextlib.contextmanager
def start_world(opensearch_upstream: str) -> Iterator[World]:
    """Every fake, started; ``opensearch_upstream`` is the URL of an osmem-server (clone)."""
    with contextlib.ExitStack() as stack:
        openai = stack.enter_context(FakeOpenAIServer(FakeOpenAI(api_key=CANARIES["openai_api_key"])))
        azure = stack.enter_context(FakeOpenAIServer(FakeOpenAI(api_key=CANARIES["azure_api_key"])))
        bedrock = stack.enter_context(LocalBedrockServer(LocalBedrock(accepted_access_keys=[ACCESS_KEY_ID])))
        bedrock.service.add_knowledge_base(
            "handbook",
            [Document(uri="s3://docs/oncall.md", text="The on-call rotation changes every Monday.")],
            knowledge_base_id="KBHANDBOOK",
        )
        bedrock.service.add_agent("AGENT00001", knowledge_base_id="KBHANDBOOK")
        mxcloud = stack.enter_context(FakeMxCloudServer(FakeMxCloud(dimensions=16)))
        opensearch = stack.enter_context(OpenSearchStandIn(opensearch_upstream))
        echo = stack.enter_context(EchoServer())
        yield World(
            openai=openai,
            azure=azure,
            bedrock=bedrock,
            mxcloud=mxcloud,
            opensearch=opensearch,
            echo=echo,
            keys=_mxcloud_keys(mxcloud, echo),
        )


def basic(user: str, password: str) -> str:
    """The ``Authorization`` header of HTTP Basic authentication."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def clean_environ(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` without the variables of :data:`FOREIGN_PREFIXES`."""
    return {k: v for k, v in environ.items() if not k.startswith(FOREIGN_PREFIXES)}
