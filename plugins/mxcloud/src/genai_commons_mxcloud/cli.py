"""``genai mxcloud``: connection keys (import, list, test, remove) and the monthly quota report.

Added to ``genai`` by the entry point ``mxcloud`` in the group ``genai_commons.cli``. Keys are
secrets: no command prints one.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from genai_commons import ConfigurationError, GenAIError, UnknownModelError
from genai_commons.cli import CliState, pass_state

if TYPE_CHECKING:
    from .keys import ConnectionKey
    from .plugin import MxCloudProvider

__all__ = ["mxcloud_group"]


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def table(rows: list[list[str]], headers: list[str]) -> str:
    """Left-aligned columns separated by two spaces."""
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers) - 1)]
    return "\n".join(
        "  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)), row[-1]]).rstrip()
        for row in [headers, *rows]
    )


def _provider(state: CliState) -> MxCloudProvider:
    from .plugin import MxCloudProvider  # noqa: PLC0415

    for plugin in state.host.plugin_manager.get_plugins():
        if isinstance(plugin, MxCloudProvider):
            return plugin
    raise UnknownModelError(
        "the mxcloud provider is not loaded: check `genai plugins` (is it blocked in [plugins] or GENAI_PLUGINS_BLOCK?)"
    )


def _refs(key: ConnectionKey) -> list[str]:
    from .keys import KeyType  # noqa: PLC0415

    if key.key_type is KeyType.KNOWLEDGE_BASE:
        assert key.embeddings is not None
        return [f"mxcloud:{key.name}/COLLECTION", f"mxcloud:{key.embeddings.name}"]
    return [f"mxcloud:{key.name}"]


@click.group("mxcloud")
def mxcloud_group() -> None:
    """Mendix Cloud GenAI: connection keys and the monthly quota."""


@mxcloud_group.group("key")
def key_group() -> None:
    """Connection keys from the Mendix Cloud GenAI portal."""


@key_group.command("import")
@click.argument("key", required=False, metavar="KEY|-")
@click.option("--file", "file", type=click.Path(dir_okay=False, path_type=Path), help="Read the key from a file.")
@click.option("--from-env", is_flag=True, help="Read the key from GENAI_MXCLOUD_KEY.")
@click.option("--name", metavar="NAME", help="Name it (default: the key's name in the portal).")
@pass_state
def import_command(state: CliState, *, key: str | None, file: Path | None, from_env: bool, name: str | None) -> None:
    """Check a connection key and keep it in the key store.

    KEY is the base64 text the portal shows once, or - to read it from standard input (safer than
    an argument, which the shell may remember). The key goes to the key store, mxcloud-keys.json
    in the genai home unless [providers.mxcloud] key_store names another file; it is written with
    permissions 0600, and the command says where it is. Later commands find the key there.
    """
    from .keys import ENV_KEY, ConnectionKey  # noqa: PLC0415
    from .settings import DEFAULT_KEY_STORE  # noqa: PLC0415

    given = [k for k in (key is not None, file is not None, from_env) if k]
    if len(given) != 1:
        raise click.UsageError("give the key as KEY, - (standard input), --file PATH or --from-env; exactly one")
    if file is not None:
        parsed = ConnectionKey.from_file(file, name=name)
    elif from_env:
        found = state.host.config.environ.get(ENV_KEY, "")
        parsed = ConnectionKey.parse(found, name=name, where=ENV_KEY)
    else:
        assert key is not None
        text = sys.stdin.read() if key == "-" else key
        parsed = ConnectionKey.parse(text, name=name, where="standard input" if key == "-" else "the key")
    provider = _provider(state)
    store = provider.key_store
    if store is None:
        raise ConfigurationError(
            'the key store is turned off (key_store = "" in [providers.mxcloud]), so the key is not kept: remove '
            f"that setting to keep keys in {state.host.config.home / DEFAULT_KEY_STORE}, or set {ENV_KEY} instead"
        )
    replaced = store.add(parsed)
    provider.reload_keys()
    verb = "replaced" if replaced else "imported"
    click.echo(
        f"{verb} key {parsed.name!r} ({parsed.key_type.label}, {parsed.model or 'no model named'}) in {store.path}"
        " (readable by you only)"
    )
    click.echo(f"use it as {' and '.join(_refs(parsed))}")


def _key_rows(provider: MxCloudProvider) -> list[dict[str, Any]]:
    rows = []
    for entry in provider.catalog.entries.values():
        key = entry.key
        rows.append(
            {
                "name": key.name,
                "type": key.key_type.value,
                "model": key.model or (key.embeddings.model if key.embeddings else ""),
                "refs": _refs(key),
                "host": key.host,
                "environment": key.environment,
                "source": entry.source,
                "monthly_tokens": provider.mx_settings.monthly_tokens.get(key.name),
            }
        )
    return sorted(rows, key=lambda r: r["name"])


@key_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@pass_state
def list_command(state: CliState, as_json: bool) -> None:
    """List the known keys (never their secrets), and the keys that could not be read."""
    provider = _provider(state)
    rows = _key_rows(provider)
    problems = [{"source": source, "error": error} for source, error in provider.catalog.problems]
    if as_json:
        echo_json({"keys": rows, "problems": problems})
        return
    if rows:
        cells = [[r["name"], r["type"], r["model"] or "-", r["source"], r["host"], " ".join(r["refs"])] for r in rows]
        click.echo(table(cells, ["NAME", "TYPE", "MODEL", "SOURCE", "HOST", "USE AS"]))
    else:
        click.echo("no keys; import one with `genai mxcloud key import -` or set GENAI_MXCLOUD_KEY", err=True)
    for problem in problems:
        click.echo(f"warning: {problem['source']}: {problem['error']}", err=True)


def _test_key(state: CliState, key: ConnectionKey) -> str:
    """What the portal's "Test key" does: a short chat, one embedding, or a throw-away collection."""
    import uuid  # noqa: PLC0415

    from genai_commons import ChunkCollection, Request  # noqa: PLC0415

    from .keys import KeyType  # noqa: PLC0415

    host = state.host
    if key.key_type is KeyType.TEXT_GENERATION:
        reply = host.chat(f"mxcloud:{key.name}", Request.create(max_tokens=10).with_message("user", "Hello World!"))
        return f"chat answered {reply.output_tokens or 0} tokens"
    if key.key_type is KeyType.EMBEDDINGS_GENERATION:
        vector = host.embed(f"mxcloud:{key.name}", "Hello World!").first_vector()
        return f"embedding of {len(vector)} dimensions"
    collection = f"genai-key-test-{uuid.uuid4().hex[:12]}"
    kb = host.knowledge_base(f"mxcloud:{key.name}/{collection}")
    chunks = ChunkCollection().add_knowledge_base_chunk("Hello World!", "key test", source_id="key-test")
    host.ingest(kb, chunks)
    existed = host.drop_collection(kb)
    return f"created and deleted collection {collection!r}" + ("" if existed else " (it was already gone)")


