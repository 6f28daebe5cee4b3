"""``genai embed`` and ``genai image``: output, JSON, files written, and argument errors."""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from click.testing import CliRunner, Result

from genai_commons import (
    ChunkCollection,
    Config,
    DeployedModel,
    EmbeddingsOptions,
    EmbeddingsResponse,
    FileCollection,
    FileContent,
    Host,
    ImageOptions,
    Message,
    Provider,
    Response,
    RetryPolicy,
)
from genai_commons.cli import CliState, main
from genai_commons.cli.generate import image_path, short_float

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


class StudioProvider(Provider):
    name = "studio"

    def __init__(self) -> None:
        super().__init__()
        self.embed_calls: list[tuple[list[str], EmbeddingsOptions]] = []
        self.image_calls: list[tuple[str, ImageOptions]] = []

    def models(self) -> list[DeployedModel]:
        return [
            DeployedModel(provider="studio", model_id="embedder", output_modality="embeddings"),
            DeployedModel(provider="studio", model_id="painter", output_modality="image"),
            DeployedModel(provider="studio", model_id="writer"),
        ]

    def embed(self, model: DeployedModel, chunks: ChunkCollection, options: EmbeddingsOptions) -> EmbeddingsResponse:
        texts = [chunk.input_text for chunk in chunks]
        self.embed_calls.append((texts, options))
        size = options.dimensions or 3
        vectors = [[0.1 * (i + 1) for i in range(size)] for _ in texts]
        return EmbeddingsResponse(chunks=chunks.with_vectors(vectors), input_tokens=2)

    def generate_image(self, model: DeployedModel, prompt: str, options: ImageOptions) -> Response:
        self.image_calls.append((prompt, options))
        files = [
            FileContent.from_bytes(PNG + bytes([i]), "image", extension="png") for i in range(options.number_of_images)
        ]
        return Response(
            message=Message(role="assistant", files=FileCollection.of(*files)), input_tokens=9, output_tokens=0
        )


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    yield
    structlog.reset_defaults()


@pytest.fixture
def provider() -> StudioProvider:
    return StudioProvider()


@pytest.fixture
def state(tmp_path: Path, provider: StudioProvider) -> CliState:
    config = Config.defaults(tmp_path, retry=RetryPolicy(max_attempts=1))
    return CliState(host=Host(config, load_entry_points=False, plugins=[provider]))


def run(state: CliState, *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), obj=state, input=stdin)


def assert_error(result: Result, code: int, *fragments: str) -> None:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.stderr


# -- embed ----------------------------------------------------------------------------------


def test_embed_prints_dimensions_and_vector(state: CliState, provider: StudioProvider) -> None:
    result = run(state, "embed", "studio:embedder", "hello world")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["dimensions: 3", "[0.1, 0.2, 0.3]"]
    texts, options = provider.embed_calls[0]
    assert texts == ["hello world"]
    assert (options.dimensions, options.purpose.value) == (None, "document")


def test_embed_options_and_stdin(state: CliState, provider: StudioProvider) -> None:
    result = run(state, "embed", "studio:embedder", "-", "-d", "2", "--purpose", "query", stdin="what is up\n")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "dimensions: 2"
    texts, options = provider.embed_calls[0]
    assert texts == ["what is up"]
    assert (options.dimensions, options.purpose.value) == (2, "query")


def test_embed_json_is_the_embeddings_response(state: CliState) -> None:
    result = run(state, "embed", "studio:embedder", "hello", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    [chunk] = data["chunks"]["chunks"]
    assert chunk["input_text"] == "hello"
    assert [round(v, 6) for v in chunk["vector"]] == [0.1, 0.2, 0.3]
    assert (data["input_tokens"], data["total_tokens"]) == (2, 2)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--dimensions", "0"], "dimensions must be at least 1"),
        (["--purpose", "search"], "'search' is not one of 'document', 'query'"),
    ],
)
def test_embed_bad_options(state: CliState, provider: StudioProvider, args: list[str], fragment: str) -> None:
    assert_error(run(state, "embed", "studio:embedder", "hi", *args), 2, fragment)
    assert provider.embed_calls == []


