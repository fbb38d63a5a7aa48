"""The one error mapper: every error becomes an RFC 9457 `application/problem+json` response."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from auterity.core import errors
from auterity.core.errors import AuterityError, FieldError
from auterity.core.logging import get_logger
from auterity.core.request_context import current_request_id

PROBLEM_TYPE_BASE = "https://auterity.dev/problems/"
PROBLEM_CONTENT_TYPE = "application/problem+json"
log = get_logger(__name__)

_BY_STATUS: dict[int, type[AuterityError]] = {
    cls.status: cls
    for cls in (
        errors.BadRequest,
        errors.Unauthenticated,
        errors.PermissionDenied,
        errors.NotFound,
        errors.MethodNotAllowed,
        errors.Conflict,
        errors.PreconditionFailed,
        errors.PayloadTooLarge,
        errors.UnsupportedMediaType,
        errors.ValidationFailed,
        errors.RateLimited,
        errors.ServiceUnavailable,
    )
}


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_CONTENT_TYPE


def problem_body(error: AuterityError, instance: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + error.slug,
        "title": error.title,
        "status": error.status,
        "detail": error.detail,
    }
    if instance:
        body["instance"] = instance
    request_id = current_request_id()
    if request_id:
        body["request_id"] = request_id
    if error.errors:
        body["errors"] = [item.as_dict() for item in error.errors]
    body.update(error.extra)
    return body


def problem_response(error: AuterityError, instance: str | None = None) -> ProblemResponse:
    headers = dict(error.headers)
    request_id = current_request_id()
    if request_id:
        headers["X-Request-ID"] = request_id
    return ProblemResponse(problem_body(error, instance), status_code=error.status, headers=headers)


def pointer_for(location: Sequence[int | str]) -> str:
    """JSON pointer (RFC 6901) for a FastAPI error location: body fields drop the `body` prefix."""
    parts = list(location)
    if parts and parts[0] == "body":
        parts = parts[1:]
    escaped = (str(part).replace("~", "~0").replace("/", "~1") for part in parts)
    return "/" + "/".join(escaped)


def from_validation_error(exc: RequestValidationError) -> AuterityError:
    items = list(exc.errors())
    invalid_json = [item for item in items if item.get("type") == "json_invalid"]
    if invalid_json:
        item = invalid_json[0]
        position = item["loc"][-1]
        reason = (item.get("ctx") or {}).get("error", "invalid JSON")
        return errors.BadRequest(f"Malformed JSON body at character {position}: {reason}")
    if any(
        item.get("type") == "model_attributes_type" and item["loc"] == ("body",) for item in items
    ):
        # FastAPI got a non-JSON body for a JSON endpoint: the content type is the problem.
        return errors.UnsupportedMediaType("This endpoint reads application/json bodies.")
    field_errors = [
        FieldError(pointer=pointer_for(item["loc"]), message=_message(item)) for item in items
    ]
    summary = "; ".join(f"{e.pointer}: {e.message}" for e in field_errors[:5])
    return errors.ValidationFailed(
        f"The request has {len(field_errors)} invalid value(s): {summary}", errors=field_errors
    )


def _message(item: dict[str, Any]) -> str:
    kind = item.get("type", "")
    if kind == "extra_forbidden":
        return "Unknown field; remove it (check the spelling against the schema)."
    if kind == "missing":
        return "Field required."
    return str(item.get("msg", "Invalid value."))


def from_http_exception(exc: StarletteHTTPException) -> AuterityError:
    cls = _BY_STATUS.get(exc.status_code, AuterityError)
    detail = exc.detail if isinstance(exc.detail, str) else None
    if exc.status_code == 404 and detail == "Not Found":
        detail = "No such resource or route."
    error = cls(detail, headers=dict(exc.headers or {}))
    if cls is AuterityError:
        # An HTTP status we have no class for: keep it, with the standard phrase as title.
        from http import HTTPStatus

        error.status = exc.status_code  # type: ignore[misc]
        error.title = HTTPStatus(exc.status_code).phrase  # type: ignore[misc]
        error.slug = HTTPStatus(exc.status_code).phrase.lower().replace(" ", "-")  # type: ignore[misc]
    return error


def install_problem_handlers(app: FastAPI) -> None:
    async def on_auterity_error(request: Request, exc: Exception) -> ProblemResponse:
        assert isinstance(exc, AuterityError)
        return problem_response(exc, request.url.path)

    async def on_validation_error(request: Request, exc: Exception) -> ProblemResponse:
        assert isinstance(exc, RequestValidationError)
        return problem_response(from_validation_error(exc), request.url.path)

    async def on_http_exception(request: Request, exc: Exception) -> ProblemResponse:
        assert isinstance(exc, StarletteHTTPException)
        return problem_response(from_http_exception(exc), request.url.path)

    async def on_unexpected(request: Request, exc: Exception) -> ProblemResponse:
        log.exception("unhandled_error", path=request.url.path, method=request.method)
        error = AuterityError(
            "An unexpected error occurred. Quote the request id when reporting it."
        )
        return problem_response(error, request.url.path)

    app.add_exception_handler(AuterityError, on_auterity_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_exception)
    app.add_exception_handler(Exception, on_unexpected)
