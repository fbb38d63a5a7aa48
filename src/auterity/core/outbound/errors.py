"""Why an outbound HTTP request got no usable answer, grouped by what the caller can do.

Rooted in the platform's one error tree; an HTTP status is an answer, never one of these.
"""

from __future__ import annotations

from auterity.core.errors import (
    AuterityError,
    PermissionDenied,
    ProviderUnavailable,
    ValidationFailed,
)


class OutboundHttpError(AuterityError):
    """Base of every failure of an outbound HTTP request."""


class AddressBlocked(OutboundHttpError, PermissionDenied):
    """The host resolves only to addresses the network policy does not allow (SSRF guard)."""

    slug = "outbound-address-blocked"
    title = "Outbound address blocked"

    def __init__(self, detail: str, *, host: str, address: str, reason: str) -> None:
        super().__init__(detail, extra={"host": host, "address": address, "reason": reason})
        self.host = host
        self.address = address
        self.reason = reason


class InvalidOutboundRequest(OutboundHttpError, ValidationFailed):
    """The request cannot be sent as given (bad URL, unsupported scheme, bad header)."""

    slug = "invalid-outbound-request"
    title = "Invalid outbound request"


class OutboundTimeout(OutboundHttpError, ProviderUnavailable):
    """No complete answer within the time allowed."""

    slug = "outbound-timeout"
    title = "Outbound request timed out"


class OutboundNetworkError(OutboundHttpError, ProviderUnavailable):
    """The host did not resolve, refused or dropped the connection, or broke the protocol."""

    slug = "outbound-network-error"
    title = "Outbound network error"


class ResponseTooLarge(OutboundHttpError, ProviderUnavailable):
    """The response body is over the size limit; it was not read to the end."""

    slug = "outbound-response-too-large"
    title = "Outbound response too large"


class TooManyRedirects(OutboundHttpError, ProviderUnavailable):
    """The server redirected more times than allowed."""

    slug = "outbound-too-many-redirects"
    title = "Too many redirects"
