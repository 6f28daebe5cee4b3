"""``genai kb``: ingest files into a knowledge base, search it, ask it, list and delete; sync a
knowledge base that ingests from its own data source (Bedrock).

NAME is a knowledge base: ``PROVIDER:NAME``, a name configured in ``[knowledge_bases.NAME]``, or
any other name, which is a collection of that name in the default knowledge-base provider
(``local``) with the default embedding model, created by its first ingestion.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import click

from ..errors import GenAIError
from ._common import bad_arguments, model_ref, read_prompt, table, unstructure
from ._state import CliState, echo_json, pass_state

if TYPE_CHECKING:
    from ..host import Host
    from ..knowledge.pipeline import IngestReport
    from ..model import KnowledgeBase, KnowledgeBaseChunk, SyncResult
    from ..model.retrieval import Filter


def pairs(_ctx: click.Context, param: click.Parameter, values: Sequence[str]) -> dict[str, str]:
    """``KEY=VALUE`` options as a mapping (the last value of a key wins)."""
    found: dict[str, str] = {}
    for value in values:
        key, sep, item = value.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{value!r} is not KEY=VALUE", param=param)
        found[key.strip()] = item
    return found


def kb_name(_ctx: click.Context, param: click.Parameter, value: str) -> str:
    """Check a knowledge-base NAME: a name, or ``PROVIDER:NAME`` with both parts given."""
    provider, sep, name = value.partition(":")
    if not value.strip() or (sep and (not provider.strip() or not name.strip())):
        raise click.BadParameter(
            f"{value!r} is not a knowledge-base name; use NAME or PROVIDER:NAME, for example local:notes "
            "(see `genai kb list`)",
            param=param,
        )
    return value


def optional_model_ref(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """:func:`model_ref` for an optional option."""
    return None if value is None else model_ref(ctx, param, value)


def metadata_filter(values: dict[str, str]) -> Filter | None:
    """Exact-match filters (every pair must match), or None."""
    from ..model.retrieval import exact_match  # noqa: PLC0415

    return exact_match(values) if values else None


#: ``--search-type`` of ``kb search`` and ``kb ask``.
search_type_option = click.option(
    "--search-type",
    type=click.Choice(["vector", "keyword", "hybrid"]),
    help="Rank by embedding similarity, by keywords (BM25, embeds nothing) or both fused "
    "(default: [knowledge] search_type where the knowledge base offers it).",
)


def rerank_ref(ctx: click.Context, param: click.Parameter, value: str | None) -> str | Literal[False] | None:
    """``--rerank``: a model reference, ``none`` (False: no reranking, whatever the configuration
    says), or None when not given (``[knowledge] rerank_model`` applies)."""
    if value is None:
        return None
    if value.strip().lower() == "none":
        return False
    return model_ref(ctx, param, value)


#: ``--rerank`` and ``--rerank-candidates`` of ``kb search`` and ``kb ask``.
def rerank_options(command: Any) -> Any:
    command = click.option(
        "--rerank-candidates",
        type=click.IntRange(1, 10_000),
        metavar="N",
        help="Chunks to retrieve for the reranker to keep -k of (default: [knowledge] rerank_candidates, "
        "else max(4k, 20)).",
    )(command)
    return click.option(
        "--rerank",
        callback=rerank_ref,
        metavar="PROVIDER:MODEL",
        help="Re-score the candidates with a rerank model or a chat model and keep the -k best "
        "(default: [knowledge] rerank_model; none: no reranking).",
    )(command)


def _knowledge_base(host: Host, name: str, embedding_model: str | None = None) -> KnowledgeBase:
    """The knowledge base NAME; ``embedding_model`` applies to a collection that does not exist yet."""
    return host.knowledge_base(name, embedding_model=embedding_model)


@click.group("kb")
def kb_group() -> None:
    """Knowledge bases: ingest files, search, ask, list, delete, sync."""


# -- ingest -------------------------------------------------------------------------------------


def _print_report(kb: KnowledgeBase, report: IngestReport) -> None:
    for item in report.skipped:
        click.echo(f"skipped {item.source}: {item.reason}", err=True)
    sources = f"{report.documents} document(s)" + (f" from {report.files} file(s)" if report.files else "")
    click.echo(f"ingested {sources} into {kb.ref}")
    notes = [f"{report.sources_replaced} source(s) replaced"] if report.sources_replaced else []
    if report.sources_deleted:
        notes.append(f"{report.sources_deleted} source(s) gone")
    replaced = f" ({', '.join(notes)})" if notes else ""
    click.echo(f"chunks: {report.inserted} inserted, {report.unchanged} unchanged, {report.deleted} deleted{replaced}")
    click.echo(f"tokens: {report.tokens:,} in {report.calls} ingest call(s), {report.duration_s:.1f} s")
    if report.skipped:
        click.echo(f"skipped: {len(report.skipped)} (see above)")


@kb_group.command("ingest")
@click.argument("name", callback=kb_name)
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path), metavar="[PATH...]")
@click.option(
    "--embedding-model",
    metavar="PROVIDER:MODEL",
    callback=optional_model_ref,
    help="Embedding model of a new knowledge base (default: [knowledge] default_embedding_model).",
)
@click.option(
    "--strategy",
    type=click.Choice(["fixed", "tokens", "markdown", "none"]),
    default="markdown",
    show_default=True,
    help="Chunking: fixed characters, tokens, Markdown sections (paragraphs for other text), or one chunk per file.",
)
@click.option("--chunk-size", type=int, metavar="N", help="Most characters (fixed) or tokens of a chunk.")
@click.option("--overlap", type=int, metavar="N", help="Characters or tokens that consecutive windows share.")
@click.option("--metadata", multiple=True, callback=pairs, metavar="KEY=VALUE", help="Metadata of every chunk.")
@click.option("--include", multiple=True, metavar="GLOB", help="Read only files matching GLOB (repeatable).")
@click.option("--exclude", multiple=True, metavar="GLOB", help="Leave out files and directories matching GLOB.")
@click.option(
    "--mode",
    type=click.Choice(["insert", "replace", "repopulate"]),
    default="insert",
    show_default=True,
    help="insert: write what changed; replace: rewrite every source given; repopulate: empty the collection first.",
)
@click.option(
    "--append-only",
    is_flag=True,
    help="Keep the chunks of files that are gone from PATH (default: delete them, a sync).",
)
@click.option("--base-url", metavar="URL", help="Source links are URL/RELATIVE-PATH instead of file:// URIs.")
@click.option("--text-field", default="text", show_default=True, help="JSON Lines: the field holding the text.")
@click.option("--id-field", default="id", show_default=True, help="JSON Lines: the field identifying a record.")
@click.option("--metadata-field", multiple=True, metavar="FIELD", help="JSON Lines: a field kept as metadata.")
@click.option("--json", "as_json", is_flag=True, help="Print the ingestion report as JSON.")
@pass_state
def ingest_command(
    state: CliState,
    *,
    name: str,
    paths: tuple[Path, ...],
    embedding_model: str | None,
    strategy: str,
    chunk_size: int | None,
    overlap: int | None,
    metadata: dict[str, str],
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    mode: str,
    append_only: bool,
    base_url: str | None,
    text_field: str,
    id_field: str,
    metadata_field: tuple[str, ...],
    as_json: bool,
) -> None:
    """Chunk, embed and store the files under PATH... in knowledge base NAME.

    Directories are read recursively: text, Markdown, HTML, PDF and JSON Lines files. Running the
    same command again writes only what changed, deletes the chunks of files that are gone from
    PATH (unless --append-only), and finishes an interrupted ingestion. Without
    PATH, a knowledge base that reads its own data source (Bedrock) ingests from it: see
    `genai kb sync`.
    """
    if not paths:
        _only_with_paths(
            embedding_model=embedding_model, strategy=strategy != "markdown", chunk_size=chunk_size,
            overlap=overlap, metadata=metadata, include=include, exclude=exclude, mode=mode != "insert",
            append_only=append_only, base_url=base_url, text_field=text_field != "text", id_field=id_field != "id",
            metadata_field=metadata_field,
        )  # fmt: skip
        _sync(state, name, None, wait=True, as_json=as_json)
        return
    from ..knowledge.chunking import Chunker  # noqa: PLC0415
    from ..knowledge.loaders import Loader, RecordFields  # noqa: PLC0415
    from ..knowledge.pipeline import Ingestor  # noqa: PLC0415
    from ..knowledge.sync import check_metadata  # noqa: PLC0415

    with bad_arguments():
        chunker = Chunker(strategy=strategy, size=chunk_size, overlap=overlap)
        loader = Loader(
            include=include,
            exclude=exclude,
            base_url=base_url,
            records=RecordFields(text=text_field, id=id_field or None, metadata=metadata_field),
        )
    host = state.host
    kb = _knowledge_base(host, name, embedding_model)
    with bad_arguments():
        check_metadata(metadata)
        ingestor = Ingestor(host, kb, chunker=chunker, metadata=metadata, on_wait=lambda _kb: _waiting(name))
    report = ingestor.ingest_paths(paths, loader=loader, mode=mode, sync=not append_only)
    if as_json:
        echo_json({"knowledge_base": kb.ref, **unstructure(report)})
    else:
        _print_report(kb, report)
    if not report.documents:
        raise GenAIError(f"nothing to ingest in {', '.join(map(str, paths))}: every file was skipped")


def _waiting(name: str) -> None:
    """Another ingestion into the same knowledge base runs: this one waits for it (one line)."""
    click.echo(f"waiting for another ingestion into {name!r} to finish…", err=True)


def _only_with_paths(**given: object) -> None:
    """Refuse the file options when ingest runs without PATH (a sync reads no files)."""
    used = [name for name, value in given.items() if value]
    if used:
        options = ", ".join("--" + name.replace("_", "-") for name in used)
        raise click.UsageError(f"{options} apply to files: give PATH..., or leave them out to sync")


# -- sync -----------------------------------------------------------------------------------------


def _print_sync(kb: KnowledgeBase, result: SyncResult) -> None:
    for job in result.jobs:
        counts = (
            f"{job.documents_scanned} scanned, {job.documents_added} added, {job.documents_modified} modified, "
            f"{job.documents_deleted} deleted, {job.documents_failed} failed"
        )
        click.echo(f"{job.data_source_id}  job {job.job_id}: {job.status.value} ({counts})")
        for reason in job.failure_reasons:
            click.echo(f"   {reason}", err=True)
    state = "finished" if result.finished else "started, still running"
    click.echo(f"synced {kb.ref}: {len(result.jobs)} job(s) {state}")


def _sync(state: CliState, name: str, data_source: str | None, *, wait: bool, as_json: bool) -> None:
    host = state.host
    kb = host.knowledge_base(name)
    result = host.ingest_from_source(kb, data_source, wait=wait)
    if as_json:
        echo_json({"knowledge_base": kb.ref, **unstructure(result)})
    else:
        _print_sync(kb, result)
    if wait and not result.succeeded:
        unfinished = "did not finish in the provider's wait limit" if not result.finished else "failed"
        raise GenAIError(f"the sync of {kb.ref} {unfinished}; see the jobs above")


@kb_group.command("sync")
@click.argument("name", callback=kb_name)
@click.option("--data-source", metavar="ID", help="Ingest from this data source only (default: every one).")
@click.option("--no-wait", is_flag=True, help="Return once the ingestion started, without waiting for it.")
@click.option("--json", "as_json", is_flag=True, help="Print the jobs as JSON.")
@pass_state
def sync_command(state: CliState, *, name: str, data_source: str | None, no_wait: bool, as_json: bool) -> None:
    """Have knowledge base NAME ingest from its own data source, and wait until it has.

    For knowledge bases that read their documents themselves (Bedrock: an ingestion job per data
    source, which reads its S3 bucket or site again); others take files: `genai kb ingest NAME PATH`.
    """
    _sync(state, name, data_source, wait=not no_wait, as_json=as_json)


# -- search and ask -------------------------------------------------------------------------------


def _one_line(text: str, width: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _print_chunks(chunks: Iterable[KnowledgeBaseChunk], numbered: bool) -> None:
    for index, chunk in enumerate(chunks, start=1):
        score = f"{chunk.similarity:.3f}  " if chunk.similarity is not None else ""
        head = f"{index}. " if numbered else ""
        click.echo(f"{head}{score}{chunk.human_readable_id or chunk.chunk_id}")
        click.echo(f"   {_one_line(chunk.input_text)}")
        url = chunk.metadata.get("sourceUrl")
        if url:
            click.echo(f"   {url}")


@kb_group.command("search")
@click.argument("name", callback=kb_name)
@click.argument("query")
@click.option("-k", "k", type=int, default=5, show_default=True, help="How many chunks to return.")
@click.option("--min-similarity", type=float, metavar="X", help="Leave out chunks less similar than X (-1 to 1).")
@click.option("--filter", "filters", multiple=True, callback=pairs, metavar="KEY=VALUE", help="Metadata must match.")
@search_type_option
@rerank_options
@click.option("--json", "as_json", is_flag=True, help="Print the retrieval result as JSON.")
@pass_state
def search_command(
    state: CliState,
    *,
    name: str,
    query: str,
    k: int,
    min_similarity: float | None,
    filters: dict[str, str],
    search_type: str | None,
    rerank: str | Literal[False] | None,
    rerank_candidates: int | None,
    as_json: bool,
) -> None:
    """Print the chunks of knowledge base NAME most relevant to QUERY, best first.

    QUERY may be - to read standard input.
    """
    from ..model.retrieval import RetrievalQuery  # noqa: PLC0415

    text = read_prompt(query, "QUERY")
    with bad_arguments():
        retrieval = RetrievalQuery(
            text=text, k=k, min_similarity=min_similarity, filter=metadata_filter(filters), search_type=search_type
        )
    result = state.host.retrieve(name, retrieval, rerank=rerank, rerank_candidates=rerank_candidates)
    if as_json:
        echo_json(unstructure(result))
        return
    if not result.chunks:
        click.echo("no chunks matched", err=True)
        return
    _print_chunks(result.chunks, numbered=True)


@kb_group.command("ask")
@click.argument("name", callback=kb_name)
@click.argument("question")
@click.option("--model", "model", required=True, metavar="PROVIDER:MODEL", callback=model_ref, help="Chat model.")
@click.option("-k", "k", type=int, default=5, show_default=True, help="How many chunks to give the model.")
@click.option("--filter", "filters", multiple=True, callback=pairs, metavar="KEY=VALUE", help="Metadata must match.")
@search_type_option
@rerank_options
@click.option(
    "--min-similarity",
    type=float,
    metavar="X",
    help="Leave out chunks less similar than X (-1 to 1) before the model sees them.",
)
@click.option(
    "--all-references",
    is_flag=True,
    help="List every chunk given to the model, not only those the answer cites.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the response (with the references listed) as JSON.")
@pass_state
def ask_command(
    state: CliState,
    *,
    name: str,
    question: str,
    model: str,
    k: int,
    filters: dict[str, str],
    search_type: str | None,
    rerank: str | Literal[False] | None,
    rerank_candidates: int | None,
    min_similarity: float | None,
    all_references: bool,
    as_json: bool,
) -> None:
    """Answer QUESTION from knowledge base NAME with a chat model, then list the references the
    answer cites (every chunk given to the model with --all-references), numbered as the answer's
    [n] markers.

    QUESTION may be - to read standard input.
    """
    from ..knowledge.rag import numbered_references  # noqa: PLC0415

    text = read_prompt(question, "QUESTION")
    with bad_arguments():
        response = state.host.retrieve_and_generate(
            name, text, model=model, k=k, filter=metadata_filter(filters), search_type=search_type,
            rerank=rerank, rerank_candidates=rerank_candidates, min_similarity=min_similarity,
        )  # fmt: skip
    listed = numbered_references(response.references, cited_only=not all_references)
    if as_json:
        data = unstructure(response)
        data["references"] = [{"number": number, **unstructure(reference)} for number, reference in listed]
        echo_json(data)
        return
    click.echo(response.text)
    if listed:
        click.echo("\nReferences:")
        for number, reference in listed:
            where = f" - {reference.source}" if reference.source else ""
            click.echo(f"[{number}] {reference.title or '(untitled)'}{where}")
    elif response.references:
        click.echo(
            f"the answer cites none of the {len(response.references)} references; --all-references lists them",
            err=True,
        )


# -- list, chunks, delete ---------------------------------------------------------------------------


def _kb_data(kb: KnowledgeBase, name: str | None = None) -> dict[str, Any]:
    return {
        "ref": name or kb.ref,
        "provider": kb.provider,
        "collection": kb.collection,
        "embedding_model": kb.embedding_model.ref if kb.embedding_model is not None else None,
        "description": kb.description,
    }


@kb_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@pass_state
def list_command(state: CliState, as_json: bool) -> None:
    """List the knowledge bases of every provider, and those named in the configuration."""
    host = state.host
    rows: list[dict[str, Any]] = []
    for provider in sorted(host.providers()):
        try:
            found = host.knowledge_bases(provider)
        except GenAIError as exc:
            click.echo(f"warning: provider {provider!r} could not list its knowledge bases: {exc}", err=True)
            continue
        rows.extend(_kb_data(kb) for kb in sorted(found, key=lambda kb: kb.name))
    listed = {(row["provider"], row["collection"]) for row in rows}
    for configured in sorted(host.config.knowledge_bases):
        try:
            kb = host.knowledge_base(configured)
        except GenAIError as exc:
            click.echo(f"warning: knowledge base {configured!r} of the configuration: {exc}", err=True)
            continue
        if (kb.provider, kb.collection) not in listed:
            rows.append(_kb_data(kb, configured))
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("no knowledge bases; create one with `genai kb ingest NAME PATH`", err=True)
        return
    cells = [[r["ref"], r["collection"], r["embedding_model"] or "-", r["description"] or ""] for r in rows]
    click.echo(table(cells, ["REF", "COLLECTION", "EMBEDDING MODEL", "DESCRIPTION"]))


def _source_page(
    host: Host, kb: KnowledgeBase, source: str, where: Filter | None, offset: int, limit: int
) -> list[KnowledgeBaseChunk]:
    """A page of one source's chunks. The store orders chunks by source, so the scan stops at the
    first chunk of another source after this one's."""
    page_size, position, skip, seen = 1000, 0, offset, False
    kept: list[KnowledgeBaseChunk] = []
    while len(kept) < limit:
        page = host.list_chunks(kb, where, offset=position, limit=page_size)
        for chunk in page:
            if chunk.source_id != source:
                if seen:
                    return kept
                continue
            seen = True
            if skip:
                skip -= 1
            elif len(kept) < limit:
                kept.append(chunk)
        if len(page) < page_size:
            break
        position += page_size
    return kept


