"""What a provider is to the gateway: a Protocol over OpenAI-shaped dicts, and one error tree.

Every provider speaks the OpenAI chat/embeddings shapes to the gateway whatever it speaks
upstream; its failures are translated at its boundary into `ProviderError`s grouped by what
failover does with them: try the next candidate (`retryable`), or give the client its answer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from auterity.core.outbound import NetworkPolicy
from auterity.relaycore.catalog import Deployment


class ProviderError(Exception):
    """An upstream call failed; `status`, `type` and `code` are what the client is told."""

    retryable = True  # another candidate may well succeed
    counts_against_breaker = True
    status = 502
    type = "api_error"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        self.retry_after = retry_after
        self.code = code
        self.param = param


class UpstreamUnreachable(ProviderError):
    """The connection failed or was dropped before a complete answer."""


class UpstreamTimeout(ProviderError):
    """No answer (or no next chunk) within the provider's timeout."""

    status = 504
    code_default = "upstream_timeout"


class UpstreamRateLimited(ProviderError):
    """The provider said 429; `retry_after` holds its Retry-After when it sent one."""

    status = 429
    type = "rate_limit_error"


class UpstreamServerError(ProviderError):
    """The provider answered 5xx."""


class UpstreamRejected(ProviderError):
    """The provider refused the request itself (4xx): the client must change it."""

    retryable = False
    counts_against_breaker = False
    type = "invalid_request_error"


class ProviderNotConfigured(ProviderError):
    """This deployment cannot be called here (no key, model not installed): skip it."""

    counts_against_breaker = False
    status = 503


@dataclass(slots=True)
class Call:
    """One upstream call: where, what (an OpenAI-shaped body) and with which credential."""

    deployment: Deployment
    body: dict[str, Any]
    api_key: str | None = field(repr=False)  # never in a log line or a traceback's repr
    timeout: float
    headers: dict[str, str] = field(default_factory=dict)
    # The tenant's own SSRF exceptions, for providers the tenant defined.
    network: NetworkPolicy | None = None


class Provider(Protocol):
    """A kind of upstream. `stream` is an async generator: nothing is sent until it is
    iterated, and any failure before its first chunk is raised from that first step."""

    async def chat(self, call: Call) -> dict[str, Any]: ...

    def stream(self, call: Call) -> AsyncIterator[dict[str, Any]]: ...

    async def embed(self, call: Call) -> dict[str, Any]: ...

    async def aclose(self) -> None: ...
