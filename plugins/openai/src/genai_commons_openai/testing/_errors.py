"""Error answers of the fake, in the API's shape: ``{"error": {"message", "type", "param", "code"}}``."""

from __future__ import annotations

import json
from collections.abc import Mapping


class ApiError(Exception):
    """An error answer: HTTP status, the error object's fields and extra headers."""

    def __init__(
        self,
        status: int,
        message: str,
        kind: str,
        code: str | None = None,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
        inner_code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind
        self.code = code
        self.param = param
        self.headers = dict(headers or {})
        self.inner_code = inner_code

    @classmethod
    def invalid(cls, message: str, param: str | None = None, code: str | None = None) -> ApiError:
        return cls(400, message, "invalid_request_error", code, param)

    def body(self) -> bytes:
        error: dict[str, object] = {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}
        if self.inner_code is not None:  # Azure's content filter
            error["innererror"] = {"code": self.inner_code, "content_filter_result": {"hate": {"filtered": True}}}
        return json.dumps({"error": error}).encode()


#: The failures the fake can be told to answer with, by kind (the conformance kinds and more).
def failure(kind: str) -> ApiError:
    limits = {
        "x-ratelimit-limit-requests": "500",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "20ms",
        "x-ratelimit-limit-tokens": "30000",
        "x-ratelimit-remaining-tokens": "29000",
        "x-ratelimit-reset-tokens": "2ms",
    }
    errors = {
        "auth": ApiError(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
        "permission": ApiError(
            403, "You are not allowed to sample from this model", "invalid_request_error", "model_not_allowed"
        ),
        "region": ApiError(
            403,
            "Country, region, or territory not supported",
            "request_forbidden",
            "unsupported_country_region_territory",
        ),
        "not_found": ApiError(
            404, "The model does not exist or you do not have access to it.", "invalid_request_error", "model_not_found"
        ),
        "rate_limit": ApiError(
            429,
            "Rate limit reached for requests",
            "requests",
            "rate_limit_exceeded",
            headers={"retry-after": "0", **limits},
        ),
        "rate_limit_wait": ApiError(
            429,
            "Rate limit reached for requests",
            "requests",
            "rate_limit_exceeded",
            headers={"retry-after-ms": "50", "retry-after": "1", **limits},
        ),
        "quota": ApiError(
            429,
            "You exceeded your current quota, please check your plan and billing details.",
            "insufficient_quota",
            "insufficient_quota",
        ),
        "unavailable": ApiError(
            503,
            "The engine is currently overloaded, please try again later.",
            "server_error",
            None,
            headers={"retry-after": "0"},
        ),
        "server_error": ApiError(500, "The server had an error while processing your request.", "server_error", None),
        "bad_request": ApiError(
            400, "Invalid value for 'temperature'.", "invalid_request_error", "bad_request", "temperature"
        ),
        "context_length": ApiError(
            400,
            "This model's maximum context length is 128000 tokens.",
            "invalid_request_error",
            "context_length_exceeded",
            "messages",
        ),
        "content_filter": ApiError(
            400,
            "The response was filtered due to the prompt triggering content management policy.",
            "invalid_request_error",
            "content_filter",
            "prompt",
            inner_code="ResponsibleAIPolicyViolation",
        ),
    }
    if kind not in errors:
        raise KeyError(kind)
    return errors[kind]
