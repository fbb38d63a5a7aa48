"""The model catalog: models, the provider deployments serving them, prices, aliases, policies.

The shipped `catalog.yaml` is merged with the operator's file (`AUTERITY_RELAY_CATALOG_PATH`)
and then with a tenant's own document (stored in the database); each layer replaces entries
by name, field by field, and `enabled: false` removes one. Prices are kept as integer
micro-dollars per 1M tokens so cost arithmetic never touches floats.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from auterity.core.errors import FieldError, SettingsError, ValidationFailed

ProviderKind = Literal["openai", "anthropic", "compatible", "local"]
Strategy = Literal["explicit", "cheapest", "latency", "difficulty", "weighted"]
Capability = Literal["tools", "vision", "json_schema", "streaming"]
SECTIONS = ("providers", "models", "aliases", "policies")
MICROS = 1_000_000


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PriceSpec(_Spec):
    """US dollars per 1M tokens."""

    input: Decimal = Field(ge=0)
    output: Decimal = Field(ge=0)
    cached_input: Decimal | None = Field(default=None, ge=0)


class DeploymentSpec(_Spec):
    provider: str
    model: str = Field(description="The model's name at the provider.")
    weight: int = Field(default=1, ge=0)
    price: PriceSpec | None = None


class ModelSpec(_Spec):
    kind: Literal["chat", "embedding"] = "chat"
    context_window: int = Field(gt=0)
    max_output_tokens: int | None = Field(default=None, gt=0)
    dimensions: int | None = Field(default=None, gt=0)
    price: PriceSpec
    capabilities: frozenset[Capability] = frozenset()
    tokenizer: Literal["cl100k", "o200k", "estimate"] = "o200k"
    tier: str | None = None
    deployments: tuple[DeploymentSpec, ...] = Field(min_length=1)


class ProviderSpec(_Spec):
    kind: ProviderKind
    base_url: str | None = None
    # A secret in the tenant's secret store holding the key; otherwise the operator's key
    # from AUTERITY_RELAY_PROVIDER_KEYS (operator-defined providers only).
    api_key_secret: str | None = None
    http2: bool = True
    timeout_seconds: float | None = Field(default=None, gt=0, le=600)

    @model_validator(mode="after")
    def _needs_url(self) -> ProviderSpec:
        if self.kind != "local" and not self.base_url:
            raise ValueError(f"a {self.kind} provider needs base_url")
        return self


class AliasSpec(_Spec):
    models: tuple[str, ...] = ()
    policy: str | None = None

    @model_validator(mode="after")
    def _one_target(self) -> AliasSpec:
        if bool(self.models) == bool(self.policy):
            raise ValueError("an alias names either models or a policy")
        return self


class TierSelector(_Spec):
    tier: str | None = None
    models: tuple[str, ...] = ()


class PolicySpec(_Spec):
    strategy: Strategy
    # The pool a strategy picks from; empty means every chat model this key may use.
    models: tuple[str, ...] = ()
    weights: dict[str, int] = Field(default_factory=dict)
    threshold: float = Field(default=0.5, ge=0, le=1)
    easy: TierSelector = TierSelector(tier="cheap")
    hard: TierSelector = TierSelector(tier="strong")
    fallbacks: tuple[str, ...] = ()


class Defaults(_Spec):
    chat: str | None = None
    embedding: str | None = None
    policy: str | None = Field(default=None, description="Used for requests with model 'auto'.")


class CatalogDocument(_Spec):
    providers: dict[str, ProviderSpec] = Field(default_factory=dict)
    models: dict[str, ModelSpec] = Field(default_factory=dict)
    aliases: dict[str, AliasSpec] = Field(default_factory=dict)
    policies: dict[str, PolicySpec] = Field(default_factory=dict)
    defaults: Defaults = Defaults()


@dataclass(frozen=True, slots=True)
class Price:
    """Integer micro-dollars per 1M tokens."""

    input: int
    output: int
    cached_input: int

    @classmethod
    def of(cls, spec: PriceSpec) -> Price:
        cached = spec.input if spec.cached_input is None else spec.cached_input
        return cls(_micros(spec.input), _micros(spec.output), _micros(cached))


def _micros(dollars: Decimal) -> int:
    return int((dollars * MICROS).to_integral_value())


@dataclass(frozen=True, slots=True)
class Deployment:
    """One way to serve a model: a provider and the model's name there."""

    id: str  # "<provider>:<upstream model>", the circuit breaker's and latency tracker's key
    model: str  # the catalog name
    provider: str
    provider_spec: ProviderSpec
    upstream_model: str
    price: Price
    weight: int
    trusted: bool  # defined by the operator, not by a tenant


