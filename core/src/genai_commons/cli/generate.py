"""``genai embed`` and ``genai image``: embeddings of a text, images from a description."""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from ..errors import GenAIError
from ..model import EmbeddingPurpose, EmbeddingsOptions, FileContent, ImageOptions
from ._common import bad_arguments, model_ref, read_prompt, unstructure
from ._state import CliState, echo_json, pass_state

_SAME_EXTENSION = {"jpeg": "jpg", "tif": "tiff"}


def short_float(value: float) -> float:
    """The shortest decimal that reads back as the same 32-bit float (``0.1``, not ``0.10000000149``)."""
    packed = struct.pack("f", value)
    for digits in range(6, 10):
        candidate = float(f"{value:.{digits}g}")
        try:
            if struct.pack("f", candidate) == packed:
                return candidate
        except (OverflowError, struct.error):
            continue
    return value


def vector_json(vector: Sequence[float]) -> str:
    """A vector as a one-line JSON list."""
    return json.dumps([short_float(v) for v in vector])


@click.command("embed")
@click.argument("model", metavar="PROVIDER:MODEL", callback=model_ref)
@click.argument("text")
@click.option("-d", "--dimensions", type=int, metavar="N", help="Shorten the vector to N dimensions (some models).")
@click.option(
    "--purpose",
    type=click.Choice([p.value for p in EmbeddingPurpose]),
    default=EmbeddingPurpose.DOCUMENT.value,
    show_default=True,
    help="Embed a document to store, or a query to search with.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the whole embeddings response as JSON.")
@pass_state
def embed_command(
    state: CliState, *, model: str, text: str, dimensions: int | None, purpose: str, as_json: bool
) -> None:
    """Embed TEXT with MODEL (PROVIDER:MODEL) and print the vector.

    TEXT may be - to read standard input. Prints the number of dimensions, then the vector as a
    JSON list on one line.
    """
    text = read_prompt(text, "TEXT")
    with bad_arguments():
        options = EmbeddingsOptions(dimensions=dimensions, purpose=purpose)
    result = state.host.embed(model, text, options)
    if as_json:
        echo_json(unstructure(result))
        return
    vector = result.first_vector()
    click.echo(f"dimensions: {len(vector)}")
    click.echo(vector_json(vector))


def image_path(output: Path, index: int, extension: str | None) -> Path:
    """Where image ``index`` (from 0) goes: ``output``, then ``stem-2.ext``, ``stem-3.ext``, …

    When ``output`` has no extension, the image's own extension is added.
    """
    suffix = output.suffix or (f".{extension}" if extension else "")
    stem = output.stem if output.suffix else output.name
    name = f"{stem}{suffix}" if index == 0 else f"{stem}-{index + 1}{suffix}"
    return output.with_name(name)


def _check_targets(paths: list[Path], force: bool) -> None:
    directories = [str(p) for p in paths if p.is_dir()]
    if directories:
        raise click.BadParameter(f"{', '.join(directories)} is a directory", param_hint="'-o' / '--output'")
    existing = [str(p) for p in paths if p.exists()]
    if existing and not force:
        raise click.BadParameter(
            f"{', '.join(existing)} already exist(s); use --force to overwrite", param_hint="'-o' / '--output'"
        )


def _warn_extension(path: Path, image: FileContent) -> None:
    wanted = path.suffix.lower().lstrip(".")
    actual = image.extension
    if wanted and actual and _SAME_EXTENSION.get(wanted, wanted) != _SAME_EXTENSION.get(actual, actual):
        click.echo(f"warning: {path} holds a {actual} image, whatever its name says", err=True)


@click.command("image")
@click.argument("model", metavar="PROVIDER:MODEL", callback=model_ref)
@click.argument("prompt")
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="File to write; more images go to FILE-2.ext, FILE-3.ext, ...",
)
@click.option("--width", type=int, metavar="W", help="Width in pixels.")
@click.option("--height", type=int, metavar="H", help="Height in pixels.")
@click.option("-n", "--count", type=int, default=1, show_default=True, metavar="N", help="Number of images, 1 to 10.")
@click.option("--seed", type=int, metavar="S", help="Seed of the random generator, for reproducible images.")
@click.option("--cfg-scale", type=float, metavar="X", help="Prompt adherence against creative randomness, 0 to 50.")
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
@click.option("--json", "as_json", is_flag=True, help="Print the files written and the usage as JSON.")
@pass_state
def image_command(
    state: CliState,
    *,
    model: str,
    prompt: str,
    output: Path,
    width: int | None,
    height: int | None,
    count: int,
    seed: int | None,
    cfg_scale: float | None,
    force: bool,
    as_json: bool,
) -> None:
    """Generate images of PROMPT with MODEL (PROVIDER:MODEL) into files.

    PROMPT may be - to read standard input. Prints the path of each file written. An image the
    provider returns as a URL is not downloaded; its URL is printed instead.
    """
    prompt = read_prompt(prompt)
    with bad_arguments():
        options = ImageOptions(width=width, height=height, number_of_images=count, seed=seed, cfg_scale=cfg_scale)
    if not output.parent.is_dir():
        raise click.BadParameter(f"directory {str(output.parent)!r} does not exist", param_hint="'-o' / '--output'")
    if output.suffix:
        _check_targets([image_path(output, i, None) for i in range(count)], force)
    response = state.host.generate_image(model, prompt, options)
    images = response.generated_images()
    if not images:
        raise GenAIError(f"model {model} returned no image; try another prompt")
    inline = [image for image in images if image.data is not None]
    paths = [image_path(output, i, image.extension) for i, image in enumerate(inline)]
    _check_targets(paths, force)
    for path, image in zip(paths, inline, strict=True):
        _warn_extension(path, image)
        path.write_bytes(image.to_bytes())
    urls = [image.url for image in images if image.url is not None]
    if as_json:
        data: dict[str, Any] = {"files": [str(p) for p in paths], "urls": urls}
        usage = unstructure(response)
        usage.pop("message", None)
        echo_json({**data, **usage})
        return
    for line in [*map(str, paths), *urls]:
        click.echo(line)
