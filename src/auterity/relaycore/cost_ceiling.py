"""A request's own cost ceiling: the `cost_ceiling` stage of the gateway pipeline, after `route`.

A caller that sets `ctx.max_cost_micros` gets only candidates whose estimated maximum cost
fits: the prompt counted with each model's tokenizer, plus the most it may write (`max_tokens`,
else the budget stage's default, for each choice), at the deployment's prices. The pricier
candidates are dropped, so an alias or policy lands on a cheaper one; when none fits,
the request is refused with 402 before any provider is called. Without a ceiling the stage
does nothing.
"""

from __future__ import annotations

import dataclasses

from auterity.core.errors import BudgetExceeded
from auterity.relaycore.catalog import Catalog, Deployment
from auterity.relaycore.costs import cost_micros, format_usd
from auterity.relaycore.pipeline import Answer, Next, RelayContext
from auterity.relaycore.stages import worst_usage
from auterity.relaycore.tokens import count_messages


class MaxCostExceeded(BudgetExceeded):
    """No candidate's estimated maximum cost fits the request's own `max_cost_usd`."""

    slug = "max-cost-exceeded"
    title = "Maximum cost exceeded"


def tokenizer_of(catalog: Catalog | None, deployment: Deployment) -> str:
    model = catalog.models.get(deployment.model) if catalog is not None else None
    return model.tokenizer if model is not None else "o200k"


def estimated_max_costs(ctx: RelayContext) -> dict[str, int]:
    """Micro-dollars per candidate: the prompt at its model's tokenizer (counted once per
    tokenizer), plus the output cap as the budget stage reserves it, at its prices."""
    assert ctx.route is not None
    body = ctx.body
    prompts: dict[str, int] = {}
    estimates: dict[str, int] = {}
    for deployment in ctx.route.candidates:
        tokenizer = tokenizer_of(ctx.catalog, deployment)
        if tokenizer not in prompts:
            prompts[tokenizer] = count_messages(
                body.get("messages") or [], body.get("tools"), tokenizer
            )
        estimates[deployment.id] = cost_micros(
            deployment.price, worst_usage(ctx, prompts[tokenizer])
        )
    return estimates


async def cost_ceiling(ctx: RelayContext, call_next: Next) -> Answer:
    limit = ctx.max_cost_micros
    route = ctx.route
    if limit is None or route is None or ctx.kind != "chat":
        return await call_next(ctx)
    estimates = estimated_max_costs(ctx)
    fitting = tuple(d for d in route.candidates if estimates[d.id] <= limit)
    if not fitting:
        cheapest = min(route.candidates, key=lambda d: estimates[d.id])
        raise MaxCostExceeded(
            f"The request may cost up to ${format_usd(estimates[cheapest.id])} on the cheapest "
            f"model that can serve it ({cheapest.model!r}), over its max_cost_usd of "
            f"${format_usd(limit)}. Raise max_cost_usd, lower max_tokens, shorten the prompt, "
            "or ask for a cheaper model.",
            extra={
                "max_cost_usd": format_usd(limit),
                "estimated_cost_usd": format_usd(estimates[cheapest.id]),
                "model": cheapest.model,
            },
        )
    if fitting != route.candidates:
        ctx.route = dataclasses.replace(
            route, candidates=fitting, reason=f"{route.reason};max_cost"
        )
    return await call_next(ctx)
