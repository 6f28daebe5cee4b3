"""``genai chat``: one prompt, optionally with files, answered in full or streamed."""

from __future__ import annotations

import sys
from pathlib import Path

import attrs
import click

from ..errors import GenAIError, ValidationError
from ..model import FileCollection, FileContent, Message, Request, Response, Role, TextDelta, ToolExecution
from ..model.files import file_type_of
from ._common import bad_arguments, read_prompt, unstructure, verbosity, write_out
from ._models import model_and_text
from ._state import CliState, echo_json, pass_state


def build_request(
    prompt: str,
    system_prompt: str | None,
    temperature: float | None,
    max_tokens: int | None,
    paths: tuple[Path, ...],
    urls: tuple[str, ...] = (),
) -> Request:
    """The request of one user message; bad values are usage errors in the domain model's words."""
    files = []
    for path in paths:
        with bad_arguments("'-f' / '--file'"):
            files.append(FileContent.from_path(path))
    for url in urls:
        with bad_arguments("'-u' / '--url'"):
            if not url.startswith(("http://", "https://")):
                raise ValidationError(f"{url[:60]!r} is not an http(s) URL; attach local files with -f")
            files.append(FileContent.from_url(url, file_type_of(url)))
    with bad_arguments():
        return Request(
            system_prompt=system_prompt,
            temperature=temperature,
            max_tokens=max_tokens,
            messages=(Message(role=Role.USER, content=prompt, files=FileCollection.of(*files) if files else None),),
        )


def summary(response: Response) -> str:
    """One line about a response for ``-v``: stop reason, tokens and time (never the text)."""
    parts = [f"stop: {response.stop_reason.value if response.stop_reason else 'unknown'}"]
    if response.input_tokens is not None or response.output_tokens is not None:
        parts.append(f"tokens: {response.input_tokens or 0} in, {response.output_tokens or 0} out")
    if response.duration_ms is not None:
        parts.append(f"{response.duration_ms:.0f} ms")
    return "; ".join(parts)


def _stream(state: CliState, model: str, request: Request, as_json: bool) -> Response:
    """Stream the answer; the host runs the tools the model calls and streams every step."""
    return _stream_once(state, model, request, as_json)


def _answer(state: CliState, model: str, request: Request, stream: bool) -> Response:
    """One turn of a conversation, printed (streamed or whole)."""
    if stream:
        return _stream_once(state, model, request, False)
    response = state.host.chat(model, request)
    click.echo(response.text)
    return response


def _stream_once(state: CliState, model: str, request: Request, as_json: bool) -> Response:
    stream = state.host.stream(model, request)
    printed = False
    try:
        for event in stream:
            if isinstance(event, TextDelta) and not as_json and event.text:
                write_out(event.text)
                printed = True
            elif isinstance(event, ToolExecution) and verbosity():
                click.echo(f"[tool {event.call.name}{' failed' if event.is_error else ' ran'}]", err=True)
    except GenAIError:
        if printed:
            click.echo()  # end the partial line, so that the error starts on a line of its own
        raise
    finally:
        stream.close()
    if printed and not as_json:
        click.echo()
    if stream.response is None:  # pragma: no cover - the stream sets it when it ends
        raise GenAIError("the stream ended without a response")
    return stream.response


@click.command("chat")
@click.argument("model", metavar="[MODEL]", required=False)
@click.argument("prompt", required=False)
@click.option("-s", "--system", "system_prompt", metavar="TEXT", help="System prompt (instructions for the model).")
@click.option("-t", "--temperature", type=float, metavar="T", help="Sampling temperature, 0 to 2.")
@click.option("--max-tokens", type=int, metavar="N", help="Most tokens the answer may have.")
@click.option(
    "-f",
    "--file",
    "files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path),
    help="Attach a file (repeatable); images by extension (png, jpg, ...), anything else as a document.",
)
@click.option(
    "-u",
    "--url",
    "urls",
    multiple=True,
    metavar="URL",
    help="Attach a file by its http(s) URL (repeatable). Models that cannot read URLs get it downloaded by the "
    "host, only with [files] fetch_urls = true or GENAI_FETCH_URLS=1.",
)
@click.option(
    "-T",
    "--tool",
    "tools",
    multiple=True,
    metavar="MODULE:FUNCTION",
    help="Offer a Python function as a tool (repeatable): MODULE:FUNCTION or PATH.py:FUNCTION. The host runs it "
    "when the model calls it.",
)
@click.option(
    "--schema",
    metavar="FILE_OR_JSON",
    help="Ask for a JSON answer that follows this JSON Schema (inline JSON or a file); the validated JSON "
    "object is printed.",
)
@click.option("--stream", is_flag=True, help="Print the answer as it arrives.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole response as JSON.")
@click.option(
    "-o",
    "--option",
    "options",
    multiple=True,
    metavar="KEY=VALUE",
    help="A provider option (repeatable), checked by the provider's own option class: -o seed=7 (OpenAI), "
    "-o top_k=50 (Bedrock). VALUE is read as JSON when it is JSON.",
)
@click.option(
    "-i",
    "--interactive",
    is_flag=True,
    help="Without PROMPT, hold a conversation even when standard input is not a terminal.",
)
@pass_state
def chat_command(
    state: CliState,
    *,
    model: str | None,
    prompt: str | None,
    system_prompt: str | None,
    temperature: float | None,
    max_tokens: int | None,
    files: tuple[Path, ...],
    urls: tuple[str, ...],
    tools: tuple[str, ...],
    schema: str | None,
    stream: bool,
    as_json: bool,
    options: tuple[str, ...],
    interactive: bool,
) -> None:
    """Send PROMPT to MODEL (PROVIDER:MODEL or an alias) and print the answer.

    Without MODEL, the [defaults] chat model answers (GENAI_CHAT_MODEL). PROMPT may be - to read
    it from standard input. Only the answer's text goes to standard
    output; with -v the stop reason and token counts go to standard error.
    """
    model, prompt = model_and_text(click.get_current_context(), model, prompt, "chat")
    conversation = prompt is None
    if conversation and not (interactive or sys.stdin.isatty()):
        raise click.UsageError("Missing argument 'PROMPT' (on a terminal, or with -i, a conversation starts).")
    if conversation and (files or urls):
        raise click.UsageError("-f and -u attach files to a PROMPT; a conversation takes text only")
    text = read_prompt(prompt) if prompt is not None else ""
    request = build_request(text, system_prompt, temperature, max_tokens, files, urls)
    if tools:
        from ._tools import load_tool  # noqa: PLC0415

        for reference in tools:
            fn = load_tool(reference)
            with bad_arguments("'-T' / '--tool'"):
                request = request.with_function(fn)
    if options:
        from ._options import provider_options  # noqa: PLC0415

        request = request.with_options(*provider_options(state, model, options))
    if conversation:
        from ._interactive import converse  # noqa: PLC0415

        template = attrs.evolve(request, messages=())
        converse(state, model, template, lambda ref, turn: _answer(state, ref, turn, stream))
        return
    if schema is not None:
        from ._schema import answer_json, with_schema  # noqa: PLC0415

        request = with_schema(request, schema)
    if stream:
        response = _stream(state, model, request, as_json)
    else:
        response = state.host.chat(model, request)
        if not as_json:
            click.echo(response.text if schema is None else answer_json(response.parsed))
    if as_json:
        echo_json(unstructure(response))
    if verbosity():
        click.echo(summary(response), err=True)
