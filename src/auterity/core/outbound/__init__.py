"""Outbound HTTP for the whole platform: the SSRF guard and the one guarded client factory.

In core so that every layer that calls out on someone's behalf uses it: identity (OIDC
discovery, keys, tokens), integrations and workflow steps (through `integrations.http`).
"""

from auterity.core.outbound.client import (
    FetchedResponse,
    OutboundHttp,
    TenantPolicies,
    display_url,
    guarded_client,
    platform_policy,
)
from auterity.core.outbound.errors import (
    AddressBlocked,
    InvalidOutboundRequest,
    OutboundHttpError,
    OutboundNetworkError,
    OutboundTimeout,
    ResponseTooLarge,
    TooManyRedirects,
)
from auterity.core.outbound.guard import Resolver, ssrf_guard, system_resolver
from auterity.core.outbound.policy import NetworkPolicy, blocked_reason
from auterity.core.outbound.retry_after import retry_after_seconds

__all__ = [
    "AddressBlocked",
    "FetchedResponse",
    "InvalidOutboundRequest",
    "NetworkPolicy",
    "OutboundHttp",
    "OutboundHttpError",
    "OutboundNetworkError",
    "OutboundTimeout",
    "Resolver",
    "ResponseTooLarge",
    "TenantPolicies",
    "TooManyRedirects",
    "blocked_reason",
    "display_url",
    "guarded_client",
    "platform_policy",
    "retry_after_seconds",
    "ssrf_guard",
    "system_resolver",
]