class Catalog:
    """A merged, validated catalog with the look-ups routing needs."""

    def __init__(self, document: CatalogDocument, trusted_providers: frozenset[str]) -> None:
        self.document = document
        self.trusted_providers = trusted_providers
        self.models = document.models
        self.aliases = document.aliases
        self.policies = document.policies
        self.defaults = document.defaults
        self.deployments: dict[str, tuple[Deployment, ...]] = {
            name: tuple(self._deployment(name, model, d) for d in model.deployments)
            for name, model in document.models.items()
        }

    def _deployment(self, name: str, model: ModelSpec, spec: DeploymentSpec) -> Deployment:
        return Deployment(
            id=f"{spec.provider}:{spec.model}",
            model=name,
            provider=spec.provider,
            provider_spec=self.document.providers[spec.provider],
            upstream_model=spec.model,
            price=Price.of(spec.price or model.price),
            weight=spec.weight,
            trusted=spec.provider in self.trusted_providers,
        )

    @cached_property
    def all_deployments(self) -> dict[str, Deployment]:
        return {d.id: d for group in self.deployments.values() for d in group}

    def names(self) -> list[str]:
        """Every model and alias a request may name."""
        return [*self.models, *self.aliases]


def allowed(name: str, patterns: tuple[str, ...] | None) -> bool:
    """Whether a key limited to `patterns` (globs such as `local/*`) may use `name`."""
    if patterns is None:
        return True
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`override` laid over `base`: entries by name, field by field; `enabled: false` drops."""
    merged = {key: dict(value) for key, value in base.items() if isinstance(value, dict)}
    for key, value in override.items():
        if key in SECTIONS:
            section = dict(merged.get(key, {}))
            for name, entry in (value or {}).items():
                if entry is None or (isinstance(entry, dict) and entry.get("enabled") is False):
                    section.pop(name, None)
                elif isinstance(entry, dict) and isinstance(section.get(name), dict):
                    section[name] = {**section[name], **entry}
                else:
                    section[name] = entry
            merged[key] = section
        elif isinstance(value, dict):
            merged[key] = {**merged.get(key, {}), **value}
        else:
            merged[key] = value
    return merged


def shipped_document() -> dict[str, Any]:
    text = resources.files("auterity.relaycore").joinpath("catalog.yaml").read_text("utf-8")
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded


def operator_document(path: Path | None) -> dict[str, Any]:
    """The shipped catalog with the operator's file laid over it."""
    document = shipped_document()
    if path is not None:
        try:
            override = yaml.safe_load(path.read_text("utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise SettingsError(f"AUTERITY_RELAY_CATALOG_PATH: cannot read {path}: {exc}") from None
        document = merge(document, override)
    return document


def build_catalog(
    document: dict[str, Any], trusted_providers: frozenset[str] | None = None
) -> Catalog:
    """Validate a raw document into a catalog; raises ValidationFailed naming each problem."""
    try:
        parsed = CatalogDocument.model_validate(document)
    except ValidationError as exc:
        raise ValidationFailed(
            "The model catalog is invalid.",
            errors=[
                FieldError("/" + "/".join(str(p) for p in e["loc"]), e["msg"]) for e in exc.errors()
            ],
        ) from None
    problems = _dangling_references(parsed)
    if problems:
        raise ValidationFailed("The model catalog is invalid.", errors=problems)
    trusted = frozenset(parsed.providers) if trusted_providers is None else trusted_providers
    return Catalog(parsed, trusted)


def _dangling_references(document: CatalogDocument) -> list[FieldError]:
    problems = []
    for name, model in document.models.items():
        for index, deployment in enumerate(model.deployments):
            if deployment.provider not in document.providers:
                problems.append(
                    FieldError(
                        f"/models/{name}/deployments/{index}/provider",
                        f"no provider named {deployment.provider!r}",
                    )
                )
    names = set(document.models) | set(document.aliases)
    for name, alias in document.aliases.items():
        if name in document.models:
            problems.append(FieldError(f"/aliases/{name}", "an alias cannot shadow a model"))
        for target in alias.models:
            if target not in document.models:
                problems.append(FieldError(f"/aliases/{name}/models", f"no model {target!r}"))
        if alias.policy and alias.policy not in document.policies:
            problems.append(FieldError(f"/aliases/{name}/policy", f"no policy {alias.policy!r}"))
    for name, policy in document.policies.items():
        for target in (*policy.models, *policy.weights, *policy.fallbacks):
            if target not in names:
                problems.append(FieldError(f"/policies/{name}", f"no model or alias {target!r}"))
    return problems
