"""Outbound HTTP for integrations and workflow steps: the platform's SSRF-guarded client
factory (which lives in `core.outbound`, so identity uses the same one), widened per tenant
by the exceptions in its settings (`tenant_policies`).
"""

from auterity.core.outbound import (
    AddressBlocked,
    FetchedResponse,
    InvalidOutboundRequest,
    NetworkPolicy,
    OutboundHttp,
    OutboundHttpError,
    OutboundNetworkError,
    OutboundTimeout,
    Resolver,
    ResponseTooLarge,
    TooManyRedirects,
    blocked_reason,
    display_url,
    ssrf_guard,
    system_resolver,
)
from auterity.integrations.http.tenants import tenant_policies

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
    "TooManyRedirects",
    "blocked_reason",
    "display_url",
    "ssrf_guard",
    "system_resolver",
    "tenant_policies",
]