def test_embed_with_a_chat_model(state: CliState) -> None:
    assert_error(run(state, "embed", "studio:writer", "hi"), 1, "error: model studio:writer produces text")


def test_short_float_is_the_shortest_exact_float32() -> None:
    assert short_float(0.10000000149011612) == 0.1
    largest = 3.4028234663852886e38  # 6 digits round it past the float32 range: no crash, 8 digits suffice
    assert short_float(largest) == 3.4028235e38
    assert struct.pack("f", short_float(largest)) == struct.pack("f", largest)
    assert short_float(0.0) == 0.0


# -- image ----------------------------------------------------------------------------------


def test_image_writes_the_file_and_prints_its_path(state: CliState, provider: StudioProvider, tmp_path: Path) -> None:
    out = tmp_path / "cat.png"
    result = run(state, "image", "studio:painter", "a cat", "-o", str(out), "--width", "512", "--height", "256")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{out}\n"
    assert out.read_bytes() == PNG + b"\x00"
    prompt, options = provider.image_calls[0]
    assert (prompt, options.width, options.height, options.number_of_images) == ("a cat", 512, 256, 1)


def test_several_images_are_numbered(state: CliState, provider: StudioProvider, tmp_path: Path) -> None:
    out = tmp_path / "cat.png"
    args = ["-o", str(out), "-n", "3", "--seed", "42", "--cfg-scale", "7.5"]
    result = run(state, "image", "studio:painter", "a cat", *args)
    assert result.exit_code == 0, result.output
    expected = [out, tmp_path / "cat-2.png", tmp_path / "cat-3.png"]
    assert result.stdout.splitlines() == [str(p) for p in expected]
    assert [p.read_bytes()[-1] for p in expected] == [0, 1, 2]
    _, options = provider.image_calls[0]
    assert (options.number_of_images, options.seed, options.cfg_scale) == (3, 42, 7.5)


def test_image_json_lists_files_and_usage(state: CliState, tmp_path: Path) -> None:
    out = tmp_path / "cat.png"
    result = run(state, "image", "studio:painter", "a cat", "-o", str(out), "--count", "2", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["files"] == [str(out), str(tmp_path / "cat-2.png")]
    assert data["urls"] == []
    assert (data["input_tokens"], data["output_tokens"]) == (9, 0)
    assert "message" not in data  # no base64 image data on the terminal


def test_image_refuses_to_overwrite_without_force(state: CliState, provider: StudioProvider, tmp_path: Path) -> None:
    out = tmp_path / "cat.png"
    second = tmp_path / "cat-2.png"
    second.write_bytes(b"keep me")
    result = run(state, "image", "studio:painter", "a cat", "-o", str(out), "-n", "2")
    assert_error(result, 2, str(second), "already exist", "--force")
    assert second.read_bytes() == b"keep me"
    assert not out.exists()
    assert provider.image_calls == []  # refused before paying for the images

    result = run(state, "image", "studio:painter", "a cat", "-o", str(out), "-n", "2", "--force")
    assert result.exit_code == 0, result.output
    assert second.read_bytes() == PNG + b"\x01"


def test_image_without_extension_takes_the_image_extension(state: CliState, tmp_path: Path) -> None:
    result = run(state, "image", "studio:painter", "a cat", "-o", str(tmp_path / "cat"), "-n", "2")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [str(tmp_path / "cat.png"), str(tmp_path / "cat-2.png")]


def test_image_path_naming() -> None:
    assert image_path(Path("out/a.b.png"), 0, "jpg") == Path("out/a.b.png")
    assert image_path(Path("out/a.b.png"), 1, "jpg") == Path("out/a.b-2.png")
    assert image_path(Path("out/pic"), 2, "jpg") == Path("out/pic-3.jpg")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["-n", "11"], "number_of_images must be between 1 and 10"),
        (["--width", "0"], "width must be between 1 and 16384"),
        (["--cfg-scale", "99"], "cfg_scale must be between 0.0 and 50.0"),
        (["--seed", "-1"], "seed must be between 0"),
    ],
)
def test_image_bad_options(
    state: CliState, provider: StudioProvider, tmp_path: Path, args: list[str], fragment: str
) -> None:
    assert_error(run(state, "image", "studio:painter", "a cat", "-o", str(tmp_path / "x.png"), *args), 2, fragment)
    assert provider.image_calls == []


