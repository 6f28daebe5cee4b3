"""``genai chat``: text, JSON, streaming, attachments, standard input and every kind of error."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from click.testing import CliRunner, Result

from genai_commons import (
    Config,
    DeployedModel,
    Host,
    Provider,
    RateLimitError,
    Request,
    Response,
    RetryPolicy,
    StreamEnd,
    TextDelta,
)
from genai_commons.cli import CliState, main

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


class ChatProvider(Provider):
    name = "talk"
    version = "0.3.0"

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[Request] = []
        self.stream_snapshots: list[str] = []
        self.failure: Exception | None = None

    def models(self) -> list[DeployedModel]:
        return [
            DeployedModel(
                provider="talk",
                model_id="smart",
                display_name="Smart",
                input_modalities=["text", "image", "document"],
                supports_streaming=True,
                supports_function_calling=True,
            ),
            DeployedModel(provider="talk", model_id="anthropic.claude-3:v1:0"),
            DeployedModel(provider="talk", model_id="plain", supports_system_prompt=False),
            DeployedModel(provider="talk", model_id="vectors", output_modality="embeddings"),
        ]

    def chat(self, model: DeployedModel, request: Request) -> Response:
        self.requests.append(request)
        if self.failure is not None:
            raise self.failure
        prompt = request.messages[-1].content
        return Response.of_text(
            f"{model.model_id} says: {prompt}", input_tokens=7, output_tokens=4, stop_reason="end_turn"
        )

    def chat_stream(self, model: DeployedModel, request: Request) -> Iterator[Any]:
        self.requests.append(request)
        for piece in ("Hel", "lo, ", "world"):
            yield TextDelta(text=piece)
            # Resumed only after the CLI handled the delta: what has reached stdout by now?
            self.stream_snapshots.append(_stdout_so_far())
        if self.failure is not None:
            raise self.failure
        yield StreamEnd(stop_reason="end_turn", input_tokens=5, output_tokens=3)


def _stdout_so_far() -> str:
    buffer: Any = sys.stdout.buffer  # CliRunner's in-memory stream: only flushed text is in it
    return bytes(buffer.getvalue()).decode()


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    yield
    structlog.reset_defaults()  # the command configures structlog; leave no trace for other tests


@pytest.fixture
def provider() -> ChatProvider:
    return ChatProvider()


@pytest.fixture
def state(tmp_path: Path, provider: ChatProvider) -> CliState:
    config = Config.defaults(tmp_path, retry=RetryPolicy(max_attempts=1))
    return CliState(host=Host(config, load_entry_points=False, plugins=[provider]))


def run(state: CliState, *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), obj=state, input=stdin)


def assert_error(result: Result, code: int, *fragments: str) -> None:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert result.stdout == ""
    for fragment in fragments:
        assert fragment in result.stderr


# -- answers --------------------------------------------------------------------------------


def test_chat_prints_only_the_text(state: CliState, provider: ChatProvider) -> None:
    result = run(state, "chat", "talk:smart", "Hi there")
    assert result.exit_code == 0, result.output
    assert result.stdout == "smart says: Hi there\n"
    assert result.stderr == ""
    assert provider.requests[0].messages[0].content == "Hi there"


def test_chat_passes_system_temperature_and_max_tokens(state: CliState, provider: ChatProvider) -> None:
    result = run(state, "chat", "talk:smart", "Hi", "--system", "Be brief", "-t", "0.2", "--max-tokens", "50")
    assert result.exit_code == 0, result.output
    request = provider.requests[0]
    assert (request.system_prompt, request.temperature, request.max_tokens) == ("Be brief", 0.2, 50)


def test_chat_json_is_the_response_document(state: CliState) -> None:
    result = run(state, "chat", "talk:smart", "Hi", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["message"] == {
        "role": "assistant",
        "content": "smart says: Hi",
        "files": None,
        "message_type": "text",
        "tool_call_id": None,
        "tool_calls": [],
        "is_error": False,
    }
    assert (data["input_tokens"], data["output_tokens"], data["total_tokens"]) == (7, 4, 11)
    assert data["stop_reason"] == "end_turn"


def test_model_id_with_colons_is_split_at_the_first_colon(state: CliState) -> None:
    result = run(state, "chat", "talk:anthropic.claude-3:v1:0", "Hi")
    assert result.exit_code == 0, result.output
    assert result.stdout == "anthropic.claude-3:v1:0 says: Hi\n"


def test_prompt_from_standard_input(state: CliState, provider: ChatProvider) -> None:
    result = run(state, "chat", "talk:smart", "-", stdin="line one\nline two\n")
    assert result.exit_code == 0, result.output
    assert provider.requests[0].messages[0].content == "line one\nline two"


def test_verbose_puts_the_stop_reason_and_tokens_on_stderr(state: CliState) -> None:
    result = run(state, "-v", "chat", "talk:smart", "Hi")
    assert result.exit_code == 0, result.output
    assert result.stdout == "smart says: Hi\n"
    assert "stop: end_turn; tokens: 7 in, 4 out" in result.stderr


def test_attached_files_reach_the_provider(state: CliState, provider: ChatProvider, tmp_path: Path) -> None:
    image = tmp_path / "cat.png"
    image.write_bytes(PNG)
    document = tmp_path / "notes.txt"
    document.write_text("some notes")
    result = run(state, "chat", "talk:smart", "Describe", "-f", str(image), "--file", str(document))
    assert result.exit_code == 0, result.output
    message = provider.requests[0].messages[0]
    assert message.files is not None
    first, second = message.files
    assert (first.file_type.value, first.extension, first.to_bytes()) == ("image", "png", PNG)
    assert (second.file_type.value, second.extension, second.to_bytes()) == ("document", "txt", b"some notes")
    assert first.text_content == "cat"


# -- streaming ------------------------------------------------------------------------------


def test_stream_prints_each_delta_as_it_arrives(state: CliState, provider: ChatProvider) -> None:
    result = run(state, "chat", "talk:smart", "Hi", "--stream")
    assert result.exit_code == 0, result.output
    assert result.stdout == "Hello, world\n"
    assert provider.stream_snapshots == ["Hel", "Hello, ", "Hello, world"]


def test_stream_json_prints_only_the_assembled_response(state: CliState) -> None:
    result = run(state, "chat", "talk:smart", "Hi", "--stream", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["message"]["content"] == "Hello, world"
    assert (data["input_tokens"], data["output_tokens"], data["stop_reason"]) == (5, 3, "end_turn")


def test_stream_failure_midway_ends_the_line_then_reports(state: CliState, provider: ChatProvider) -> None:
    provider.failure = RateLimitError("throttled by talk; slow down", provider="talk")
    result = run(state, "chat", "talk:smart", "Hi", "--stream")
    assert result.exit_code == 1
    assert result.stdout == "Hello, world\n"
    assert result.stderr == "error: throttled by talk; slow down\n"


# -- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize("ref", ["gpt-4o", ":smart", "talk:", "talk: "])
def test_bad_model_reference_is_a_usage_error(state: CliState, ref: str) -> None:
    assert_error(run(state, "chat", ref, "Hi"), 2, "PROVIDER:MODEL", repr(ref))


def test_temperature_out_of_range_is_a_usage_error(state: CliState, provider: ChatProvider) -> None:
    assert_error(run(state, "chat", "talk:smart", "Hi", "-t", "3"), 2, "temperature must be between 0.0 and 2.0")
    assert provider.requests == []


def test_max_tokens_below_one_is_a_usage_error(state: CliState) -> None:
    assert_error(run(state, "chat", "talk:smart", "Hi", "--max-tokens", "0"), 2, "max_tokens must be at least 1")


def test_missing_attachment_is_a_usage_error(state: CliState, tmp_path: Path) -> None:
    missing = tmp_path / "nope.png"
    assert_error(run(state, "chat", "talk:smart", "Hi", "-f", str(missing)), 2, "--file", "does not exist")


def test_directory_attachment_is_a_usage_error(state: CliState, tmp_path: Path) -> None:
    assert_error(run(state, "chat", "talk:smart", "Hi", "-f", str(tmp_path)), 2, "--file", "is a directory")


def test_empty_prompt_is_a_usage_error(state: CliState) -> None:
    assert_error(run(state, "chat", "talk:smart", "-", stdin="\n"), 2, "standard input is empty")
    assert_error(run(state, "chat", "talk:smart", "  "), 2, "PROMPT is empty")


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["nobody:smart"], ["error: no provider named 'nobody' is installed (installed: talk)"]),
        (["talk:dumb"], ["error: provider 'talk' has no model 'dumb'", "genai models --provider talk"]),
        (["talk:plain", "--stream"], ["error: model talk:plain does not support streaming"]),
        (["talk:plain", "--system", "Be nice"], ["error: model talk:plain does not support system prompts"]),
        (["talk:vectors"], ["error: model talk:vectors produces embeddings, so it cannot be used for chat"]),
    ],
)
def test_host_errors_are_one_line_and_exit_1(state: CliState, args: list[str], fragments: list[str]) -> None:
    result = run(state, "chat", args[0], "Hi", *args[1:])
    assert_error(result, 1, *fragments)
    assert result.stderr.count("\n") == 1


def test_image_to_a_model_without_vision(state: CliState, provider: ChatProvider, tmp_path: Path) -> None:
    image = tmp_path / "cat.png"
    image.write_bytes(PNG)
    result = run(state, "chat", "talk:plain", "Describe", "-f", str(image))
    assert_error(result, 1, "does not support image input (vision)")
    assert provider.requests == []


def test_provider_without_streaming_capability(tmp_path: Path) -> None:
    class NoStream(Provider):
        name = "nostream"

        def models(self) -> list[DeployedModel]:
            return [DeployedModel(provider="nostream", model_id="m", supports_streaming=True)]

        def chat(self, model: DeployedModel, request: Request) -> Response:
            return Response.of_text("ok")

    state = CliState(host=Host(Config.defaults(tmp_path), load_entry_points=False, plugins=[NoStream]))
    assert_error(run(state, "chat", "nostream:m", "Hi", "--stream"), 1, "does not offer streaming chat")


def test_rate_limit_after_retries(state: CliState, provider: ChatProvider) -> None:
    provider.failure = RateLimitError("talk is throttling requests; try again later", provider="talk", status=429)
    result = run(state, "chat", "talk:smart", "Hi")
    assert_error(result, 1)
    assert result.stderr == (
        "error: talk is throttling requests; try again later\n  not retried: [retry] max_attempts is 1\n"
    )
    assert len(provider.requests) == 1


def test_retryable_errors_are_retried_before_failing(tmp_path: Path) -> None:
    provider = ChatProvider()
    provider.failure = RateLimitError("still throttled", provider="talk", retry_after=0)
    policy = RetryPolicy(max_attempts=3, initial_delay=0, max_delay=0)
    state = CliState(host=Host(Config.defaults(tmp_path, retry=policy), load_entry_points=False, plugins=[provider]))
    assert_error(run(state, "chat", "talk:smart", "Hi"), 1, "error: still throttled")
    assert len(provider.requests) == 3
