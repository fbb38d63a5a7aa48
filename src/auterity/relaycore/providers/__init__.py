"""Providers: one module per kind of upstream, all behind the `Provider` protocol."""

from auterity.relaycore.providers.base import (
    Call,
    Provider,
    ProviderError,
    ProviderNotConfigured,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamServerError,
    UpstreamTimeout,
    UpstreamUnreachable,
)

__all__ = [
    "Call",
    "Provider",
    "ProviderError",
    "ProviderNotConfigured",
    "UpstreamRateLimited",
    "UpstreamRejected",
    "UpstreamServerError",
    "UpstreamTimeout",
    "UpstreamUnreachable",
]
