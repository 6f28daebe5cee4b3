"""``genai agent invoke``: one turn with a hosted agent (Bedrock Agents), its text streamed as it
arrives, its traces on request."""

from __future__ import annotations

import uuid

import click

from ..model import AgentRequest, AgentTextChunk, AgentTrace
from ._common import bad_arguments, read_prompt, unstructure, verbosity, write_out
from ._state import CliState, echo_json, pass_state


def _agent_ref(_ctx: click.Context, param: click.Parameter, value: str) -> str:
    provider, sep, agent_id = value.partition(":")
    if not sep or not provider.strip() or not agent_id.strip():
        raise click.BadParameter(f"{value!r} is not an agent reference; use PROVIDER:AGENT_ID", param=param)
    return value


def _pairs(_ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for value in values:
        key, sep, item = value.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{value!r} must be KEY=VALUE", param=param)
        pairs[key.strip()] = item
    return pairs


def _trace_line(trace: AgentTrace) -> str:
    line = f"[trace] {trace.step}"
    return f"{line}: {trace.rationale}" if trace.rationale else line


@click.group("agent")
def agent_group() -> None:
    """Hosted agents (for example Bedrock Agents)."""


@agent_group.command("invoke")
@click.argument("agent", metavar="PROVIDER:AGENT_ID", callback=_agent_ref)
@click.argument("text")
@click.option(
    "--alias", "alias_id", metavar="ID", help="The agent alias to invoke (the provider's default if not given)."
)
@click.option(
    "--session", "session_id", metavar="ID", help="Continue this session (give the id a previous turn printed)."
)
@click.option("--trace", "enable_trace", is_flag=True, help="Print the agent's reasoning steps to standard error.")
@click.option("--end-session", is_flag=True, help="End the session after this turn.")
@click.option(
    "--session-attribute", "session_attributes", multiple=True, metavar="KEY=VALUE", callback=_pairs,
    help="A session attribute (repeatable).",
)  # fmt: skip
@click.option(
    "--prompt-attribute", "prompt_session_attributes", multiple=True, metavar="KEY=VALUE", callback=_pairs,
    help="A prompt-session attribute (repeatable).",
)  # fmt: skip
@click.option(
    "--json", "as_json", is_flag=True, help="Print the assembled response (text, references, traces) as JSON."
)
@pass_state
def invoke_command(
    state: CliState,
    *,
    agent: str,
    text: str,
    alias_id: str | None,
    session_id: str | None,
    enable_trace: bool,
    end_session: bool,
    session_attributes: dict[str, str],
    prompt_session_attributes: dict[str, str],
    as_json: bool,
) -> None:
    """Send TEXT to AGENT and print its answer as it arrives.

    TEXT may be - to read it from standard input. With --trace, each step of the agent's reasoning
    goes to standard error; with -v, the session id does too, to continue the conversation.
    """
    with bad_arguments():
        request = AgentRequest(
            input_text=read_prompt(text, "TEXT"),
            session_id=session_id or uuid.uuid4().hex,
            enable_trace=enable_trace,
            end_session=end_session,
            session_attributes=session_attributes,
            prompt_session_attributes=prompt_session_attributes,
        )
    target = state.host.agent(agent, alias_id=alias_id)
    if as_json:
        echo_json(unstructure(state.host.invoke_agent(target, request)))
        return
    printed = False
    for event in state.host.stream_agent(target, request):
        if isinstance(event, AgentTextChunk) and event.text:
            write_out(event.text)
            printed = True
        elif isinstance(event, AgentTrace) and enable_trace:
            click.echo(_trace_line(event), err=True)
    if printed:
        click.echo()
    if verbosity():
        click.echo(f"session: {request.session_id}", err=True)
