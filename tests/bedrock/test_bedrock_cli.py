"""The ``genai`` command with the Bedrock plugin, found through its entry point, against the local
Bedrock-compatible server named by the standard endpoint variables."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from bedrock_models import CLAUDE, NOVA_CANVAS, TITAN_EMBED
from click.testing import CliRunner, Result

from genai_commons.cli import main
from genai_commons_bedrock.testing import Document, LocalBedrockServer


@pytest.fixture
def cli_env(
    server_env: LocalBedrockServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    monkeypatch.setenv("GENAI_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GENAI_PLUGINS_ALLOW", "bedrock")
    yield {key: value for key, value in os.environ.items() if key.startswith(("AWS_", "GENAI_"))}
    structlog.reset_defaults()  # the command configured logging for the process


def genai(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_chat_and_stream(cli_env: dict[str, str], server_env: LocalBedrockServer) -> None:
    result = genai("chat", f"bedrock:{CLAUDE}", "Hello from the CLI", "-s", "Be brief", "--max-tokens", "50")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "You said: Hello from the CLI"
    sent = server_env.service.requests[-1].body
    assert sent["system"] == [{"text": "Be brief"}] and sent["inferenceConfig"] == {"maxTokens": 50}
    streamed = genai("chat", f"bedrock:{CLAUDE}", "stream it", "--stream")
    assert streamed.exit_code == 0 and streamed.stdout == "You said: stream it\n"
    assert server_env.service.requests[-1].operation == "converse_stream"


def test_chat_with_an_image_file(cli_env: dict[str, str], tmp_path: Path) -> None:
    image = tmp_path / "chart.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 8)
    result = genai("chat", f"bedrock:{CLAUDE}", "What is this?", "-f", str(image))
    assert result.exit_code == 0 and result.stdout.strip() == "You said: What is this? [with 1 image(s)]"


def test_errors_are_one_line_with_advice(cli_env: dict[str, str], server_env: LocalBedrockServer) -> None:
    server_env.service.fail_next("permission")
    result = CliRunner().invoke(main, ["chat", f"bedrock:{CLAUDE}", "hi"])
    assert result.exit_code == 1
    assert "error: Bedrock refused model" in result.stderr and "Model access" in result.stderr


def test_embed_and_image(cli_env: dict[str, str], tmp_path: Path, server_env: LocalBedrockServer) -> None:
    result = genai("embed", f"bedrock:{TITAN_EMBED}", "hello world", "--dimensions", "256")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "dimensions: 256" and len(json.loads(lines[1])) == 256
    query = genai("embed", "bedrock:cohere.embed-english-v3", "find me", "--purpose", "query")
    assert query.exit_code == 0 and server_env.service.requests[-1].body["input_type"] == "search_query"
    out = tmp_path / "square.png"
    made = genai("image", f"bedrock:{NOVA_CANVAS}", "a red square", "-o", str(out), "-n", "2", "--width", "128",
                 "--height", "128", "--seed", "4")  # fmt: skip
    assert made.exit_code == 0, made.output
    assert made.stdout.split() == [str(out), str(tmp_path / "square-2.png")]
    assert out.read_bytes().startswith(b"\x89PNG")


def test_models(cli_env: dict[str, str]) -> None:
    result = genai("models", "--provider", "bedrock")
    assert result.exit_code == 0, result.output
    assert f"bedrock:{CLAUDE}" in result.stdout and "Claude 3 Haiku" in result.stdout
    data = json.loads(genai("models", "--provider", "bedrock", "--json").stdout)
    by_ref = {m["ref"]: m for m in data}
    assert by_ref["bedrock:amazon.titan-image-generator-v1"]["lifecycle"] == "LEGACY"
    assert by_ref[f"bedrock:{TITAN_EMBED}"]["output_modality"] == "embeddings"


def test_the_installed_command_in_a_fresh_process(cli_env: dict[str, str]) -> None:
    genai_bin = Path(sys.executable).with_name("genai")
    done = subprocess.run(
        [str(genai_bin), "models", "--provider", "bedrock"],
        env={**cli_env, "PATH": os.environ.get("PATH", "")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "bedrock:amazon.nova-canvas-v1:0" in done.stdout
    assert done.stderr == ""


def test_models_without_credentials_or_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENAI_HOME", str(tmp_path))
    monkeypatch.setenv("GENAI_PLUGINS_ALLOW", "bedrock")
    try:
        plugins = CliRunner().invoke(main, ["plugins"])
        assert plugins.exit_code == 0 and "bedrock" in plugins.stdout
        models = CliRunner().invoke(main, ["models", "--provider", "bedrock"])
    finally:
        structlog.reset_defaults()
    assert models.exit_code == 0
    assert "bedrock:amazon.nova-pro-v1:0" in models.stdout and "(inactive)" in models.stdout
    assert models.stderr == "", "AWS not set up is routine: no warning"


# -- knowledge bases and agents ------------------------------------------------------------------


@pytest.fixture
def handbook(cli_env: dict[str, str], server_env: LocalBedrockServer) -> LocalBedrockServer:
    """A knowledge base and an agent on the server; ``handbook`` configured as a name for it."""
    service = server_env.service
    service.add_knowledge_base(
        "handbook",
        [
            Document(uri="s3://docs/oncall.md", text="The on-call rotation changes every Monday.",
                     metadata={"team": "platform"}),
            Document(uri="s3://docs/lunch.md", text="Lunch is at noon.", metadata={"team": "office"}),
        ],
        knowledge_base_id="KBHANDBOOK",
    )  # fmt: skip
    service.add_agent("AGENT00001", knowledge_base_id="KBHANDBOOK")
    home = Path(cli_env["GENAI_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(
        "[providers.bedrock]\ningestion_poll_interval = 0.01\n\n"
        '[knowledge_bases.handbook]\nprovider = "bedrock"\ncollection = "KBHANDBOOK"\n'
    )
    return server_env


def test_kb_list_search_and_ask(handbook: LocalBedrockServer) -> None:
    listed = genai("kb", "list")
    assert listed.exit_code == 0, listed.output
    assert "bedrock:handbook  KBHANDBOOK" in listed.stdout
    found = genai("kb", "search", "handbook", "on-call rotation", "-k", "2", "--filter", "team=platform")
    assert found.exit_code == 0, found.output
    assert found.stdout.splitlines()[:3] == [
        "1. 0.655  oncall.md",
        "   The on-call rotation changes every Monday.",
        "   s3://docs/oncall.md",
    ]
    assert "lunch" not in found.stdout
    sent = handbook.service.calls("retrieve")[-1]
    assert sent.path == {"knowledgeBaseId": "KBHANDBOOK"}
    assert sent.body["retrievalConfiguration"]["vectorSearchConfiguration"]["filter"] == {
        "equals": {"key": "team", "value": "platform"}
    }
    asked = genai("kb", "ask", "bedrock:KBHANDBOOK", "When does the on-call rotation change?", "--model",
                  f"bedrock:{CLAUDE}")  # fmt: skip
    assert asked.exit_code == 0, asked.output
    assert asked.stdout.startswith("The on-call rotation changes every Monday.")
    assert "References:\n[1] oncall.md - s3://docs/oncall.md" in asked.stdout
    as_json = json.loads(genai("kb", "ask", "handbook", "lunch?", "--model", f"bedrock:{CLAUDE}", "--json").stdout)
    assert as_json["session_id"] and as_json["references"][0]["source"] == "s3://docs/lunch.md"


def test_kb_ingest_without_a_path_and_kb_sync(handbook: LocalBedrockServer) -> None:
    handbook.service.knowledge.put_document("KBHANDBOOK", Document(uri="s3://docs/new.md", text="Parking is free."))
    synced = genai("kb", "ingest", "handbook")
    assert synced.exit_code == 0, synced.output
    assert "complete (3 scanned, 1 added, 0 modified, 0 deleted, 0 failed)" in synced.stdout
    assert synced.stdout.endswith("synced bedrock:handbook: 1 job(s) finished\n")
    assert "Parking is free." in genai("kb", "search", "handbook", "parking free").stdout
    started = genai("kb", "sync", "bedrock:handbook", "--no-wait", "--json")
    assert started.exit_code == 0, started.output
    (job,) = json.loads(started.stdout)["jobs"]
    assert job["status"] == "starting" and job["data_source_id"]
    conflict = CliRunner().invoke(main, ["kb", "sync", "handbook"])
    assert conflict.exit_code == 1 and "already running" in conflict.stderr


def test_agent_invoke(handbook: LocalBedrockServer) -> None:
    result = genai("-v", "agent", "invoke", "bedrock:AGENT00001", "When does the rotation change?", "--trace",
                   "--session", "s-1", "--session-attribute", "user=ann")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout == "The on-call rotation changes every Monday. [session: user=ann]\n"
    assert "[trace] orchestration: Look the question up in the knowledge base." in result.stderr
    assert "session: s-1" in result.stderr
    sent = handbook.service.calls("invoke_agent")[-1]
    assert sent.path == {"agentId": "AGENT00001", "agentAliasId": "TSTALIASID", "sessionId": "s-1"}
    data = json.loads(genai("agent", "invoke", "bedrock:AGENT00001", "rotation?", "--alias", "TSTALIASID",
                            "--json").stdout)  # fmt: skip
    assert data["references"][0]["source"] == "s3://docs/oncall.md"
    missing = CliRunner().invoke(main, ["agent", "invoke", "bedrock:NOAGENT001", "hi"])
    assert missing.exit_code == 1 and "Check the agent id and the alias id" in missing.stderr
