"""Bedrock-specific request options: small frozen classes passed with ``Request.with_options``.

::

    request = Request.from_prompt("Hi").with_options(
        ClaudeOptions(top_k=50),
        GuardrailOptions(identifier="gr-abc123", version="1", trace=True),
    )
"""

from __future__ import annotations

from typing import Literal

from attrs import field, frozen
from attrs.validators import ge, in_, instance_of, matches_re, optional

from genai_commons import ValidationError


def _strings(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        raise ValidationError("expected a list of strings, got a single string")
    return tuple(str(v) for v in value)  # type: ignore[attr-defined]


@frozen(kw_only=True)
class ClaudeOptions:
    """The seed's ``AnthropicClaudeRequest_Extension`` for Anthropic Claude models.

    Sent as Converse ``additionalModelRequestFields``; ignored for models of other families.

    :param top_k: sample only from the ``top_k`` most likely tokens (Claude's ``top_k``).
    :param anthropic_version: the Anthropic API version of the native request
        (``bedrock-2023-05-31``); Bedrock sets it when omitted.
    :param anthropic_beta: beta features to switch on (``anthropic_beta``).
    """

    top_k: int | None = field(default=None, validator=optional([instance_of(int), ge(0)]))
    anthropic_version: str | None = field(default=None, validator=optional(instance_of(str)))
    anthropic_beta: tuple[str, ...] = field(default=(), converter=_strings)

    def request_fields(self) -> dict[str, object]:
        """The ``additionalModelRequestFields`` these options stand for."""
        fields: dict[str, object] = {}
        if self.top_k is not None:
            fields["top_k"] = self.top_k
        if self.anthropic_version:
            fields["anthropic_version"] = self.anthropic_version
        if self.anthropic_beta:
            fields["anthropic_beta"] = list(self.anthropic_beta)
        return fields


@frozen(kw_only=True)
class GuardrailOptions:
    """A Bedrock guardrail applied to the call (Converse ``guardrailConfig``).

    When the guardrail intervenes the response's stop reason is ``content_filtered``
    (``provider_stop_reason`` ``guardrail_intervened``) and its text is the guardrail's message.

    :param identifier: the guardrail's id or ARN.
    :param version: its version (``"1"``, or ``"DRAFT"``).
    :param trace: ask Bedrock for the guardrail's trace.
    :param stream_processing_mode: for streamed calls, ``"sync"`` (checked before sending) or
        ``"async"`` (sent at once, checked in the background); Bedrock's default when None.
    """

    identifier: str = field(validator=matches_re(r"^\S+$"))
    version: str = field(validator=matches_re(r"^(([1-9][0-9]{0,7})|(DRAFT))$"))
    trace: bool = False
    stream_processing_mode: Literal["sync", "async"] | None = field(
        default=None, validator=optional(in_(("sync", "async")))
    )

    def config(self, *, stream: bool) -> dict[str, object]:
        """The ``guardrailConfig`` of a Converse (or, with ``stream``, ConverseStream) call."""
        config: dict[str, object] = {
            "guardrailIdentifier": self.identifier,
            "guardrailVersion": self.version,
            "trace": "enabled" if self.trace else "disabled",
        }
        if stream and self.stream_processing_mode is not None:
            config["streamProcessingMode"] = self.stream_processing_mode
        return config