def test_image_needs_output_and_an_existing_directory(state: CliState, tmp_path: Path) -> None:
    assert_error(run(state, "image", "studio:painter", "a cat"), 2, "Missing option '-o' / '--output'")
    target = tmp_path / "missing" / "cat.png"
    assert_error(run(state, "image", "studio:painter", "a cat", "-o", str(target)), 2, "does not exist")


def test_image_with_a_chat_model(state: CliState, tmp_path: Path) -> None:
    result = run(state, "image", "studio:writer", "a cat", "-o", str(tmp_path / "x.png"))
    assert_error(result, 1, "error: model studio:writer produces text, so it cannot be used for image generation")


def test_image_from_a_provider_without_image_capability(tmp_path: Path) -> None:
    class Words(Provider):
        name = "words"

        def models(self) -> list[DeployedModel]:
            return [DeployedModel(provider="words", model_id="pic", output_modality="image")]

        def chat(self, model: DeployedModel, request: object) -> Response:  # type: ignore[override]
            return Response.of_text("ok")

    state = CliState(host=Host(Config.defaults(tmp_path), load_entry_points=False, plugins=[Words]))
    result = run(state, "image", "words:pic", "a cat", "-o", str(tmp_path / "x.png"))
    assert_error(result, 1, "provider 'words' does not offer image generation (it offers: chat)")


class OddPainter(Provider):
    """Returns a JPEG when asked for one image, a URL and a JPEG for two, and nothing for three."""

    name = "odd"

    def models(self) -> list[DeployedModel]:
        return [DeployedModel(provider="odd", model_id="pic", output_modality="image")]

    def generate_image(self, model: DeployedModel, prompt: str, options: ImageOptions) -> Response:
        jpeg = FileContent.from_bytes(b"\xff\xd8\xff", "image", extension="jpeg")
        if options.number_of_images == 3:
            return Response.of_text("I would rather not")
        files = [jpeg] if options.number_of_images == 1 else [FileContent.from_url("https://img.example/1.png"), jpeg]
        return Response(message=Message(role="assistant", files=FileCollection.of(*files)))


@pytest.fixture
def odd_state(tmp_path: Path) -> CliState:
    return CliState(host=Host(Config.defaults(tmp_path), load_entry_points=False, plugins=[OddPainter]))


def test_image_urls_are_printed_and_odd_extensions_warned(odd_state: CliState, tmp_path: Path) -> None:
    out = tmp_path / "pic.png"
    result = run(odd_state, "image", "odd:pic", "x", "-o", str(out), "-n", "2")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [str(out), "https://img.example/1.png"]
    assert out.read_bytes() == b"\xff\xd8\xff"
    assert f"warning: {out} holds a jpeg image" in result.stderr

    result = run(odd_state, "image", "odd:pic", "x", "-o", str(tmp_path / "photo.jpg"))
    assert (result.exit_code, result.stderr) == (0, "")  # jpg and jpeg are the same


def test_image_response_without_images(odd_state: CliState, tmp_path: Path) -> None:
    result = run(odd_state, "image", "odd:pic", "x", "-o", str(tmp_path / "pic.png"), "-n", "3")
    assert_error(result, 1, "error: model odd:pic returned no image")
