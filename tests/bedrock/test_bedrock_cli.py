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
from click.testing import CliRunner, Result
from conftest import CLAUDE, NOVA_CANVAS, TITAN_EMBED
from genai_commons_bedrock.testing import LocalBedrockServer

from genai_commons.cli import main


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
    assert "bedrock:amazon.nova-pro-v1:0" in models.stdout
    assert "model_listing_failed" in models.stderr
