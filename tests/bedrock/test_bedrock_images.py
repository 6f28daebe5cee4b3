"""Image generation (Titan Image Generator, Nova Canvas) and the raw InvokeModel operation."""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Callable
from typing import Any

import pytest
from bedrock_models import CLAUDE, NOVA_CANVAS, TITAN_IMAGE
from botocore.response import StreamingBody
from botocore.stub import Stubber

from genai_commons import (
    BadRequestError,
    ContentFilteredError,
    FileType,
    Host,
    ImageOptions,
    NotFoundError,
    UnsupportedCapabilityError,
    ValidationError,
)
from genai_commons_bedrock import BedrockProvider, InvokeModelResult
from genai_commons_bedrock.testing import LocalBedrock


def _size(png: bytes) -> tuple[int, int]:
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", png[16:24])
    return width, height


@pytest.mark.parametrize("model", [NOVA_CANVAS, TITAN_IMAGE, "amazon.titan-image-generator-v1"])
def test_images_with_every_option(host: Host, service: LocalBedrock, model: str) -> None:
    options = ImageOptions(width=320, height=192, number_of_images=3, seed=42, cfg_scale=6.5)
    response = host.generate_image(f"bedrock:{model}", "a lighthouse at dawn", options)
    images = response.generated_images()
    assert len(images) == 3 and all(i.file_type is FileType.IMAGE and i.extension == "png" for i in images)
    assert {_size(i.to_bytes()) for i in images} == {(320, 192)}
    assert service.requests[0].body == {
        "taskType": "TEXT_IMAGE",
        "textToImageParams": {"text": "a lighthouse at dawn"},
        "imageGenerationConfig": {"numberOfImages": 3, "width": 320, "height": 192, "cfgScale": 6.5, "seed": 42},
    }
    assert response.generated_image() == images[0] and response.model_id == model


def test_defaults_send_only_the_number_of_images(host: Host, service: LocalBedrock) -> None:
    host.generate_image(f"bedrock:{NOVA_CANVAS}", "a red square")
    assert service.requests[0].body["imageGenerationConfig"] == {"numberOfImages": 1}


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        (ImageOptions(number_of_images=6), "at most 5"),
        (ImageOptions(width=512), "both width and height"),
        (ImageOptions(cfg_scale=20.0), "cfg_scale"),
        (ImageOptions(seed=900_000_000), "seed"),
    ],
)
def test_options_out_of_range_fail_before_the_call(
    host: Host, service: LocalBedrock, options: ImageOptions, problem: str
) -> None:
    with pytest.raises(ValidationError, match=problem):
        host.generate_image(f"bedrock:{NOVA_CANVAS}", "x", options)
    assert service.requests == []


def test_a_blocked_prompt_is_content_filtered(host: Host, service: LocalBedrock) -> None:
    with pytest.raises(ContentFilteredError, match="content filter"):
        host.generate_image(f"bedrock:{TITAN_IMAGE}", "something blocked")
    assert len(service.requests) == 1


def test_other_image_models_are_refused(host: Host) -> None:
    with pytest.raises(UnsupportedCapabilityError):
        host.generate_image("bedrock:stability.sd3-large-v1:0", "x")


def test_stubbed_titan_image_request(session: Any, make_host: Callable[..., Host]) -> None:
    host = make_host(BedrockProvider(session=session))
    client = host.plugin_manager.get_plugin("bedrock").clients.client("bedrock-runtime")
    raw = json.dumps({"images": ["iVBORw0KGgo="], "error": None}).encode()
    with Stubber(client) as stub:
        stub.add_response(
            "invoke_model",
            {"body": StreamingBody(io.BytesIO(raw), len(raw)), "contentType": "application/json"},
            {
                "modelId": TITAN_IMAGE,
                "body": b'{"taskType":"TEXT_IMAGE","textToImageParams":{"text":"a cat"},'
                b'"imageGenerationConfig":{"numberOfImages":1,"seed":7}}',
                "contentType": "application/json",
                "accept": "application/json",
            },
        )
        image = host.generate_image(f"bedrock:{TITAN_IMAGE}", "a cat", ImageOptions(seed=7)).generated_image()
        assert image.to_bytes() == b"\x89PNG\r\n\x1a\n"


def test_invoke_model_raw(provider: BedrockProvider, service: LocalBedrock) -> None:
    body = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 50,
        "messages": [{"role": "user", "content": "Hi there"}],
    }
    result = provider.invoke_model(CLAUDE, json.dumps(body))
    assert isinstance(result, InvokeModelResult) and result.content_type == "application/json"
    answer = result.json()
    assert answer["content"][0]["text"] == "You said: Hi there" and answer["stop_reason"] == "end_turn"
    assert (result.input_tokens, result.output_tokens, result.latency_ms) == (2, 4, 1.0)
    assert json.loads(result.text()) == answer
    assert service.requests[0].body == body
    with pytest.raises(BadRequestError, match="does not know the request body"):
        provider.invoke_model("meta.llama3-8b-instruct-v1:0", b'{"prompt": "hi"}')
    service.fail_next("not_found")
    with pytest.raises(NotFoundError, match="not be available in us-east-1 or may be deprecated"):
        provider.invoke_model(CLAUDE, json.dumps(body))


def test_invoke_model_stubbed_with_other_content_types(provider: BedrockProvider) -> None:
    with Stubber(provider.clients.client("bedrock-runtime")) as stub:
        stub.add_response(
            "invoke_model",
            {"body": StreamingBody(io.BytesIO(b"\x00\x01"), 2), "contentType": "application/octet-stream"},
            {"modelId": "custom", "body": b"raw-bytes", "contentType": "text/plain", "accept": "*/*"},
        )
        result = provider.invoke_model("custom", b"raw-bytes", content_type="text/plain", accept="*/*")
    assert result == InvokeModelResult(body=b"\x00\x01", content_type="application/octet-stream")