@key_group.command("test")
@click.argument("name")
@pass_state
def test_command(state: CliState, name: str) -> None:
    """Check that key NAME works, as the portal's "Test key" does: chat "Hello World!" (10 tokens
    at most), embed one text, or create and delete a throw-away knowledge-base collection."""
    provider = _provider(state)
    entry = provider.catalog.entries.get(name)
    if entry is None:
        known = ", ".join(sorted(provider.catalog.entries)) or "none"
        raise UnknownModelError(f"no key named {name!r} (known: {known}); see `genai mxcloud key list`")
    started = time.perf_counter()
    try:
        outcome = _test_key(state, entry.key)
    except GenAIError as exc:
        raise GenAIError(f"key {name!r} failed its test: {exc}") from exc
    click.echo(f"key {name!r} works: {outcome} ({(time.perf_counter() - started) * 1000:.0f} ms)")


@key_group.command("remove")
@click.argument("name")
@pass_state
def remove_command(state: CliState, name: str) -> None:
    """Remove key NAME from the key store."""
    provider = _provider(state)
    store = provider.key_store
    entry = provider.catalog.entries.get(name)
    if store is not None and store.remove(name):
        provider.reload_keys()
        click.echo(f"removed key {name!r} from {store.path}")
        return
    if entry is not None:
        raise ConfigurationError(f"key {name!r} comes from {entry.source}, not from the key store: remove it there")
    raise UnknownModelError(f"no key named {name!r}; see `genai mxcloud key list`")


@mxcloud_group.command("quota")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@pass_state
def quota_command(state: CliState, as_json: bool) -> None:
    """This month's token consumption per key against its entitlement.

    Consumption is read from the usage store ([usage] store = true); entitlements come from
    [providers.mxcloud.monthly_tokens]. The Mendix Cloud GenAI portal remains the authority.
    """
    provider = _provider(state)
    names = [m.model_id for m in provider.models()]
    lines = provider.quota.report(names)
    if as_json:
        echo_json([line.as_dict() for line in lines])
        return
    if not lines:
        click.echo("no keys and no usage this month", err=True)
        return
    cells = []
    for line in lines:
        entitlement = f"{line.entitlement:,}" if line.entitlement is not None else "-"
        share = f"{line.share:.1%}" if line.share is not None else "-"
        cells.append([line.key, f"{line.used_tokens:,}", entitlement, share, str(line.calls)])
    click.echo(f"since {lines[0].since:%Y-%m-%d} (UTC)")
    click.echo(table(cells, ["KEY", "USED TOKENS", "MONTHLY TOKENS", "USED", "CALLS"]))
    if not state.host.config.usage.store:
        click.echo("note: [usage] store is off, so only this process's calls count; turn it on to keep usage", err=True)
