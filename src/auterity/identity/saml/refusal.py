"""Why a SAML login was refused: a stable reason for the audit log, a vague error for the caller.

The caller learns only the class of failure (bad request, not accepted, not allowed); the
reason, and the library's own words, go to the tenant's audit log under the request id.
"""

from __future__ import annotations

import uuid

from auterity.core.errors import AuterityError, PermissionDenied, Unauthenticated

NOT_ACCEPTED = (
    "The SAML response was not accepted. An administrator can find the reason in the audit log "
    "under this request id."
)
NOT_ALLOWED = (
    "This account may not sign in to this tenant through this identity provider. An "
    "administrator can find the reason in the audit log under this request id."
)


class LoginRefused(Exception):
    """Raised by the SAML login steps; the route audits it and answers `error`."""

    def __init__(self, reason: str, error: AuterityError, *, message: str = "") -> None:
        self.reason = reason
        self.error = error
        self.message = message
        self.tenant_id: uuid.UUID | None = None
        self.email: str | None = None
        super().__init__(reason)


def not_accepted(reason: str, message: str = "") -> LoginRefused:
    return LoginRefused(reason, Unauthenticated(NOT_ACCEPTED), message=message)


def not_allowed(reason: str, message: str = "") -> LoginRefused:
    return LoginRefused(reason, PermissionDenied(NOT_ALLOWED), message=message)
