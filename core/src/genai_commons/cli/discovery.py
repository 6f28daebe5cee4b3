"""``genai plugins`` and ``genai models``: what is installed, and what it offers."""

from __future__ import annotations

from typing import Any

import click

from ..model import DeployedModel, Modality
from ..plugins import PluginInfo
from ._common import table, unstructure
from ._state import CliState, echo_json, pass_state


def plugin_data(info: PluginInfo) -> dict[str, Any]:
    """A plugin's JSON form, with its capabilities (a property) added."""
    data: dict[str, Any] = unstructure(info)
    data["capabilities"] = sorted(c.value for c in info.capabilities)
    return data


def model_data(model: DeployedModel) -> dict[str, Any]:
    """A deployed model's JSON form, with its reference added."""
    data: dict[str, Any] = {"ref": model.ref}
    data.update(unstructure(model))
    return data


def _features(model: DeployedModel) -> str:
    """The chat features of a text model (tools, streaming, system prompts, history)."""
    flags = (
        []
        if model.output_modality is not Modality.TEXT
        else [
            ("tools", model.supports_function_calling),
            ("streaming", model.supports_streaming),
            ("system", model.supports_system_prompt),
            ("history", model.supports_history),
        ]
    )
    words = [name for name, supported in flags if supported]
    if not model.active:
        words.append("(inactive)")
    return ", ".join(words) or "-"


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@pass_state
def plugins_command(state: CliState, as_json: bool) -> None:
    """List the installed plugins, their capabilities and load errors."""
    infos = state.host.plugins()
    if as_json:
        echo_json([plugin_data(info) for info in infos])
        return
    if not infos:
        click.echo("no plugins installed; install one, for example `pip install genai-commons-openai`", err=True)
        return
    rows = []
    for info in infos:
        if info.error is not None:
            status = f"FAILED: {info.error}"
        else:
            status = ", ".join(sorted(c.value for c in info.capabilities)) or "-"
        providers = ", ".join(p.name for p in info.providers) or "-"
        rows.append([info.name, info.version or "-", info.source, providers, status])
    click.echo(table(rows, ["NAME", "VERSION", "SOURCE", "PROVIDERS", "CAPABILITIES"]))
    failed = sum(1 for info in infos if info.error is not None)
    if failed:
        click.echo(f"{failed} plugin(s) failed to load; the others work", err=True)


@click.command("models")
@click.argument("provider_name", required=False, metavar="[PROVIDER]")
@click.option("-p", "--provider", metavar="NAME", help="Only this provider's models (the same as PROVIDER).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@pass_state
def models_command(state: CliState, provider_name: str | None, provider: str | None, as_json: bool) -> None:
    """List the deployed models the installed providers offer, or PROVIDER's only."""
    if provider_name is not None and provider is not None and provider_name != provider:
        raise click.UsageError(f"two providers given ({provider_name!r} and --provider {provider!r}): give one")
    provider = provider or provider_name
    models = sorted(state.host.models(provider), key=lambda m: m.ref)
    if as_json:
        echo_json([model_data(m) for m in models])
        return
    if not models:
        where = f"provider {provider!r} offers none" if provider else "no installed provider offers any"
        click.echo(f"no models: {where}; see `genai plugins`", err=True)
        return
    rows = [
        [
            m.ref,
            m.display_name,
            m.output_modality.value,
            ", ".join(sorted(x.value for x in m.input_modalities)),
            _features(m),
        ]
        for m in models
    ]
    click.echo(table(rows, ["MODEL", "NAME", "OUTPUT", "INPUT", "FEATURES"]))
