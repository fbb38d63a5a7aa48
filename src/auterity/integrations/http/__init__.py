"""Outbound HTTP for the whole platform: the one SSRF-guarded, pooled client factory.

Everything that calls out over HTTP on a user's behalf (the `http.request` action, webhooks,
integrations) goes through `OutboundHttp`, so the same network policy applies everywhere.
"""

from auterity.integrations.http.client import FetchedResponse, OutboundHttp, display_url
from auterity.integrations.http.errors import (
    AddressBlocked,
    InvalidOutboundRequest,
    OutboundHttpError,
    OutboundNetworkError,
    OutboundTimeout,
    ResponseTooLarge,
    TooManyRedirects,
)
from auterity.integrations.http.guard import Resolver, ssrf_guard, system_resolver
from auterity.integrations.http.policy import NetworkPolicy, blocked_reason

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
]