@kb_group.command("chunks")
@click.argument("name", callback=kb_name)
@click.option("--source", metavar="ID", help="Only the chunks of this source object.")
@click.option("--filter", "filters", multiple=True, callback=pairs, metavar="KEY=VALUE", help="Metadata must match.")
@click.option("--offset", type=click.IntRange(min=0), default=0, show_default=True, help="Chunks to skip.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=20, show_default=True, help="Most chunks to print.")
@click.option("--json", "as_json", is_flag=True, help="Print the chunks as JSON.")
@pass_state
def chunks_command(
    state: CliState, *, name: str, source: str | None, filters: dict[str, str], offset: int, limit: int, as_json: bool
) -> None:
    """List the chunks stored in knowledge base NAME, by source object then chunk id."""
    host = state.host
    kb = host.knowledge_base(name)
    where = metadata_filter(filters)
    if source is None:
        chunks = host.list_chunks(kb, where, offset=offset, limit=limit)
    else:
        chunks = _source_page(host, kb, source, where, offset, limit)
    if as_json:
        echo_json([unstructure(chunk) for chunk in chunks])
        return
    if not chunks:
        click.echo("no chunks" + (" at this offset" if offset else ""), err=True)
        return
    for chunk in chunks:
        click.echo(f"{chunk.chunk_id}  {chunk.source_id or '-'}  {chunk.human_readable_id}")
        click.echo(f"   {_one_line(chunk.input_text)}")


@kb_group.command("delete")
@click.argument("name", callback=kb_name)
@click.option("--source", "sources", multiple=True, metavar="ID", help="Delete only this source's chunks (repeatable).")
@click.option("-y", "--yes", is_flag=True, help="Drop the collection without asking.")
@pass_state
def delete_command(state: CliState, *, name: str, sources: tuple[str, ...], yes: bool) -> None:
    """Delete knowledge base NAME (its collection and every chunk), or only some sources' chunks."""
    host = state.host
    kb = host.knowledge_base(name)
    if sources:
        deleted = host.delete_chunks(kb, list(sources))
        click.echo(f"deleted {deleted} chunk(s) of {len(sources)} source(s) from {kb.ref}")
        return
    if not yes:
        click.confirm(f"Delete knowledge base {kb.ref} and every chunk in it?", abort=True, err=True)
    if not host.drop_collection(kb):
        raise GenAIError(f"knowledge base {kb.ref} does not exist; nothing deleted (see `genai kb list`)")
    click.echo(f"deleted knowledge base {kb.ref}")


def register(main: click.Group) -> None:
    """Add ``genai kb`` to the ``genai`` group."""
    main.add_command(kb_group)
