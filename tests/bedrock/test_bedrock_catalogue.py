"""The model catalogue: ListFoundationModels with the seed's filters, mapped to DeployedModels;
configured models, LEGACY warnings, and the built-in list when Bedrock cannot be asked."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from bedrock_models import CLAUDE
from botocore.stub import Stubber
from structlog.testing import capture_logs

from genai_commons import Host, MissingCredentialsError, Modality
from genai_commons_bedrock import BedrockProvider
from genai_commons_bedrock.catalog import BUILT_IN, model_for_id
from genai_commons_bedrock.testing import LocalBedrock

SUMMARY = {
    "modelArn": f"arn:aws:bedrock:us-east-1::foundation-model/{CLAUDE}",
    "modelId": CLAUDE,
    "modelName": "Claude 3 Haiku",
    "providerName": "Anthropic",
    "inputModalities": ["TEXT", "IMAGE"],
    "outputModalities": ["TEXT"],
    "responseStreamingSupported": True,
    "customizationsSupported": [],
    "inferenceTypesSupported": ["ON_DEMAND"],
    "modelLifecycle": {"status": "ACTIVE"},
}


def test_listing_with_the_seeds_filters_is_valid_for_the_service(provider: BedrockProvider) -> None:
    with Stubber(provider.clients.client("bedrock")) as stub:
        expected = {"byProvider": "Anthropic", "byCustomizationType": "FINE_TUNING", "byOutputModality": "TEXT",
                    "byInferenceType": "ON_DEMAND"}  # fmt: skip
        stub.add_response("list_foundation_models", {"modelSummaries": [SUMMARY]}, expected)
        models = provider.list_foundation_models(
            by_provider="Anthropic",
            by_customization_type="FINE_TUNING",
            by_output_modality="TEXT",
            by_inference_type="ON_DEMAND",
        )
    (model,) = models
    assert model.ref == f"bedrock:{CLAUDE}" and model.display_name == "Claude 3 Haiku"
    assert model.output_modality is Modality.TEXT
    assert model.input_modalities == {Modality.TEXT, Modality.IMAGE, Modality.DOCUMENT}
    assert model.supports_streaming and model.supports_function_calling and model.supports_system_prompt
    assert (model.lifecycle, model.active) == ("ACTIVE", True)


def test_every_kind_of_model_is_described(host: Host, service: LocalBedrock) -> None:
    models = {m.model_id: m for m in host.models("bedrock")}
    assert [r.operation for r in service.requests] == ["list_foundation_models"]
    assert len(models) == 17
    titan = models["amazon.titan-text-express-v1"]
    assert not titan.supports_system_prompt and not titan.supports_function_calling
    embed = models["amazon.titan-embed-text-v2:0"]
    assert embed.output_modality is Modality.EMBEDDINGS and embed.active and not embed.supports_streaming
    canvas = models["amazon.nova-canvas-v1:0"]
    assert canvas.output_modality is Modality.IMAGE and canvas.active
    reel = models["amazon.nova-reel-v1:0"]
    assert reel.output_modality is Modality.VIDEO and not reel.active
    assert models["anthropic.claude-v2:1"].lifecycle == "LEGACY"
    assert Modality.IMAGE not in models["amazon.nova-micro-v1:0"].input_modalities
    assert Modality.IMAGE in models["amazon.nova-lite-v1:0"].input_modalities
    # Listed once per provider instance; resolving a listed id returns the listed model.
    assert host.model(f"bedrock:{CLAUDE}") is models[CLAUDE]
    assert len(service.requests) == 1


def test_configured_models_and_filters(make_host: Callable[..., Host], session: Any, service: LocalBedrock) -> None:
    settings = {"by_provider": "Amazon", "by_output_modality": "embedding"}
    host = make_host(BedrockProvider(session=session), settings)
    assert {m.model_id for m in host.models("bedrock")} == {"amazon.titan-embed-text-v2:0"}
    assert service.requests[0].query == {"byProvider": "Amazon", "byOutputModality": "EMBEDDING"}


def test_a_configured_legacy_model_is_warned_about(
    make_host: Callable[..., Host], session: Any, service: LocalBedrock
) -> None:
    profile = "us.anthropic.claude-3-5-sonnet-20240620-v1:0"
    models = {
        "anthropic.claude-v2:1": {"display_name": "Old Claude"},
        profile: {},
        "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc": {"like": CLAUDE, "display_name": "Mine"},
        "amazon.gone-v1": {},
    }
    host = make_host(BedrockProvider(session=session), {"models": models})
    with capture_logs() as logs:
        listed = {m.model_id: m for m in host.models("bedrock")}
    assert list(listed) == list(models)
    assert listed["anthropic.claude-v2:1"].display_name == "Old Claude"
    assert listed[profile].display_name == "Claude 3.5 Sonnet" and listed[profile].supports_function_calling
    mine = listed["arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc"]
    assert mine.display_name == "Mine" and Modality.IMAGE in mine.input_modalities
    events = [(log["event"], log["model_id"], log["log_level"]) for log in logs]
    assert ("model_is_legacy", "anthropic.claude-v2:1", "warning") in events
    assert ("model_not_listed", "amazon.gone-v1", "warning") in events
    assert len(events) == 2


def test_without_credentials_the_built_in_list_is_shown_inactive(make_host: Callable[..., Host]) -> None:
    """AWS not set up is routine, not a warning: the models are listed as inactive, and calling
    one says what is missing (not that the model is inactive)."""
    host = make_host(BedrockProvider())
    with capture_logs() as logs:
        models = host.models("bedrock")
    assert [m.model_id for m in models] == [model_id for model_id, _ in BUILT_IN]
    assert not any(m.active for m in models)
    assert [(log["event"], log["log_level"]) for log in logs] == [("model_listing_skipped", "info")]
    assert "credentials" in logs[0]["reason"]
    with pytest.raises(MissingCredentialsError, match="no usable AWS credentials"):
        host.chat(f"bedrock:{BUILT_IN[0][0]}", "hi")
    host = make_host(BedrockProvider(), {"models": ["amazon.nova-pro-v1:0"], "list_models": False})
    assert [m.model_id for m in host.models("bedrock")] == ["amazon.nova-pro-v1:0"]


@pytest.mark.parametrize(
    ("model_id", "output", "tools", "system", "vision"),
    [
        ("us.anthropic.claude-3-7-sonnet-20250219-v1:0", Modality.TEXT, True, True, True),
        ("anthropic.claude-instant-v1", Modality.TEXT, False, True, False),
        ("amazon.nova-micro-v1:0", Modality.TEXT, True, True, False),
        ("amazon.titan-text-premier-v1:0", Modality.TEXT, False, False, False),
        ("meta.llama3-2-90b-instruct-v1:0", Modality.TEXT, True, True, True),
        ("mistral.mixtral-8x7b-instruct-v0:1", Modality.TEXT, False, False, False),
        ("cohere.command-text-v14", Modality.TEXT, False, False, False),
        ("eu.meta.llama3-2-1b-instruct-v1:0", Modality.TEXT, False, True, False),
        ("cohere.embed-multilingual-v3", Modality.EMBEDDINGS, False, False, False),
        ("amazon.titan-image-generator-v1", Modality.IMAGE, False, False, False),
        ("somebody.new-model-v1", Modality.TEXT, False, True, False),
    ],
)
def test_models_known_by_id_alone(model_id: str, output: Modality, tools: bool, system: bool, vision: bool) -> None:
    model = model_for_id(model_id)
    assert model.output_modality is output
    assert (model.supports_function_calling, model.supports_system_prompt) == (tools, system)
    assert (Modality.IMAGE in model.input_modalities) is vision


def test_any_id_resolves_without_the_network(host: Host, service: LocalBedrock) -> None:
    model = host.model("bedrock:global.anthropic.claude-sonnet-4-20250514-v1:0")
    assert model.supports_function_calling and model.supports_streaming
    assert service.requests == []
