"""The errors of the messaging integrations, grouped by what a caller can do about them.

`kind` is the retry vocabulary the workflow engine uses (`rate_limited`, `server_error`,
`network`, `timeout` are worth retrying; `client_error`, `auth_error` are not); the API maps
the same error to a problem response with `problem()`.
"""

from __future__ import annotations

from typing import Any

from auterity.core.errors import (
    AuterityError,
    FieldError,
    ProviderUnavailable,
    RateLimited,
    ValidationFailed,
)
from auterity.core.outbound import (
    AddressBlocked,
    InvalidOutboundRequest,
    OutboundHttpError,
    OutboundNetworkError,
    OutboundTimeout,
)

RETRYABLE = frozenset({"rate_limited", "server_error", "network", "timeout"})


class IntegrationError(ProviderUnavailable):
    """A provider (Twilio, Meta, an SMTP server) refused or failed a call, or could not be
    reached; `details` carries the provider's own code and message."""

    def __init__(
        self,
        detail: str,
        *,
        kind: str,
        details: dict[str, Any] | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.kind = kind
        self.details = details or {}
        self.retry_after = retry_after
        super().__init__(detail, extra={"kind": kind, **({"provider": details} if details else {})})

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE

    def problem(self) -> AuterityError:
        """The problem an API caller gets: 429 with Retry-After, 422 for a message the
        provider refused as it is, 502 for the rest."""
        extra = {"kind": self.kind, **({"provider": self.details} if self.details else {})}
        if self.kind == "rate_limited":
            wait = max(1, round(self.retry_after or 1))
            return RateLimited(self.detail, headers={"Retry-After": str(wait)}, extra=extra)
        if self.kind == "client_error":
            return ValidationFailed(self.detail, extra=extra)
        return ProviderUnavailable(self.detail, extra=extra)


class MissingCredential(IntegrationError):
    """A secret the integration needs is not stored in the tenant."""

    def __init__(self, name: str, purpose: str) -> None:
        super().__init__(
            f"the secret {name!r} ({purpose}) does not exist in this tenant; store it with "
            f"`auterity secrets set {name}` or PUT /api/secrets/{name}",
            kind="client_error",
            details={"secret": name},
        )

    def problem(self) -> AuterityError:
        return ValidationFailed(
            self.detail,
            errors=[FieldError("/secrets", f"{self.details['secret']} is not stored")],
        )


def from_outbound(exc: OutboundHttpError, provider: str) -> IntegrationError:
    """An outbound-client failure (guard, network, timeout) as an integration error."""
    message = f"{provider}: {exc.detail}"
    if isinstance(exc, AddressBlocked):
        details = {"host": exc.host, "address": exc.address, "reason": exc.reason}
        return IntegrationError(message, kind="client_error", details=details)
    if isinstance(exc, OutboundTimeout):
        return IntegrationError(message, kind="timeout")
    if isinstance(exc, OutboundNetworkError):
        return IntegrationError(message, kind="network")
    if isinstance(exc, InvalidOutboundRequest):
        return IntegrationError(message, kind="client_error")
    return IntegrationError(message, kind="network")
