"""Bedrock's error codes become the core's errors, with the connector's troubleshooting advice,
the cause kept and the service's message on the exception."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pytest
from bedrock_models import CLAUDE
from botocore.exceptions import ClientError, EventStreamError
from botocore.stub import Stubber

from genai_commons import (
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ContextLengthError,
    Host,
    MissingCredentialsError,
    NotFoundError,
    PermissionDeniedError,
    ProviderError,
    ProviderTimeoutError,
    QuotaExceededError,
    RateLimitError,
    ServiceUnavailableError,
)
from genai_commons_bedrock import BedrockProvider
from genai_commons_bedrock.errors import Resource, error_from_client_error
from genai_commons_bedrock.testing import LocalBedrock, LocalBedrockServer

MODEL = f"bedrock:{CLAUDE}"


@pytest.mark.parametrize(
    ("code", "status", "message", "expected", "advice"),
    [
        ("AccessDeniedException", 403, "You don't have access to the model with the specified model ID.",
         PermissionDeniedError, "Model access for this region, click Edit"),
        ("AccessDeniedException", 403, "not authorized to perform: bedrock:InvokeModel",
         PermissionDeniedError, "region (us-east-1) is one where you have access"),
        ("ResourceNotFoundException", 404, "Could not resolve the foundation model",
         NotFoundError, "may not be available in us-east-1 or may be deprecated"),
        ("ThrottlingException", 429, "Too many requests", RateLimitError, "lower the request rate"),
        ("ModelTimeoutException", 408, "Model has timed out", ProviderTimeoutError, "read_timeout"),
        ("ValidationException", 400, "Input is too long for requested model.", ContextLengthError, "context window"),
        ("ValidationException", 400, "prompt is too long: 210000 tokens > 200000", ContextLengthError, "shorten"),
        ("ValidationException", 400,
         "Invocation of model ID anthropic.claude-3-7 with on-demand throughput isn't supported. Retry your request "
         "with the ID or ARN of an inference profile that contains this model.", BadRequestError, "us.<model id>"),
        ("ValidationException", 400, "You don't have access to the model with the specified model ID.",
         BadRequestError, "Model access for this region"),
        ("ServiceQuotaExceededException", 400, "quota", QuotaExceededError, "Service Quotas console"),
        ("ModelNotReadyException", 429, "Model is not ready", ServiceUnavailableError, "not ready"),
        ("ServiceUnavailableException", 503, "unavailable", ServiceUnavailableError, "Bedrock"),
        ("InternalServerException", 500, "oops", ServiceUnavailableError, "Bedrock"),
        ("UnrecognizedClientException", 403, "The security token included in the request is invalid.",
         AuthenticationError, "AWS_ACCESS_KEY_ID"),
        ("ExpiredTokenException", 403, "The security token included in the request is expired",
         AuthenticationError, "aws sso login"),
        ("ModelErrorException", 424, "The model returned an error", ProviderError, "Bedrock documentation"),
        ("SomethingNew", 418, "teapot", ProviderError, "Bedrock documentation"),
        ("SomethingNew", 502, "bad gateway", ServiceUnavailableError, "Bedrock"),
    ],
)  # fmt: skip
def test_client_errors(
    stubbed_host: tuple[Host, Stubber], code: str, status: int, message: str, expected: type[ProviderError], advice: str
) -> None:
    host, stub = stubbed_host
    stub.add_client_error("converse", code, message, status, response_meta={"HTTPHeaders": {"retry-after": "2"}})
    with pytest.raises(expected) as info:
        host.chat(MODEL, "hi")
    error = info.value
    assert type(error) is expected
    assert isinstance(error.__cause__, ClientError)
    assert (error.provider, error.status, error.code, error.body) == ("bedrock", status, code, message)
    assert advice in str(error) and CLAUDE in str(error)
    assert error.retry_after == 2.0


@pytest.fixture
def stubbed_host(session: Any, make_host: Callable[..., Host]) -> Any:
    host = make_host(BedrockProvider(session=session), attempts=1)
    with Stubber(host.plugin_manager.get_plugin("bedrock").clients.client("bedrock-runtime")) as stub:
        yield host, stub


def test_exception_events_of_a_stream_are_mapped_by_their_lower_case_code() -> None:
    parsed = {"Error": {"Code": "throttlingException", "Message": "slow down"}}
    error = error_from_client_error(EventStreamError(parsed, "ConverseStream"), region="eu-west-1")
    assert isinstance(error, RateLimitError) and error.status == 429
    parsed = {"Error": {"Code": "validationException", "Message": "Too many input tokens."}}
    assert isinstance(error_from_client_error(EventStreamError(parsed, "ConverseStream")), ContextLengthError)
    parsed = {"Error": {"Code": "modelStreamErrorException", "Message": "x"}}
    assert type(error_from_client_error(EventStreamError(parsed, "ConverseStream"))) is ProviderError


KB = Resource("knowledge base", "KB00000001")
AGENT = Resource("agent", "AGENT00001 (alias TSTALIASID)")
SOURCE = Resource("data source", "DS00000001 of knowledge base KB00000001")


@pytest.mark.parametrize(
    ("code", "status", "resource", "expected", "advice"),
    [
        ("ResourceNotFoundException", 404, KB, NotFoundError, "check the knowledge base id or name"),
        ("ResourceNotFoundException", 404, AGENT, NotFoundError, "TSTALIASID is the working draft's"),
        ("ResourceNotFoundException", 404, SOURCE, NotFoundError, "check the data source id"),
        ("AccessDeniedException", 403, KB, PermissionDeniedError, "bedrock:Retrieve and bedrock:RetrieveAndGenerate"),
        ("AccessDeniedException", 403, AGENT, PermissionDeniedError, "bedrock:InvokeAgent on the agent alias"),
        ("AccessDeniedException", 403, SOURCE, PermissionDeniedError, "bedrock:StartIngestionJob"),
        ("ConflictException", 409, SOURCE, BadRequestError, "an ingestion job is already running"),
        ("ConflictException", 409, AGENT, BadRequestError, "the session is busy"),
        ("ValidationException", 400, KB, BadRequestError, "check the query, the metadata filter"),
        ("DependencyFailedException", 424, AGENT, ProviderError, "Lambda function"),
        ("BadGatewayException", 502, AGENT, ServiceUnavailableError, "could not be reached; the host retries it"),
        ("ThrottlingException", 429, KB, RateLimitError, "throttled"),
        ("InternalServerException", 500, KB, ServiceUnavailableError, "could not serve the knowledge base"),
    ],
)  # fmt: skip
def test_knowledge_base_and_agent_errors_advise_about_the_resource(
    code: str, status: int, resource: Resource, expected: type[ProviderError], advice: str
) -> None:
    response = {"Error": {"Code": code, "Message": "msg"}, "ResponseMetadata": {"HTTPStatusCode": status}}
    error = error_from_client_error(ClientError(response, "Retrieve"), region="eu-west-1", resource=resource)
    assert type(error) is expected
    assert str(error).startswith(f"Bedrock refused {resource}: {code} ({status}): msg. ")
    assert advice in str(error).lower() or advice in str(error)
    assert expected.retryable == error.retryable


def test_the_stream_exceptions_of_agents_have_their_status() -> None:
    for code, status in [("dependencyFailedException", 424), ("badGatewayException", 502), ("conflictException", 409)]:
        parsed = {"Error": {"Code": code, "Message": "x"}}
        assert error_from_client_error(EventStreamError(parsed, "InvokeAgent"), resource=AGENT).status == status


def test_a_read_timeout_is_a_provider_timeout(server_env: LocalBedrockServer, make_host: Callable[..., Host]) -> None:
    server_env.service.fail_next("timeout")
    host = make_host(BedrockProvider(), {"read_timeout": 0.2}, attempts=1)
    with pytest.raises(ProviderTimeoutError, match="did not answer in time") as info:
        host.chat(MODEL, "hi")
    assert type(info.value.__cause__).__name__ == "ReadTimeoutError"


def test_an_unreachable_endpoint_is_unavailable(
    make_host: Callable[..., Host], monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDTESTTESTTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "fake-secret")
    host = make_host(
        BedrockProvider(), {"runtime_endpoint_url": f"http://127.0.0.1:{port}", "connect_timeout": 1}, attempts=2
    )
    with pytest.raises(ServiceUnavailableError, match="cannot reach Bedrock") as info:
        host.chat(MODEL, "hi")
    assert type(info.value.__cause__).__name__ == "EndpointConnectionError"


def test_no_credentials_fail_at_call_time_not_before(make_host: Callable[..., Host]) -> None:
    host = make_host(BedrockProvider())  # configure needs nothing
    assert host.providers()["bedrock"].capabilities
    with pytest.raises(MissingCredentialsError, match="no usable AWS credentials"):
        host.chat(MODEL, "hi")


def test_no_region_and_an_unknown_profile_are_configuration_errors(
    make_host: Callable[..., Host], tmp_path: Any
) -> None:
    host = make_host(BedrockProvider(), {"region": ""})
    with pytest.raises(ConfigurationError, match="no AWS region"):
        host.chat(MODEL, "hi")
    host = make_host(BedrockProvider(), {"profile": "nobody"})
    with pytest.raises(ConfigurationError, match="nobody"):
        host.chat(MODEL, "hi")


def test_secrets_never_show(make_host: Callable[..., Host], service: LocalBedrock, session: Any) -> None:
    settings = {"access_key_id": "AKIDSECRETVALUE1", "secret_access_key": "very-secret-key", "session_token": "tok-123"}
    host = make_host(BedrockProvider(), settings, attempts=1)
    provider = host.plugin_manager.get_plugin("bedrock")
    shown = repr(provider.bedrock_settings) + str(provider.bedrock_settings)
    for secret in settings.values():
        assert secret not in shown
    server = LocalBedrockServer(LocalBedrock(accepted_access_keys=["someone-else"])).start()
    try:
        host = make_host(BedrockProvider(), {**settings, "runtime_endpoint_url": server.url}, attempts=1)
        with pytest.raises(AuthenticationError) as info:
            host.chat(MODEL, "hi")
        assert server.service.requests[0].access_key_id == "AKIDSECRETVALUE1"  # the static keys were used
        text = f"{info.value} {info.value!r} {info.value.body}"
        assert "very-secret-key" not in text and "tok-123" not in text
    finally:
        server.stop()
