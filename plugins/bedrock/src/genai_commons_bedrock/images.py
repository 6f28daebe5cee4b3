"""Image generation through InvokeModel: Amazon Titan Image Generator (v1, v2) and Amazon Nova
Canvas, which share one request shape (``TEXT_IMAGE`` with an ``imageGenerationConfig``). The
images come back as PNG files on the response's assistant message (``Response.generated_images()``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from genai_commons import (
    ContentFilteredError,
    DeployedModel,
    FileCollection,
    FileContent,
    FileType,
    ImageOptions,
    Message,
    Response,
    Role,
    ServiceUnavailableError,
    UnsupportedCapabilityError,
    ValidationError,
)

from .errors import PROVIDER
from .families import Wire, family_of
from .invoke import invoke_json

MAX_IMAGES = 5
CFG_SCALE = (1.1, 10.0)
MAX_SEED = {Wire.TITAN_IMAGE: 2_147_483_646, Wire.NOVA_CANVAS: 858_993_459}


def image_body(prompt: str, options: ImageOptions, wire: Wire) -> dict[str, Any]:
    """The InvokeModel body of one text-to-image call; out-of-range options fail before the call."""
    if options.number_of_images > MAX_IMAGES:
        raise ValidationError(f"Titan Image Generator and Nova Canvas make at most {MAX_IMAGES} images a call")
    if (options.width is None) != (options.height is None):
        raise ValidationError("give both width and height, or neither (the model's default is 1024 x 1024)")
    config: dict[str, Any] = {"numberOfImages": options.number_of_images}
    if options.width is not None and options.height is not None:
        config["width"] = options.width
        config["height"] = options.height
    if options.cfg_scale is not None:
        low, high = CFG_SCALE
        if not low <= options.cfg_scale <= high:
            raise ValidationError(f"cfg_scale must be from {low} to {high} for this model, got {options.cfg_scale}")
        config["cfgScale"] = options.cfg_scale
    if options.seed is not None:
        if options.seed > MAX_SEED[wire]:
            raise ValidationError(f"seed must be at most {MAX_SEED[wire]} for this model, got {options.seed}")
        config["seed"] = options.seed
    return {"taskType": "TEXT_IMAGE", "textToImageParams": {"text": prompt}, "imageGenerationConfig": config}


def image_response(data: Mapping[str, Any], model: DeployedModel) -> Response:
    """The core response holding the generated images."""
    if data.get("error"):
        raise ContentFilteredError(
            f"model {model.ref} generated no image: {data['error']}; change the prompt",
            provider=PROVIDER,
            body=str(data["error"]),
        )
    images = data.get("images")
    if not isinstance(images, list) or not images:
        raise ServiceUnavailableError(f"model {model.ref} answered without images; try again", provider=PROVIDER)
    try:
        files = FileCollection(
            files=[FileContent(file_type=FileType.IMAGE, data=image, extension="png") for image in images]
        )
    except (TypeError, ValidationError) as exc:
        raise ServiceUnavailableError(
            f"model {model.ref} answered with an image that is not base64; try again", provider=PROVIDER
        ) from exc
    return Response(message=Message(role=Role.ASSISTANT, files=files), model_id=model.model_id)


def generate_image(
    client: Any, model: DeployedModel, prompt: str, options: ImageOptions, *, region: str | None
) -> Response:
    """Generate ``options.number_of_images`` images of ``prompt`` with ``model``."""
    wire = family_of(model.model_id).wire
    if wire not in (Wire.TITAN_IMAGE, Wire.NOVA_CANVAS):
        raise UnsupportedCapabilityError(
            f"model {model.ref} is not an image model this plugin can call; use Amazon Titan Image Generator or "
            "Amazon Nova Canvas (or invoke_model with the model's own request body)",
            target=model.ref,
            capability="image generation",
        )
    data, _ = invoke_json(client, model.model_id, image_body(prompt, options, wire), region=region)
    return image_response(data, model)
