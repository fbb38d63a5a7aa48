"""Errors of the gateway's own making, and how any error is written on the `/v1` surface.

The platform answers RFC 9457 problems everywhere else; OpenAI's and Anthropic's SDKs read
only their providers' error bodies, so `/v1` answers in OpenAI's shape and `/v1/messages`
in Anthropic's, with the same status the problem would have had.
"""

from __future__ import annotations

from typing import Any

from auterity.core.errors import AuterityError
from auterity.core.request_context import current_request_id
from auterity.relaycore.providers.base import ProviderError


class RelayError(AuterityError):
    """A request the gateway refuses; `code` and `param` as OpenAI would name them."""

    status = 400
    slug = "invalid-relay-request"
    title = "Invalid request"
    code: str | None = None

    def __init__(self, detail: str, *, code: str | None = None, param: str | None = None) -> None:
        super().__init__(detail)
        self.code = code or type(self).code
        self.param = param


class ModelNotFound(RelayError):
    status = 404
    slug = "model-not-found"
    title = "Model not found"
    code = "model_not_found"


class ModelNotAllowed(RelayError):
    status = 403
    slug = "model-not-allowed"
    title = "Model not allowed"
    code = "model_not_allowed"


class NoModelSatisfies(RelayError):
    slug = "no-model-satisfies"
    title = "No model satisfies the request"
    code = "no_model_satisfies"


class ContextLengthExceeded(RelayError):
    slug = "context-length-exceeded"
    title = "Context length exceeded"
    code = "context_length_exceeded"


OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "insufficient_quota",
    403: "permission_error",
    404: "invalid_request_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}
ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    422: "invalid_request_error",
    429: "rate_limit_error",
    503: "overloaded_error",
    529: "overloaded_error",
}


def described(error: BaseException) -> tuple[int, str, str | None, str | None, dict[str, str]]:
    """(status, message, code, param, headers) of any error the surface may have to write."""
    if isinstance(error, ProviderError):
        headers = {}
        if error.retry_after is not None and error.status == 429:
            headers["retry-after"] = str(max(1, round(error.retry_after)))
        return error.status, error.message, error.code, error.param, headers
    if isinstance(error, RelayError):
        return error.status, error.detail, error.code, error.param, dict(error.headers)
    if isinstance(error, AuterityError):
        code = error.slug.replace("-", "_")
        param = error.errors[0].pointer.lstrip("/").replace("/", ".") if error.errors else None
        return error.status, error.detail, code, param or None, dict(error.headers)
    return (
        500,
        "An unexpected error occurred. Quote the request id when reporting it.",
        None,
        None,
        {},
    )


def openai_error(error: BaseException) -> tuple[int, dict[str, Any], dict[str, str]]:
    status, message, code, param, headers = described(error)
    kind = OPENAI_TYPES.get(status, "api_error")
    if isinstance(error, ProviderError) and status < 500 and status != 429:
        kind = error.type
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return status, body, headers


def anthropic_error(error: BaseException) -> tuple[int, dict[str, Any], dict[str, str]]:
    status, message, _, _, headers = described(error)
    body: dict[str, Any] = {
        "type": "error",
        "error": {"type": ANTHROPIC_TYPES.get(status, "api_error"), "message": message},
    }
    request_id = current_request_id()
    if request_id:
        body["request_id"] = request_id
    return status, body, headers
