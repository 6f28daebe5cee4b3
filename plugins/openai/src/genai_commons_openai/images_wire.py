"""Image generation (``POST /images/generations``): DALL·E 2, DALL·E 3 and GPT Image models.

Size, count, quality and style come from the :class:`~genai_commons.ImageOptions` (or
:class:`~genai_commons_openai.OpenAIImageOptions`), then from the model's configuration. Images
are asked for as base64 (GPT Image models always answer so) and returned as image files of the
response's assistant message; a server that answers with URLs gives URL files instead. DALL·E 3
makes one image per request, so ``number_of_images`` > 1 becomes that many requests.
"""

from __future__ import annotations

from typing import Any

from genai_commons import (
    FileCollection,
    FileContent,
    FileType,
    ImageOptions,
    Message,
    Response,
    Role,
    UnsupportedCapabilityError,
    ValidationError,
)

from .catalog import DALL_E_2, DALL_E_3, GPT_IMAGE, ModelSpec
from .chat_wire import extension_of, sniff
from .options import OpenAIImageOptions

__all__ = ["SIZES", "image_body", "image_requests", "image_response", "merge_images"]

#: The sizes each images API takes, as (width, height).
SIZES: dict[str, tuple[tuple[int, int], ...]] = {
    DALL_E_2: ((256, 256), (512, 512), (1024, 1024)),
    DALL_E_3: ((1024, 1024), (1792, 1024), (1024, 1792)),
    GPT_IMAGE: ((1024, 1024), (1536, 1024), (1024, 1536)),
}


def _size(spec: ModelSpec, options: ImageOptions, ref: str) -> str | None:
    if options.width is None and options.height is None:
        return None
    width = options.width or options.height
    height = options.height or options.width
    allowed = SIZES.get(spec.image_api or "")
    if allowed is not None and (width, height) not in allowed:
        names = ", ".join(f"{w}x{h}" for w, h in allowed)
        raise ValidationError(f"model {ref} makes images of {names} pixels, not {width}x{height}")
    return f"{width}x{height}"


def image_requests(spec: ModelSpec, options: ImageOptions) -> list[int]:
    """How many images each request asks for (DALL·E 3 takes one per request)."""
    if spec.image_api == DALL_E_3:
        return [1] * options.number_of_images
    return [options.number_of_images]


def image_body(spec: ModelSpec, prompt: str, options: ImageOptions, count: int, ref: str) -> dict[str, Any]:
    """The JSON body of one ``POST /images/generations``."""
    if options.seed is not None or options.cfg_scale is not None:
        raise UnsupportedCapabilityError(
            f"model {ref} takes no seed or cfg_scale; leave them unset",
            target=ref,
            capability="image seed and cfg scale",
        )
    body: dict[str, Any] = {"model": spec.wire_id, "prompt": prompt, "n": count}
    size = _size(spec, options, ref)
    if size is not None:
        body["size"] = size
    if spec.image_api != GPT_IMAGE:
        body["response_format"] = "b64_json"
    extra = options if isinstance(options, OpenAIImageOptions) else None
    quality = (extra.quality if extra else None) or spec.quality
    style = (extra.style if extra else None) or spec.style
    if quality is not None:
        body["quality"] = quality
    if style is not None:
        body["style"] = style
    if extra is not None:
        for name in ("output_format", "background", "user"):
            value = getattr(extra, name)
            if value is not None:
                body[name] = value
    return body


def timeout_of(options: ImageOptions) -> float | None:
    return options.timeout if isinstance(options, OpenAIImageOptions) else None


def _file(item: dict[str, Any]) -> FileContent:
    revised = item.get("revised_prompt")
    data = item.get("b64_json")
    if data:
        extension = extension_of(sniff(data) or "image/png")
        return FileContent(file_type=FileType.IMAGE, data=data, extension=extension, text_content=revised)
    if item.get("url"):
        return FileContent.from_url(item["url"], FileType.IMAGE, text_content=revised)
    raise ValueError("an image item has neither b64_json nor url")


def image_response(data: dict[str, Any]) -> Response:
    """One answer of the images endpoint as a response whose message holds the images."""
    files = [_file(item) for item in data["data"]]
    if not files:
        raise ValueError("the answer holds no image")
    usage = data.get("usage") or {}
    return Response(
        message=Message(role=Role.ASSISTANT, files=FileCollection(files=files)),
        input_tokens=usage.get("input_tokens"),
        output_tokens=usage.get("output_tokens"),
        total_tokens=usage.get("total_tokens"),
        model_id=data.get("model"),
    )


def merge_images(responses: list[Response]) -> Response:
    """The answers of several requests (DALL·E 3) as one response."""
    if len(responses) == 1:
        return responses[0]
    files = [f for r in responses for f in r.generated_files]

    def total(values: list[int | None]) -> int | None:
        known = [v for v in values if v is not None]
        return sum(known) if known else None

    return Response(
        message=Message(role=Role.ASSISTANT, files=FileCollection(files=files)),
        input_tokens=total([r.input_tokens for r in responses]),
        output_tokens=total([r.output_tokens for r in responses]),
        total_tokens=total([r.total_tokens for r in responses]),
        model_id=responses[0].model_id,
    )
