"""The forms a chat call's input may take, turned into one :class:`Request`.

``host.chat`` (and ``achat``, ``stream``, ``astream``) take a prompt string, a :class:`Request`, or
a list of OpenAI-style messages, plus the keyword parameters of
:class:`~genai_commons.model.openai_format.ChatParams`. Anything else is a
:class:`~genai_commons.ValidationError` at the call, naming the argument and what it expects.
The usual forms (a string or a Request, no keyword parameters) cost two type checks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

from .errors import ValidationError
from .model.chat import Message, Request
from .model.files import FileCollection

__all__ = ["ChatInput", "to_request"]

#: What a chat call's ``request`` argument may be.
ChatInput: TypeAlias = Request | str | Sequence[Mapping[str, Any] | Message]


def to_request(value: object, files: FileCollection | None, params: Mapping[str, Any]) -> Request:
    """The request of a chat call's ``request`` argument, ``files`` and keyword parameters."""
    if isinstance(value, str):
        if files is not None and not isinstance(files, FileCollection):
            raise ValidationError(f"files must be a FileCollection, got a {type(files).__name__}")
        request = Request.from_prompt(value, files=files)
    elif isinstance(value, Request):
        if files is not None:
            raise ValidationError("pass files inside the request's messages when you pass a Request")
        request = value
    elif isinstance(value, list | tuple):
        if files is not None:
            raise ValidationError("pass images inside the messages (image_url parts) when you pass a message list")
        from .model.openai_format import request_from_openai  # noqa: PLC0415 - only for message lists

        return request_from_openai(value, params)
    else:
        from .model.openai_format import kind_of  # noqa: PLC0415

        raise ValidationError(
            "request must be a prompt string, a Request or a list of messages such as "
            f"[{{'role': 'user', 'content': 'Hi'}}], got {kind_of(value)}"
        )
    if params:
        from .model.openai_format import apply_params  # noqa: PLC0415

        return apply_params(request, params)
    return request
