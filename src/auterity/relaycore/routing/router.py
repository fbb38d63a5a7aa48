"""Routing: a request and a policy become an ordered list of candidate deployments.

A request names a model (explicit), an alias (models in order, or a policy), `auto` (the
key's or tenant's default policy) or `router/<policy>`. Policies order a pool of models:
cheapest that satisfies, lowest observed latency, difficulty tiers, or a weighted split.
Every candidate must satisfy the request's needs (kind, context length, tools, JSON schema,
streaming, images) and be usable here (its provider configured).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from auterity.relaycore.catalog import (
    Catalog,
    Deployment,
    ModelSpec,
    PolicySpec,
    TierSelector,
    allowed,
)
from auterity.relaycore.errors import (
    ContextLengthExceeded,
    ModelNotAllowed,
    ModelNotFound,
    NoModelSatisfies,
)
from auterity.relaycore.routing.difficulty import DifficultyScorer
from auterity.relaycore.routing.latency import LatencyTracker

AUTO = "auto"
POLICY_PREFIX = "router/"
EXPECTED_OUTPUT_TOKENS = 256  # for ranking by cost when the request sets no max_tokens
MAX_CANDIDATES = 6
FALLBACK_POLICY = "difficulty"


@dataclass(frozen=True, slots=True)
class Needs:
    """What a model must offer to serve a request."""

    kind: str  # "chat" or "embedding"
    prompt_tokens: int
    max_output_tokens: int | None = None
    tools: bool = False
    json_schema: bool = False
    streaming: bool = False
    vision: bool = False

    def unmet(self, model: ModelSpec) -> str | None:
        """Why `model` cannot serve the request, or None when it can."""
        if model.kind != self.kind:
            return f"is an {model.kind} model" if model.kind == "embedding" else "is a chat model"
        if self.prompt_tokens + (self.max_output_tokens or 0) > model.context_window:
            return f"has a context window of {model.context_window} tokens"
        for wanted, capability in (
            (self.tools, "tools"),
            (self.json_schema, "json_schema"),
            (self.streaming, "streaming"),
            (self.vision, "vision"),
        ):
            if wanted and capability not in model.capabilities:
                return f"does not support {capability}"
        return None


@dataclass(frozen=True, slots=True)
class RouteDecision:
    requested: str
    candidates: tuple[Deployment, ...]
    reason: str  # why these, for the x-auterity-route header and usage records
    policy: str | None = None


class Router:
    def __init__(
        self,
        latency: LatencyTracker,
        scorer: DifficultyScorer,
        usable: Callable[[Deployment], bool],
        rng: random.Random | None = None,
    ) -> None:
        self.latency = latency
        self.scorer = scorer
        self.usable = usable
        self.rng = rng or random.Random()  # noqa: S311 - traffic splitting, not secrets

    def route(
        self,
        catalog: Catalog,
        requested: str | None,
        needs: Needs,
        body: dict[str, Any],
        *,
        allowed_models: tuple[str, ...] | None = None,
        key_policy: str | None = None,
    ) -> RouteDecision:
        name = requested or (
            catalog.defaults.embedding if needs.kind == "embedding" else catalog.defaults.chat
        )
        if not name:
            raise ModelNotFound("Name a model: this gateway has no default.", param="model")
        if name == AUTO or name.startswith(POLICY_PREFIX):
            policy_name = (
                name.removeprefix(POLICY_PREFIX)
                if name != AUTO
                else key_policy or catalog.defaults.policy or FALLBACK_POLICY
            )
            return self._by_policy(catalog, name, policy_name, needs, body, allowed_models)
        if not allowed(name, allowed_models):
            raise ModelNotAllowed(f"This API key may not use the model {name!r}.", param="model")
        if name in catalog.models:
            model = catalog.models[name]
            reason = needs.unmet(model)
            if reason is not None:
                error = ContextLengthExceeded if "context window" in reason else NoModelSatisfies
                raise error(f"The model {name!r} {reason}.", param="messages")
            return self._decision(catalog, name, [name], needs, "explicit", None)
        alias = catalog.aliases.get(name)
        if alias is None:
            raise ModelNotFound(f"The model {name!r} does not exist.", param="model")
        if alias.policy:
            # The alias itself was allowed, so its policy's whole pool is.
            return self._by_policy(catalog, name, alias.policy, needs, body, None)
        fitting = [m for m in alias.models if needs.unmet(catalog.models[m]) is None]
        return self._decision(catalog, name, fitting, needs, f"alias:{name}", None)

    def _by_policy(
        self,
        catalog: Catalog,
        requested: str,
        policy_name: str,
        needs: Needs,
        body: dict[str, Any],
        allowed_models: tuple[str, ...] | None,
    ) -> RouteDecision:
        policy = catalog.policies.get(policy_name)
        if policy is None:
            raise ModelNotFound(f"There is no routing policy {policy_name!r}.", param="model")
        pool = self._pool(catalog, policy.models, needs, allowed_models)
        ordered, detail = self._order(catalog, policy, pool, needs, body)
        fallbacks = [
            m
            for m in self._expand(catalog, policy.fallbacks)
            if m not in ordered and m in catalog.models and needs.unmet(catalog.models[m]) is None
        ]
        reason = f"policy:{policy_name}:{policy.strategy}" + (f":{detail}" if detail else "")
        decision = self._decision(
            catalog, requested, [*ordered, *fallbacks], needs, reason, policy_name
        )
        if policy.strategy != "latency":
            return decision
        # Fastest deployment first, whichever model it serves (a model may have a fast and
        # a slow deployment).
        fastest = sorted(
            decision.candidates, key=lambda d: self.latency.expected_ms(d.id, needs.streaming)
        )
        return RouteDecision(requested, tuple(fastest), reason, policy_name)

    def _expand(self, catalog: Catalog, names: tuple[str, ...]) -> list[str]:
        models: list[str] = []
        for name in names:
            alias = catalog.aliases.get(name)
            models.extend(alias.models if alias is not None and alias.models else [name])
        return models

    def _pool(
        self,
        catalog: Catalog,
        names: tuple[str, ...],
        needs: Needs,
        allowed_models: tuple[str, ...] | None,
    ) -> list[str]:
        candidates = self._expand(catalog, names) if names else list(catalog.models)
        return [
            name
            for name in dict.fromkeys(candidates)
            if name in catalog.models
            and allowed(name, allowed_models)
            and needs.unmet(catalog.models[name]) is None
            and any(self.usable(d) for d in catalog.deployments[name])
        ]

    def _order(
        self,
        catalog: Catalog,
        policy: PolicySpec,
        pool: list[str],
        needs: Needs,
        body: dict[str, Any],
    ) -> tuple[list[str], str]:
        if policy.strategy == "cheapest":
            return sorted(pool, key=lambda m: self._expected_cost(catalog, m, needs)), ""
        if policy.strategy == "latency":
            return sorted(pool, key=lambda m: self._expected_latency(catalog, m, needs)), ""
        if policy.strategy == "difficulty":
            score = self.scorer.score(body)
            hard = score >= policy.threshold
            first = _tier(catalog, pool, policy.hard if hard else policy.easy)
            second = _tier(catalog, pool, policy.easy if hard else policy.hard)
            cheapest = sorted(
                [*first, *[m for m in second if m not in first]],
                key=lambda m: (m not in first, self._expected_cost(catalog, m, needs)),
            )
            return cheapest, f"score={score:.2f}:{'hard' if hard else 'easy'}"
        if policy.strategy == "weighted":
            weighted = [m for m in pool if policy.weights.get(m, 0) > 0]
            if not weighted:
                return [], ""
            chosen = self.rng.choices(weighted, [policy.weights[m] for m in weighted])[0]
            rest = sorted((m for m in weighted if m != chosen), key=lambda m: -policy.weights[m])
            return [chosen, *rest], f"picked={chosen}"
        return pool, ""

    def _expected_cost(self, catalog: Catalog, model: str, needs: Needs) -> int:
        price = catalog.deployments[model][0].price
        output = needs.max_output_tokens or EXPECTED_OUTPUT_TOKENS
        return needs.prompt_tokens * price.input + output * price.output

    def _expected_latency(self, catalog: Catalog, model: str, needs: Needs) -> float:
        return min(
            self.latency.expected_ms(d.id, needs.streaming) for d in catalog.deployments[model]
        )

    def _decision(
        self,
        catalog: Catalog,
        requested: str,
        models: list[str],
        needs: Needs,
        reason: str,
        policy: str | None,
    ) -> RouteDecision:
        deployments = [d for m in models for d in catalog.deployments[m] if self.usable(d)]
        if not deployments:
            kind = "embedding" if needs.kind == "embedding" else "chat"
            raise NoModelSatisfies(
                f"No configured {kind} model available for {requested!r} can serve this request "
                "(check the context length, tools, JSON schema and image needs, the key's "
                "allowed models, and the providers' keys).",
                param="model",
            )
        return RouteDecision(requested, tuple(deployments[:MAX_CANDIDATES]), reason, policy)


def _tier(catalog: Catalog, pool: list[str], selector: TierSelector) -> list[str]:
    if selector.models:
        return [m for m in selector.models if m in pool]
    return [m for m in pool if catalog.models[m].tier == selector.tier]
