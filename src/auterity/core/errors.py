"""The one exception tree of Auterity.

Services raise these; the API maps each to an RFC 9457 problem response in one place
(`auterity.api.problems`). Grouped by what a caller can do about them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with one value: where (a JSON pointer), what, and how to fix it."""

    pointer: str
    message: str
    hint: str | None = None

    def as_dict(self) -> dict[str, str]:
        data = {"pointer": self.pointer, "message": self.message}
        if self.hint:
            data["hint"] = self.hint
        return data


class AuterityError(Exception):
    """Base of every error Auterity raises on purpose."""

    status: ClassVar[int] = 500
    slug: ClassVar[str] = "internal-error"
    title: ClassVar[str] = "Internal server error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.detail = detail or self.title
        self.errors = errors or []
        self.headers = headers or {}
        self.extra = extra or {}
        super().__init__(self.detail)


class SettingsError(AuterityError):
    """The configuration is invalid; the process cannot start."""

    slug = "invalid-settings"
    title = "Invalid settings"


# -- the request itself is wrong: the caller must change it -----------------------------


class BadRequest(AuterityError):
    """The request could not be read (malformed syntax)."""

    status = 400
    slug = "bad-request"
    title = "Bad request"


class ValidationFailed(AuterityError):
    """The request was read but its values are invalid."""

    status = 422
    slug = "validation-failed"
    title = "Validation failed"


class PayloadTooLarge(AuterityError):
    """The request body is over the configured limit."""

    status = 413
    slug = "payload-too-large"
    title = "Payload too large"


class UnsupportedMediaType(AuterityError):
    """The request body's content type is not one this endpoint reads."""

    status = 415
    slug = "unsupported-media-type"
    title = "Unsupported media type"


class MethodNotAllowed(AuterityError):
    """The path exists but not with this method."""

    status = 405
    slug = "method-not-allowed"
    title = "Method not allowed"


# -- who is asking ------------------------------------------------------------------------


class Unauthenticated(AuterityError):
    """No valid credentials were presented."""

    status = 401
    slug = "unauthenticated"
    title = "Authentication required"

    def __init__(self, detail: str | None = None, **kwargs: Any) -> None:
        headers = kwargs.pop("headers", None) or {}
        headers.setdefault("WWW-Authenticate", 'Bearer realm="auterity"')
        super().__init__(detail, headers=headers, **kwargs)


class PermissionDenied(AuterityError):
    """The principal is known but may not do this."""

    status = 403
    slug = "permission-denied"
    title = "Permission denied"


class StepUpRequired(PermissionDenied):
    """The principal must authenticate again, with a second factor, before this is allowed."""

    slug = "mfa-required"
    title = "Multi-factor authentication required"


# -- the state of things ------------------------------------------------------------------


class NotFound(AuterityError):
    """The resource does not exist (or is not visible to this principal)."""

    status = 404
    slug = "not-found"
    title = "Not found"


class Conflict(AuterityError):
    """The request conflicts with the current state (duplicate, stale version)."""

    status = 409
    slug = "conflict"
    title = "Conflict"


class PreconditionFailed(AuterityError):
    """An `If-Match` or similar precondition did not hold."""

    status = 412
    slug = "precondition-failed"
    title = "Precondition failed"


class PreconditionRequired(AuterityError):
    """The request must be conditional (`If-Match`) to avoid lost updates."""

    status = 428
    slug = "precondition-required"
    title = "Precondition required"


# -- limits -------------------------------------------------------------------------------


class RateLimited(AuterityError):
    """Too many requests; retry after the indicated time."""

    status = 429
    slug = "rate-limited"
    title = "Too many requests"


class BudgetExceeded(AuterityError):
    """A hard budget would be exceeded."""

    status = 402
    slug = "budget-exceeded"
    title = "Budget exceeded"


# -- something we depend on ---------------------------------------------------------------


class ServiceUnavailable(AuterityError):
    """A dependency (database, Redis, ...) is not available right now."""

    status = 503
    slug = "service-unavailable"
    title = "Service unavailable"


class ProviderUnavailable(AuterityError):
    """An upstream provider failed or is unreachable."""

    status = 502
    slug = "provider-unavailable"
    title = "Provider unavailable"


__all__ = [
    "AuterityError",
    "BadRequest",
    "BudgetExceeded",
    "Conflict",
    "FieldError",
    "MethodNotAllowed",
    "NotFound",
    "PayloadTooLarge",
    "PermissionDenied",
    "PreconditionFailed",
    "PreconditionRequired",
    "ProviderUnavailable",
    "RateLimited",
    "ServiceUnavailable",
    "SettingsError",
    "StepUpRequired",
    "Unauthenticated",
    "UnsupportedMediaType",
    "ValidationFailed",
]
