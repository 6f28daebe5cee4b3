"""The one place where botocore's errors become genai_commons errors, raised ``from`` the cause.

Messages carry the troubleshooting advice of the Bedrock connector's documentation: model access
not granted (400 / AccessDeniedException), a region without access (403), a model not in the
region or deprecated (404). Used by every capability of the plugin, knowledge bases and agents
included: wrap the boto3 call in :func:`translated_errors`, naming the knowledge base, agent or
data source it concerns with a :class:`Resource` so that the advice is about that resource.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from attrs import frozen

from genai_commons import (
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ContentFilteredError,
    ContextLengthError,
    DeadlineExceededError,
    GenAIError,
    MissingCredentialsError,
    NotFoundError,
    PermissionDeniedError,
    ProviderError,
    ProviderTimeoutError,
    QuotaExceededError,
    RateLimitError,
    ServiceUnavailableError,
    ValidationError,
)

PROVIDER = "bedrock"

CREDENTIALS_ADVICE = (
    "configure AWS credentials the usual way (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or "
    "profile in [providers.bedrock], `aws sso login`, an instance or container role), or set "
    "access_key_id and secret_access_key in [providers.bedrock]"
)
MODEL_ACCESS_ADVICE = (
    "your AWS account may not have been granted access to this model: in the Amazon Bedrock console, open "
    "Model access for this region, click Edit, select the model, Save changes, and wait for 'Access granted'"
)
REGION_ADVICE = (
    "make sure the region ({region}) is one where you have access to the model (see Model access in the "
    "Bedrock console) and that your credentials allow bedrock:InvokeModel there"
)
NOT_FOUND_ADVICE = (
    "the model may not be available in {region} or may be deprecated: check the region, check that the "
    "model id is current (`genai models --provider bedrock`), or use an inference profile id such as us.<model id>"
)

#: Error codes (case-insensitive: event-stream exceptions are spelled throttlingException).
_BY_CODE: dict[str, type[ProviderError]] = {
    "throttlingexception": RateLimitError,
    "toomanyrequestsexception": RateLimitError,
    "modeltimeoutexception": ProviderTimeoutError,
    "requesttimeout": ProviderTimeoutError,
    "servicequotaexceededexception": QuotaExceededError,
    "modelnotreadyexception": ServiceUnavailableError,
    "serviceunavailableexception": ServiceUnavailableError,
    "internalserverexception": ServiceUnavailableError,
    "internalfailure": ServiceUnavailableError,
    "accessdeniedexception": PermissionDeniedError,
    "accessdenied": PermissionDeniedError,
    "resourcenotfoundexception": NotFoundError,
    "unrecognizedclientexception": AuthenticationError,
    "invalidsignatureexception": AuthenticationError,
    "incompletesignature": AuthenticationError,
    "invalidclienttokenid": AuthenticationError,
    "signaturedoesnotmatch": AuthenticationError,
    "expiredtokenexception": AuthenticationError,
    "expiredtoken": AuthenticationError,
    "validationexception": BadRequestError,
    "conflictexception": BadRequestError,
    "modelerrorexception": ProviderError,
    "modelstreamerrorexception": ProviderError,
    # Agents and knowledge bases: a resource behind them (an action group's Lambda function, the
    # vector store) failed; retrying does not help. A bad gateway to it is transient.
    "dependencyfailedexception": ProviderError,
    "badgatewayexception": ServiceUnavailableError,
}
_BY_STATUS: dict[int, type[ProviderError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    408: ProviderTimeoutError,
    429: RateLimitError,
}
#: The HTTP status of each exception event a stream may carry (they come without one).
_STREAM_STATUS = {
    "throttlingexception": 429,
    "validationexception": 400,
    "serviceunavailableexception": 503,
    "accessdeniedexception": 403,
    "resourcenotfoundexception": 404,
    "conflictexception": 409,
    "dependencyfailedexception": 424,
    "badgatewayexception": 502,
    "modelnotreadyexception": 429,
    "servicequotaexceededexception": 400,
}
_CONTEXT_LENGTH = re.compile(
    r"too long|too many (input )?tokens|context (length|window)|maximum (context|input|prompt)|"
    r"exceeds? the (model'?s? )?(max|context|input)|input length|prompt is too long",
    re.IGNORECASE,
)


@frozen
class Resource:
    """The knowledge base, agent or data source a call concerns, for the advice of its errors.

    :param kind: ``"knowledge base"``, ``"agent"`` or ``"data source"``.
    :param name: its id (with an alias id or the knowledge base, where that helps); empty for a
        listing of that kind.
    """

    kind: str
    name: str = ""

    def __str__(self) -> str:
        return f"{self.kind} {self.name}" if self.name else f"the {self.kind} listing"


#: What each kind of resource needs of the caller's credentials.
_PERMISSIONS = {
    "knowledge base": "bedrock:Retrieve and bedrock:RetrieveAndGenerate on the knowledge base, and access to the "
    "generating model (Model access in the Bedrock console)",
    "agent": "bedrock:InvokeAgent on the agent alias; the agent's service role needs its model, knowledge bases "
    "and Lambda functions",
    "data source": "bedrock:StartIngestionJob, bedrock:GetIngestionJob and bedrock:ListDataSources on the "
    "knowledge base",
}
_NOT_FOUND = {
    "knowledge base": "check the knowledge base id or name (`genai kb list`) and that it lives in {region}",
    "agent": "check the agent id and the alias id (deploying an agent makes an alias; TSTALIASID is the working "
    "draft's) and that the agent lives in {region}",
    "data source": "check the data source id (`list_data_sources`) and the knowledge base it belongs to, in {region}",
}
_CONFLICT = {
    "data source": "an ingestion job is already running for this data source: wait for it to finish "
    "(`genai kb sync NAME` waits) before starting another",
    "agent": "the session is busy with another request: wait for it to finish, or use another session id",
}


def _resource_advice(cls: type[ProviderError], code: str, resource: Resource, where: str) -> str | None:
    lowered = code.lower()
    if cls is PermissionDeniedError:
        return f"your credentials need {_PERMISSIONS.get(resource.kind, 'access to it')} in {where}"
    if cls is NotFoundError:
        return _NOT_FOUND.get(resource.kind, "check its id and the region ({region})").format(region=where)
    if lowered == "conflictexception":
        return _CONFLICT.get(resource.kind, "the resource is busy or in a conflicting state: try again later")
    if lowered == "dependencyfailedexception":
        return (
            f"a resource the {resource.kind} depends on failed (an action group's Lambda function, the vector "
            "store or the model): Bedrock's message names it; check its logs and configuration"
        )
    if lowered == "badgatewayexception":
        return f"a resource the {resource.kind} depends on could not be reached; the host retries it"
    if cls is ServiceUnavailableError:
        return f"Bedrock could not serve the {resource.kind} just now; the host retries it"
    if cls is BadRequestError and resource.kind == "knowledge base":
        return "Bedrock rejected the request: check the query, the metadata filter and the number of results"
    return None


def _advice(
    cls: type[ProviderError], code: str, message: str, region: str | None, resource: Resource | None = None
) -> str:
    where = region or "the configured region"
    lowered = message.lower()
    if resource is not None:
        specific = _resource_advice(cls, code, resource, where)
        if specific is not None:
            return specific
    if cls is PermissionDeniedError:
        return f"{MODEL_ACCESS_ADVICE}; also {REGION_ADVICE.format(region=where)}"
    if cls is NotFoundError:
        return NOT_FOUND_ADVICE.format(region=where)
    if cls is AuthenticationError:
        if "expired" in lowered or code.lower().startswith("expiredtoken"):
            return "the credentials have expired: refresh them (`aws sso login`, or new session credentials)"
        return f"AWS rejected the credentials: {CREDENTIALS_ADVICE}"
    if cls is RateLimitError:
        return "Bedrock throttled the call: lower the request rate or ask for a higher quota"
    if cls is QuotaExceededError:
        return (
            "a service quota is used up: request an increase in the Service Quotas console, "
            "or buy provisioned throughput"
        )
    if cls is ContentFilteredError:
        return "the provider's content filter blocked the prompt or the answer: change the prompt"
    if cls is ContextLengthError:
        return "the input is longer than the model's context window: shorten the history, prompt or documents"
    if cls is ServiceUnavailableError and code.lower() == "modelnotreadyexception":
        return "the model is not ready to serve yet; the host retries it"
    if cls is ProviderTimeoutError:
        return "the model did not answer in time; the host retries it. Raise read_timeout for long answers"
    if cls is BadRequestError:
        if "inference profile" in lowered:
            return "this model is served through inference profiles only: use an inference profile id (us.<model id>)"
        if "access" in lowered and "model" in lowered:
            return MODEL_ACCESS_ADVICE
        return "Bedrock rejected the request; check the model's parameters and limits"
    return "see the error code and message, and the Bedrock documentation of the model"


def error_from_client_error(
    exc: Any, *, region: str | None = None, model_id: str | None = None, resource: Resource | None = None
) -> ProviderError:
    """The core error for a botocore ``ClientError`` (``EventStreamError`` included)."""
    response = getattr(exc, "response", None) or {}
    error = response.get("Error", {})
    code = str(error.get("Code") or "")
    message = str(error.get("Message") or "")
    metadata = response.get("ResponseMetadata", {})
    status = metadata.get("HTTPStatusCode")
    if status is None:
        # An exception event inside a stream has no HTTP status of its own; use the shape's.
        status = _STREAM_STATUS.get(code.lower(), 500 if "internal" in code.lower() else None)
    cls = _BY_CODE.get(code.lower())
    if cls is None:
        cls = (
            ServiceUnavailableError
            if isinstance(status, int) and status >= 500
            else _BY_STATUS.get(status or 0, ProviderError)
        )
    if cls is BadRequestError and _CONTEXT_LENGTH.search(message):
        cls = ContextLengthError
    if (
        cls is BadRequestError
        and "blocked" in message.lower()
        and ("filter" in message.lower() or "guardrail" in message.lower())
    ):
        cls = ContentFilteredError
    headers = metadata.get("HTTPHeaders", {})
    retry_after = _seconds(headers.get("retry-after"))
    subject = str(resource) if resource is not None else f"model {model_id}" if model_id else "the call"
    text = f"Bedrock refused {subject}: {code or 'error'}"
    if status:
        text += f" ({status})"
    if message:
        text += f": {message.rstrip('. ')}"
    advice = _advice(cls, code, message, region, resource)
    text += f". {advice[:1].upper()}{advice[1:]}"
    return cls(text, provider=PROVIDER, status=status, code=code or None, body=message or None, retry_after=retry_after)


def _seconds(value: object) -> float | None:
    try:
        return float(value) if value is not None else None  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def translate(
    exc: Exception, *, region: str | None = None, model_id: str | None = None, resource: Resource | None = None
) -> GenAIError | None:
    """The core error for what a boto3 call raised, or None when ``exc`` is none of botocore's
    doing (a bug, left as it is). Covered: the service's errors (``ClientError``, exception events
    of streams included), every ``BotoCoreError`` and ``Boto3Error`` (by class, with a catch-all),
    urllib3's and the socket's errors while a body is read, and anything botocore's parsers raise
    on an answer they cannot parse (``ResponseParserError``, the event-stream decoder's errors, and
    the ``ValueError``, ``RecursionError`` … of JSON nested too deeply or not UTF-8)."""
    from botocore import exceptions as bce  # type: ignore[import-untyped]  # noqa: PLC0415

    if isinstance(exc, bce.ClientError):
        return error_from_client_error(exc, region=region, model_id=model_id, resource=resource)
    kinds = {kind.__name__ for kind in type(exc).__mro__}
    if "BotoCoreError" in kinds or "Boto3Error" in kinds:
        return _sdk_error(exc, kinds)
    return _transport_error(exc) or _parse_error(exc)


#: botocore's and boto3's own errors, matched by the names of their classes (robust to the
#: botocore release: a class it lacks is never matched), first match wins; the catch-all is a
#: ``ProviderError`` that is not retried.
_SDK_ERRORS: tuple[tuple[frozenset[str], type[GenAIError], str], ...] = tuple(
    (frozenset(names.split()), cls, text)
    for names, cls, text in (
        ("ReadTimeoutError ConnectTimeoutError", ProviderTimeoutError,
         "Bedrock did not answer in time ({error}); the host retries it. Raise read_timeout or connect_timeout in "
         "[providers.bedrock] for long answers"),
        ("ConnectionClosedError ResponseStreamingError IncompleteReadError", ServiceUnavailableError,
         "the connection to Bedrock broke off in the middle of its answer ({error}); the answer is incomplete, "
         "try again"),
        ("ProxyConnectionError", ServiceUnavailableError,
         "cannot reach Bedrock through the proxy ({error}); check HTTPS_PROXY / HTTP_PROXY and the proxy itself"),
        ("SSLError", ServiceUnavailableError,
         "the TLS connection to Bedrock failed ({error}); check the endpoint URL, AWS_CA_BUNDLE and any proxy "
         "that inspects TLS"),
        ("ConnectionError HTTPClientError", ServiceUnavailableError,
         "cannot reach Bedrock: {error}; check the network, the region and any AWS_ENDPOINT_URL_* setting"),
        ("ChecksumError FlexibleChecksumError AwsChunkedWrapperError", ServiceUnavailableError,
         "Bedrock's answer was damaged in transit ({error}); try again"),
        ("SSOError TokenRetrievalError UnknownTokenProviderError", MissingCredentialsError,
         "the AWS SSO session cannot be used ({error}): run `aws sso login` and try again"),
        ("LoginError", MissingCredentialsError,
         "the AWS console login session cannot be used ({error}): run `aws login` and try again"),
        ("NoCredentialsError PartialCredentialsError CredentialRetrievalError NoAuthTokenError "
         "UnknownCredentialError MetadataRetrievalError RefreshWithMFAUnsupportedError", MissingCredentialsError,
         f"no usable AWS credentials were found ({{error}}): {CREDENTIALS_ADVICE}"),
        ("ProfileNotFound", ConfigurationError,
         "{error}: set profile in [providers.bedrock] or AWS_PROFILE to a profile of ~/.aws/config"),
        ("NoRegionError", ConfigurationError,
         "no AWS region is configured: set region in [providers.bedrock], or AWS_REGION"),
        ("InvalidRegionError UnknownRegionError BaseEndpointResolverError EndpointProviderError "
         "ServiceNotInRegionError InvalidEndpointConfigurationError", ConfigurationError,
         "no Bedrock endpoint for these settings ({error}): check region in [providers.bedrock] (or AWS_REGION) "
         "and any endpoint setting (runtime_endpoint_url, AWS_ENDPOINT_URL_*)"),
        ("ParamValidationError ValidationError MissingParametersError", ValidationError,
         "the request does not fit Bedrock's API: {error}"),
        ("DataNotFoundError ApiVersionNotFoundError UnknownClientMethodError UnsupportedServiceProtocolsError",
         ConfigurationError,
         "the installed botocore does not know this Bedrock operation ({error}): upgrade it (pip install -U boto3)"),
        ("ConfigParseError ConfigNotFound InvalidConfigError InvalidProxiesConfigError InvalidDefaultsMode "
         "InvalidRetryConfigurationError InvalidIMDSEndpointError InvalidIMDSEndpointModeError "
         "InvalidChecksumConfigError InvalidSTSRegionalEndpointsConfigError UnknownSignatureVersionError "
         "UnsupportedSignatureVersionError MissingDependencyException", ConfigurationError,
         "the AWS configuration cannot be used ({error}): check ~/.aws/config, the AWS_* variables and "
         "[providers.bedrock]"),
        ("WaiterError", ProviderError,
         "waiting for Bedrock failed ({error}); check the resource's state in the Bedrock console"),
    )
)  # fmt: skip


def _sdk_error(exc: Exception, kinds: set[str]) -> GenAIError:
    text = _param_problems(exc) if "ParamValidationError" in kinds else _one_line(exc)
    for names, cls, advice in _SDK_ERRORS:
        if names & kinds:
            message = advice.format(error=text)
            return cls(message, provider=PROVIDER) if issubclass(cls, ProviderError) else cls(message)
    return ProviderError(f"the AWS SDK failed: {text} ({type(exc).__name__})", provider=PROVIDER)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _param_problems(exc: Exception) -> str:
    """botocore's report of a request that does not fit the API, one line, without the values it
    quotes (they may be prompt text): ``Invalid type for parameter x, valid types: <class 'str'>``."""
    report = str(getattr(exc, "kwargs", {}).get("report") or exc)
    problems = []
    for line in report.splitlines():
        head, quoted, rest = line.partition(", value: ")
        if quoted:
            _, valid, what = rest.rpartition(", valid ")
            head += f", valid {what}" if valid else ""
        if head.strip():
            problems.append(head.strip())
    return "; ".join(problems) or type(exc).__name__


def _transport_error(exc: Exception) -> GenAIError | None:
    """Failures botocore lets through as they are: urllib3's and the socket's, while a body is
    read (a connection cut or reset mid-answer, a read timeout mid-stream), and answers
    :mod:`.integrity` refused."""
    import http.client  # noqa: PLC0415

    from urllib3 import exceptions as urllib3_errors  # noqa: PLC0415 - botocore's HTTP library

    from .integrity import DamagedAnswer  # noqa: PLC0415

    if isinstance(exc, DamagedAnswer):
        return ServiceUnavailableError(
            f"Bedrock's answer was damaged in transit or is not Bedrock's ({exc}); the host retries it. If it "
            "persists, check the endpoint (runtime_endpoint_url or AWS_ENDPOINT_URL_*) and any proxy in the way",
            provider=PROVIDER,
        )
    if isinstance(exc, urllib3_errors.ReadTimeoutError | TimeoutError):
        return ProviderTimeoutError(
            f"Bedrock stopped sending in the middle of its answer ({_one_line(exc)}); raise read_timeout in "
            "[providers.bedrock] if the model needs longer between two parts",
            provider=PROVIDER,
        )
    if isinstance(exc, urllib3_errors.HTTPError | ConnectionError | http.client.HTTPException):
        return ServiceUnavailableError(
            f"the connection to Bedrock broke off in the middle of its answer ({_one_line(exc)}); the answer is "
            "incomplete, try again",
            provider=PROVIDER,
        )
    return None


#: The modules of botocore that parse answers: an exception raised inside them is an answer they
#: could not read (a ``KeyError`` or ``AttributeError`` on JSON of the wrong shape, ``binascii``'s
#: error on a blob that is not base64), whatever its class.
_PARSERS = frozenset({"botocore.parsers", "botocore.eventstream"})


def _parse_error(exc: Exception) -> GenAIError | None:
    """An answer that could not be parsed, by botocore or by the plugin: damaged in transit, or
    not Bedrock's. The message names the failure, never the answer's text."""
    from botocore.eventstream import ParserError  # type: ignore[import-untyped]  # noqa: PLC0415
    from botocore.parsers import ResponseParserError  # type: ignore[import-untyped]  # noqa: PLC0415

    if isinstance(exc, ParserError):  # the framing: a checksum, a length, a header
        return ServiceUnavailableError(
            f"the answer's event stream was damaged in transit ({_one_line(exc)}); the answer is incomplete, try again",
            provider=PROVIDER,
        )
    if isinstance(exc, ResponseParserError):
        detail = _one_line(exc)
    elif isinstance(exc, RecursionError):
        detail = "its JSON is nested too deeply to read"
    elif isinstance(exc, UnicodeDecodeError):
        detail = f"it is not valid UTF-8 (byte {exc.start} of a part)"
    elif _raised_while_parsing(exc):
        detail = f"botocore could not parse it: {type(exc).__name__}"
    else:
        return None
    return ServiceUnavailableError(
        f"Bedrock's answer could not be read ({detail}): it was damaged in transit or is not Bedrock's, and is "
        "incomplete; try again. If it persists, check the endpoint (runtime_endpoint_url or AWS_ENDPOINT_URL_*) "
        "and any proxy in the way",
        provider=PROVIDER,
    )


def _raised_while_parsing(exc: BaseException) -> bool:
    frame = exc.__traceback__
    while frame is not None:
        if frame.tb_frame.f_globals.get("__name__") in _PARSERS:
            return True
        frame = frame.tb_next
    return False


@contextmanager
def translated_errors(
    *, region: str | None = None, model_id: str | None = None, resource: Resource | None = None
) -> Iterator[None]:
    """Re-raise botocore errors inside the block as core errors, keeping the cause; ``resource``
    names the knowledge base, agent or data source the advice is about. A timeout or broken
    connection once the call's deadline has passed is :class:`DeadlineExceededError`: the
    deadline, not the network, ended it (see :mod:`.bounded_reads`)."""
    try:
        yield
    except GenAIError:
        raise
    except Exception as exc:
        error = translate(exc, region=region, model_id=model_id, resource=resource)
        if error is None:
            raise
        if isinstance(error, ProviderTimeoutError | ServiceUnavailableError):
            error = _past_deadline() or error
        raise error from exc


def _past_deadline() -> DeadlineExceededError | None:
    from genai_commons import deadlines  # noqa: PLC0415

    bound = deadlines.current()
    left = deadlines.remaining()
    return bound.error(PROVIDER) if bound is not None and left is not None and left <= 0 else None
