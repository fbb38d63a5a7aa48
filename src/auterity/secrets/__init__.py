"""The secret store: tenant secrets for integrations, versioned, sealed or kept in Vault.

Use `SecretService` (built from the runtime; the app keeps one on `app.state.secrets`).
"""

from auterity.secrets.backend import (
    RevealedSecret,
    SecretBackend,
    SecretBackendUnavailable,
    SecretInfo,
    SecretNotFound,
)
from auterity.secrets.service import SecretService, check_name

__all__ = [
    "RevealedSecret",
    "SecretBackend",
    "SecretBackendUnavailable",
    "SecretInfo",
    "SecretNotFound",
    "SecretService",
    "check_name",
]
