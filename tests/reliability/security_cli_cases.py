"""The canary cases of every ``genai`` command: what to run, against which fake, and what must
happen (see ``test_security_canary.py``, which fails when a command has no case here).

A case is one or more invocations (set-up steps first, then the command it covers) run with every
provider configured with its canary secret. Failing calls are cases too: a rejected key, a server
error (whose body the error keeps), and a server that quotes the credentials it received. In the
arguments, ``{docs}`` is a directory of documents, ``{home}`` the test's ``GENAI_HOME``,
``{key:NAME}`` the Mendix Cloud connection key ``NAME``, ``{echo}`` the URL of the server that
quotes credentials back, and ``{bad-key}`` and ``{bad-file}`` malformed keys that hold a token.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from security_canaries import CANARIES
from security_world import ACCESS_KEY_ID, CLAUDE, NOVA_CANVAS, OPENSEARCH_USER, TITAN_EMBED, World, basic

__all__ = ["CASES", "Case", "Step"]


@dataclass(frozen=True)
class Step:
    """One invocation of ``genai``; ``env`` overrides the world's environment, ``before`` prepares
    the fakes (a fault for the next request)."""

    args: tuple[str, ...]
    exit_code: int = 0
    env: Mapping[str, str] = field(default_factory=dict)
    before: Callable[[World], None] | None = None
    input: str | None = None


@dataclass(frozen=True)
class Case:
    """Steps whose last one runs the command ``command``; ``verify`` checks that the secret was
    really used (the fake received it), so that a clean output is not clean by accident."""

    command: tuple[str, ...]
    name: str
    steps: tuple[Step, ...]
    config: str = ""
    verify: Callable[[World], None] | None = None

    @property
    def id(self) -> str:
        return f"{' '.join(self.command)}: {self.name}"


def run(
    *args: str,
    exit_code: int = 0,
    env: Mapping[str, str] | None = None,
    before: Callable[[World], None] | None = None,
) -> Step:
    return Step(args=args, exit_code=exit_code, env=env or {}, before=before)


# -- what the fakes must have received ------------------------------------------------------------


def _openai_used(world: World) -> None:
    assert world.openai.service.requests, "no request reached the OpenAI fake"
    assert world.openai.service.requests[-1].headers["authorization"] == f"Bearer {CANARIES['openai_api_key']}"


def _azure_used(world: World) -> None:
    assert world.azure.service.requests, "no request reached the Azure fake"
    assert world.azure.service.requests[-1].headers["api-key"] == CANARIES["azure_api_key"]


def _bedrock_used(world: World) -> None:
    assert world.bedrock.service.requests, "no request reached the Bedrock fake"
    assert world.bedrock.service.requests[-1].access_key_id == ACCESS_KEY_ID


def _role_assumed(world: World) -> None:
    calls = world.bedrock.service.requests
    assert [c.operation for c in calls][:1] == ["assume_role"], [c.operation for c in calls]
    assert calls[0].body["ExternalId"] == [CANARIES["aws_external_id"]]
    assert calls[-1].access_key_id is not None and calls[-1].access_key_id.startswith("ASIA")


def _mxcloud_used(world: World) -> None:
    assert world.mxcloud.service.requests, "no request reached the Mendix Cloud fake"  # it refuses unknown tokens


def _opensearch_used(world: World) -> None:
    assert world.opensearch.requests, "no request reached the OpenSearch stand-in"
    expected = basic(OPENSEARCH_USER, CANARIES["opensearch_password"])
    assert all(r.headers.get("authorization") == expected for r in world.opensearch.requests)


def _echoed(world: World) -> None:
    assert world.echo.seen and world.echo.seen[-1] != "none", "the echo server received no credentials"


# -- faults -------------------------------------------------------------------------------------


def _openai_500(world: World) -> None:
    world.openai.service.fail_next("server_error")


def _azure_500(world: World) -> None:
    world.azure.service.fail_next("server_error")


def _bedrock_500(world: World) -> None:
    world.bedrock.service.fail_next("internal")


def _mxcloud_503(world: World) -> None:
    world.mxcloud.service.fail_next("unavailable")


def _opensearch_401(world: World) -> None:
    world.opensearch.fail_next(401, "security_exception", "missing authentication credentials for REST request")


def _opensearch_500(world: World) -> None:
    world.opensearch.fail_next(500, "exception", "simulated node failure")


WRONG_OPENAI = {"OPENAI_API_KEY": CANARIES["openai_wrong_key"]}
WRONG_AZURE = {"AZURE_OPENAI_API_KEY": CANARIES["azure_wrong_key"]}
WRONG_AWS = {"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE0WRONGKEY"}
ROLE = f'role_arn = "arn:aws:iam::123456789012:role/genai"\nexternal_id = "{CANARIES["aws_external_id"]}"'


def ingest(ref: str, *extra: str) -> Step:
    return run("kb", "ingest", ref, "{docs}", *extra)


# The knowledge bases each kb command is tried on: the local store (embedded by the OpenAI fake),
# OpenSearch and a Mendix Cloud collection; Bedrock's knowledge base reads its own data source.
LOCAL, OPENSEARCH, MXCLOUD = "loc", "opensearch:security", "mxcloud:kb/security"
ECHO_OPENAI = "{echo}/v1"

CASES: tuple[Case, ...] = (
    # discovery
    Case(("plugins",), "table", (run("plugins"),)),
    Case(("plugins",), "json", (run("plugins", "--json"),)),
    Case(("models",), "every provider, json", (run("models", "--json"),), verify=_bedrock_used),
    Case(("models",), "table", (run("models"),)),
    Case(("models",), "mxcloud only", (run("models", "-p", "mxcloud"),)),
    # chat
    Case(("chat",), "openai, json", (run("chat", "openai:gpt-4o-mini", "hello", "--json"),), verify=_openai_used),
    Case(("chat",), "openai, stream", (run("chat", "openai:gpt-4o-mini", "hello", "--stream"),), verify=_openai_used),
    Case(("chat",), "openai, wrong key", (run("chat", "openai:gpt-4o-mini", "hi", exit_code=1, env=WRONG_OPENAI),)),
    Case(
        ("chat",), "openai, server error", (run("chat", "openai:gpt-4o-mini", "hi", exit_code=1, before=_openai_500),)
    ),
    Case(
        ("chat",),
        "openai-compatible server quoting the key",
        (run("chat", "openai:gpt-4o-mini", "hi", exit_code=1, env={"OPENAI_BASE_URL": ECHO_OPENAI}),),
        verify=_echoed,
    ),
    Case(("chat",), "azure, json", (run("chat", "azure:gpt-4o-mini", "hello", "--json"),), verify=_azure_used),
    Case(("chat",), "azure, wrong key", (run("chat", "azure:gpt-4o-mini", "hi", exit_code=1, env=WRONG_AZURE),)),
    Case(("chat",), "azure, server error", (run("chat", "azure:gpt-4o-mini", "hi", exit_code=1, before=_azure_500),)),
    Case(
        ("chat",),
        "azure endpoint quoting the key",
        (run("chat", "azure:gpt-4o-mini", "hi", exit_code=1, env={"AZURE_OPENAI_ENDPOINT": "{echo}"}),),
        verify=_echoed,
    ),
    Case(("chat",), "bedrock", (run("chat", f"bedrock:{CLAUDE}", "hello"),), verify=_bedrock_used),
    Case(("chat",), "bedrock, stream, json", (run("chat", f"bedrock:{CLAUDE}", "hi", "--stream", "--json"),)),
    Case(("chat",), "bedrock, assumed role", (run("chat", f"bedrock:{CLAUDE}", "hello"),), ROLE, _role_assumed),
    Case(("chat",), "bedrock, wrong key", (run("chat", f"bedrock:{CLAUDE}", "hi", exit_code=1, env=WRONG_AWS),)),
    Case(
        ("chat",), "bedrock, server error", (run("chat", f"bedrock:{CLAUDE}", "hi", exit_code=1, before=_bedrock_500),)
    ),
    Case(("chat",), "mxcloud, json", (run("chat", "mxcloud:claude", "hello", "--json"),), verify=_mxcloud_used),
    Case(
        ("chat",),
        "mxcloud, revoked key",
        (run("chat", "mxcloud:revoked", "hi", exit_code=1, env={"GENAI_MXCLOUD_KEY": "{key:revoked}"}),),
    ),
    Case(("chat",), "mxcloud, server error", (run("chat", "mxcloud:claude", "hi", exit_code=1, before=_mxcloud_503),)),
    Case(
        ("chat",),
        "mxcloud service quoting the key",
        (run("chat", "mxcloud:echoed", "hi", exit_code=1, env={"GENAI_MXCLOUD_KEY": "{key:echoed}"}),),
        verify=_echoed,
    ),
    # embed
    Case(
        ("embed",),
        "openai, json",
        (run("embed", "openai:text-embedding-3-small", "hi", "--json"),),
        verify=_openai_used,
    ),
    Case(("embed",), "azure", (run("embed", "azure:text-embedding-3-small", "hi"),), verify=_azure_used),
    Case(("embed",), "bedrock, json", (run("embed", f"bedrock:{TITAN_EMBED}", "hi", "--json"),), verify=_bedrock_used),
    Case(("embed",), "mxcloud", (run("embed", "mxcloud:cohere", "hi"),), verify=_mxcloud_used),
    Case(
        ("embed",),
        "openai, wrong key",
        (run("embed", "openai:text-embedding-3-small", "hi", exit_code=1, env=WRONG_OPENAI),),
    ),
    # image
    Case(
        ("image",),
        "openai, json",
        (run("image", "openai:dall-e-2", "a lighthouse", "-o", "{home}/openai.png", "--json"),),
        verify=_openai_used,
    ),
    Case(("image",), "bedrock", (run("image", f"bedrock:{NOVA_CANVAS}", "a lighthouse", "-o", "{home}/nova.png"),)),
    Case(
        ("image",),
        "openai, server error",
        (run("image", "openai:dall-e-2", "a lighthouse", "-o", "{home}/x.png", exit_code=1, before=_openai_500),),
    ),
    # agents
    Case(
        ("agent", "invoke"),
        "bedrock, trace, json",
        (run("agent", "invoke", "bedrock:AGENT00001", "When does the rotation change?", "--trace", "--json"),),
        verify=_bedrock_used,
    ),
    Case(("agent", "invoke"), "bedrock", (run("agent", "invoke", "bedrock:AGENT00001", "rotation?"),)),
    Case(
        ("agent", "invoke"),
        "bedrock, wrong key",
        (run("agent", "invoke", "bedrock:AGENT00001", "hi", exit_code=1, env=WRONG_AWS),),
    ),
    # knowledge bases
    Case(("kb", "list"), "json", (ingest(OPENSEARCH), run("kb", "list", "--json")), verify=_opensearch_used),
    Case(("kb", "list"), "table", (run("kb", "list"),)),
    Case(("kb", "ingest"), "local, json", (ingest(LOCAL, "--json"),), verify=_openai_used),
    Case(("kb", "ingest"), "opensearch", (ingest(OPENSEARCH),), verify=_opensearch_used),
    Case(("kb", "ingest"), "mxcloud, json", (ingest(MXCLOUD, "--json"),), verify=_mxcloud_used),
    Case(("kb", "ingest"), "bedrock data source", (run("kb", "ingest", "handbook"),), verify=_bedrock_used),
    Case(
        ("kb", "ingest"),
        "opensearch refuses",
        (run("kb", "ingest", OPENSEARCH, "{docs}", exit_code=1, before=_opensearch_401),),
    ),
    Case(
        ("kb", "ingest"),
        "opensearch fails",
        (run("kb", "ingest", OPENSEARCH, "{docs}", exit_code=1, before=_opensearch_500),),
    ),
    Case(
        ("kb", "ingest"),
        "local, embeddings key rejected",
        (run("kb", "ingest", LOCAL, "{docs}", exit_code=1, env=WRONG_OPENAI),),
    ),
    Case(("kb", "search"), "local, json", (ingest(LOCAL), run("kb", "search", LOCAL, "rotation", "--json"))),
    Case(
        ("kb", "search"),
        "opensearch, filter",
        (ingest(OPENSEARCH), run("kb", "search", OPENSEARCH, "rotation", "--filter", "path=a.md")),
        verify=_opensearch_used,
    ),
    Case(("kb", "search"), "mxcloud, json", (ingest(MXCLOUD), run("kb", "search", MXCLOUD, "rotation", "--json"))),
    Case(("kb", "search"), "bedrock", (run("kb", "search", "handbook", "rotation"),), verify=_bedrock_used),
    Case(
        ("kb", "ask"),
        "local with openai, json",
        (ingest(LOCAL), run("kb", "ask", LOCAL, "When?", "--model", "openai:gpt-4o-mini", "--json")),
        verify=_openai_used,
    ),
    Case(("kb", "ask"), "bedrock", (run("kb", "ask", "handbook", "When?", "--model", f"bedrock:{CLAUDE}"),)),
    Case(("kb", "chunks"), "local", (ingest(LOCAL), run("kb", "chunks", LOCAL))),
    Case(("kb", "chunks"), "opensearch, json", (ingest(OPENSEARCH), run("kb", "chunks", OPENSEARCH, "--json"))),
    Case(("kb", "chunks"), "mxcloud", (ingest(MXCLOUD), run("kb", "chunks", MXCLOUD))),
    Case(("kb", "delete"), "local", (ingest(LOCAL), run("kb", "delete", LOCAL, "-y"))),
    Case(("kb", "delete"), "opensearch", (ingest(OPENSEARCH), run("kb", "delete", OPENSEARCH, "-y"))),
    Case(("kb", "delete"), "mxcloud", (ingest(MXCLOUD), run("kb", "delete", MXCLOUD, "--source", "a.md", "-y"))),
    Case(("kb", "sync"), "bedrock, json", (run("kb", "sync", "handbook", "--json"),), verify=_bedrock_used),
    Case(("kb", "sync"), "bedrock, no wait", (run("kb", "sync", "bedrock:handbook", "--no-wait"),)),
    Case(("kb", "sync"), "bedrock, wrong key", (run("kb", "sync", "handbook", exit_code=1, env=WRONG_AWS),)),
    # Mendix Cloud keys
    Case(("mxcloud", "key", "import"), "argument", (run("mxcloud", "key", "import", "{key:claude}", "--name", "c2"),)),
    Case(
        ("mxcloud", "key", "import"),
        "environment",
        (run("mxcloud", "key", "import", "--from-env", env={"GENAI_MXCLOUD_KEY": "{key:claude}"}),),
    ),
    Case(
        ("mxcloud", "key", "import"),
        "standard input",
        (Step(args=("mxcloud", "key", "import", "-"), input="{key:cohere}\n"),),
    ),
    Case(
        ("mxcloud", "key", "import"),
        "malformed key",
        (run("mxcloud", "key", "import", "{bad-key}", exit_code=1),),
    ),
    Case(
        ("mxcloud", "key", "import"),
        "malformed key file",
        (run("mxcloud", "key", "import", "--file", "{bad-file}", exit_code=1),),
    ),
    Case(
        ("mxcloud", "key", "list"),
        "json",
        (run("mxcloud", "key", "import", "{key:kb}"), run("mxcloud", "key", "list", "--json")),
    ),
    Case(("mxcloud", "key", "list"), "table", (run("mxcloud", "key", "list"),)),
    Case(("mxcloud", "key", "test"), "text key", (run("mxcloud", "key", "test", "claude"),), verify=_mxcloud_used),
    Case(("mxcloud", "key", "test"), "knowledge-base key", (run("mxcloud", "key", "test", "kb"),)),
    Case(
        ("mxcloud", "key", "test"),
        "revoked key",
        (run("mxcloud", "key", "test", "revoked", exit_code=1, env={"GENAI_MXCLOUD_KEY": "{key:revoked}"}),),
    ),
    Case(
        ("mxcloud", "key", "remove"),
        "imported key",
        (run("mxcloud", "key", "import", "{key:claude}", "--name", "gone"), run("mxcloud", "key", "remove", "gone")),
    ),
    Case(("mxcloud", "quota"), "json", (run("chat", "mxcloud:claude", "hi"), run("mxcloud", "quota", "--json"))),
    Case(("mxcloud", "quota"), "table", (run("mxcloud", "quota"),)),
    # usage
    Case(
        ("usage", "report"),
        "json after calls of every provider",
        (
            run("chat", "openai:gpt-4o-mini", "hi"),
            run("chat", "azure:gpt-4o-mini", "hi"),
            run("chat", f"bedrock:{CLAUDE}", "hi"),
            run("chat", "mxcloud:claude", "hi"),
            run("usage", "report", "--json"),
        ),
    ),
    Case(
        ("usage", "report"),
        "csv",
        (run("chat", "openai:gpt-4o-mini", "hi"), run("usage", "report", "--csv", "{home}/usage.csv")),
    ),
    Case(
        ("usage", "cleanup"),
        "json",
        (run("chat", "openai:gpt-4o-mini", "hi"), run("usage", "cleanup", "--days", "1", "--json")),
    ),
    Case(("usage", "cleanup"), "text", (run("usage", "cleanup", "--days", "30"),)),
    Case(("usage", "budget"), "json", (run("chat", "openai:gpt-4o-mini", "hi"), run("usage", "budget", "--json"))),
    Case(("usage", "budget"), "table", (run("usage", "budget"),)),
)
