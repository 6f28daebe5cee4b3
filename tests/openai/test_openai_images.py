"""Image generation: DALL·E 2 and 3, GPT Image; sizes, counts, quality and style; files back."""

from __future__ import annotations

import asyncio

import pytest

from genai_commons import FileType, ImageOptions, UnsupportedCapabilityError, ValidationError
from genai_commons.testing import UsageRecorder
from genai_commons_openai import OpenAIImageOptions
from genai_commons_openai.testing import FakeOpenAI


def test_gpt_image_returns_png_files_and_token_usage(openai_host, service: FakeOpenAI, recorder: UsageRecorder) -> None:
    host = openai_host()
    response = host.generate_image("openai:gpt-image-1", "a red square", ImageOptions(number_of_images=2))
    images = response.generated_images()
    assert len(images) == 2 and all(i.file_type is FileType.IMAGE and i.extension == "png" for i in images)
    assert images[0].to_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert (response.input_tokens, response.output_tokens) == (3, 544)
    body = service.calls[-1].body
    assert body == {"model": "gpt-image-1", "prompt": "a red square", "n": 2}  # no response_format: always base64
    assert recorder.records[0].operation == "image" and recorder.records[0].output_tokens == 544


def test_dall_e_3_makes_one_image_per_request(openai_host, service: FakeOpenAI) -> None:
    host = openai_host()
    options = OpenAIImageOptions(number_of_images=3, width=1792, height=1024, quality="hd", style="natural")
    response = host.generate_image("openai:dall-e-3", "a lighthouse", options)
    assert len(response.generated_images()) == 3
    assert response.generated_image().text_content == "A detailed picture of a lighthouse"  # revised prompt
    bodies = [c.body for c in service.calls]
    assert len(bodies) == 3
    assert bodies[0] == {
        "model": "dall-e-3",
        "prompt": "a lighthouse",
        "n": 1,
        "size": "1792x1024",
        "response_format": "b64_json",
        "quality": "hd",
        "style": "natural",
    }
    again = asyncio.run(host.agenerate_image("openai:dall-e-3", "a lighthouse", options))
    assert len(again.generated_images()) == 3 and len(service.calls) == 6


def test_quality_and_style_from_the_configuration(openai_host, service: FakeOpenAI) -> None:
    host = openai_host(models={"dall-e-3": {"quality": "hd", "style": "vivid"}})
    host.generate_image("openai:dall-e-3", "a cat")
    assert (service.calls[-1].body["quality"], service.calls[-1].body["style"]) == ("hd", "vivid")
    host.generate_image("openai:dall-e-3", "a cat", OpenAIImageOptions(style="natural"))
    assert service.calls[-1].body["style"] == "natural"


def test_sizes_are_checked_per_model_before_any_request(openai_host, service: FakeOpenAI) -> None:
    host = openai_host()
    with pytest.raises(ValidationError, match="256x256, 512x512, 1024x1024"):
        host.generate_image("openai:dall-e-2", "x", ImageOptions(width=300, height=300))
    with pytest.raises(ValidationError, match="1536x1024"):
        host.generate_image("openai:gpt-image-1", "x", ImageOptions(width=1792, height=1024))
    assert service.calls == []
    host.generate_image("openai:dall-e-2", "x", ImageOptions(width=512))  # one side given: square
    assert service.calls[-1].body["size"] == "512x512"


def test_seed_and_cfg_scale_are_refused(openai_host, service: FakeOpenAI) -> None:
    host = openai_host()
    with pytest.raises(UnsupportedCapabilityError, match="seed"):
        host.generate_image("openai:dall-e-2", "x", ImageOptions(seed=1))
    assert service.calls == []


def test_url_answers_become_url_files(tmp_path) -> None:
    import httpx

    from genai_commons import Config, Host
    from genai_commons_openai import OpenAIProvider

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"created": 1, "data": [{"url": "https://files.example/1.png"}]})

    config = Config.defaults(tmp_path, providers={"openai": {"api_key": "k", "models": {"sdxl": {"output": "image"}}}})
    with Host(config, load_entry_points=False, plugins=[OpenAIProvider(httpx.MockTransport(handler))]) as host:
        image = host.generate_image("openai:sdxl", "x", ImageOptions(width=640, height=480)).generated_image()
    assert image.url == "https://files.example/1.png" and image.data is None


def test_an_answer_without_images_is_malformed(tmp_path) -> None:
    import httpx

    from genai_commons import Config, Host, ProviderError
    from genai_commons_openai import OpenAIProvider

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"created": 1, "data": [{}]})

    config = Config.defaults(tmp_path, providers={"openai": {"api_key": "k"}})
    plugin = OpenAIProvider(httpx.MockTransport(handler))
    with Host(config, load_entry_points=False, plugins=[plugin]) as host, pytest.raises(ProviderError, match="JSON"):
        host.generate_image("openai:dall-e-2", "x")
