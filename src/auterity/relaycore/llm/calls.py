"""One chat call of the platform API through the gateway's own pipeline, for a principal.

The same stages as `/v1` (usage, rate limits, cache, routing, cost ceiling, budgets,
failover), charged to the principal's tenant and API key. Errors come out as the platform's
problems: the gateway's own already are; a provider's failure is translated here.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Any, ClassVar

from auterity.core.errors import (
    AuterityError,
    FieldError,
    ProviderUnavailable,
    RateLimited,
    ServiceUnavailable,
    ValidationFailed,
)
from auterity.core.request_context import current_request_id
from auterity.identity.principal import Principal
from auterity.relaycore.catalog import MICROS
from auterity.relaycore.costs import Usage
from auterity.relaycore.errors import ModelNotFound
from auterity.relaycore.gateway import RelayGateway
from auterity.relaycore.pipeline import RelayContext
from auterity.relaycore.providers.base import ProviderError


class UpstreamTimedOut(ProviderUnavailable):
    """No provider answered in time."""

    status: ClassVar[int] = 504
    slug: ClassVar[str] = "upstream-timeout"
    title: ClassVar[str] = "Provider timed out"


class UpstreamRefused(AuterityError):
    """The provider refused the request itself: the request must change."""

    status: ClassVar[int] = 400
    slug: ClassVar[str] = "provider-refused-request"
    title: ClassVar[str] = "Provider refused the request"


@dataclass(frozen=True)
class Reply:
    """A complete answer with what it cost and who served it."""

    text: str
    finish_reason: str | None
    model: str
    provider: str
    route: str
    usage: Usage
    cost_micros: int
    request_id: str
    cache_hit: bool
    headers: dict[str, str]


def micros_of_usd(value: Decimal) -> int:
    """Dollars as whole micro-dollars, rounded down (a ceiling never rounds up)."""
    return int((value * MICROS).to_integral_value(rounding=ROUND_DOWN))


def problem_of(error: ProviderError) -> AuterityError:
    """A provider's failure as the platform's problem, with the same meaning."""
    if error.status == 429:
        headers = {}
        if error.retry_after is not None:
            headers["Retry-After"] = str(max(1, round(error.retry_after)))
        return RateLimited(f"The model provider is rate limiting: {error.message}", headers=headers)
    if error.status == 504:
        return UpstreamTimedOut(f"The model provider did not answer in time: {error.message}")
    if error.status == 503:
        return ServiceUnavailable(f"No model provider can serve this now: {error.message}")
    if error.status >= 500:
        return ProviderUnavailable(f"The model provider failed: {error.message}")
    pointer = "/" + error.param.replace(".", "/") if error.param else None
    return UpstreamRefused(
        f"The model provider refused the request: {error.message}",
        errors=[FieldError(pointer, error.message)] if pointer else None,
    )


async def chat(
    gateway: RelayGateway,
    principal: Principal,
    body: dict[str, Any],
    *,
    max_cost_micros: int | None = None,
    capabilities: frozenset[str] = frozenset(),
    model_field: str = "/model",
) -> Reply:
    """Run an OpenAI-shaped chat request; `model_field` names where the model came from."""
    ctx = RelayContext(
        principal,
        "chat",
        {**body, "stream": False},
        max_cost_micros=max_cost_micros,
        capabilities=capabilities,
    )
    try:
        answer = await gateway.pipeline.handle(ctx)
    except ProviderError as error:
        raise problem_of(error) from error
    except ModelNotFound as error:
        raise ValidationFailed(
            error.detail, errors=[FieldError(model_field, error.detail)]
        ) from error
    assert answer.body is not None
    choice = (answer.body.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    usage = ctx.usage or Usage.from_openai(answer.body.get("usage")) or Usage()
    deployment = ctx.deployment
    hit = ctx.extra.get("cache_hit_model")
    return Reply(
        text=str(message.get("content") or ""),
        finish_reason=choice.get("finish_reason"),
        model=deployment.model if deployment else str((hit or ("", ""))[0] or ""),
        provider=deployment.provider if deployment else str((hit or ("", ""))[1] or ""),
        route=ctx.route_reason,
        usage=usage,
        cost_micros=ctx.cost_micros,
        request_id=current_request_id() or ctx.request_id,
        cache_hit=ctx.cache_hit,
        headers=dict(ctx.headers),
    )
