"""Token and cost accounting as plain, mergeable data."""

from __future__ import annotations

import pytest

from lassi_ee.llm.usage import Usage, call_usage, merge, price_for

PRICES = {"gpt-4o": (2.5, 10.0), "gpt-4o-mini": (0.15, 0.6)}


def test_price_exact_then_longest_prefix() -> None:
    assert price_for("gpt-4o-mini", PRICES) == (0.15, 0.6)
    assert price_for("gpt-4o-mini-2024-07-18", PRICES) == (0.15, 0.6)
    assert price_for("gpt-4o-2024-08-06", PRICES) == (2.5, 10.0)
    assert price_for("llama3", PRICES) is None


def test_call_usage_costs_tokens_at_the_price() -> None:
    usage = call_usage("refactor", "gpt-4o", 1_000_000, 100_000, PRICES)
    assert usage.cost_usd == pytest.approx(2.5 + 1.0)
    assert usage.by_role["refactor"].calls == 1
    assert usage.unpriced_models == []


def test_unpriced_models_are_listed_and_cost_nothing() -> None:
    usage = call_usage("plan", "llama3", 100, 10, PRICES, estimated=True)
    assert usage.cost_usd == 0.0
    assert usage.unpriced_models == ["llama3"]
    assert usage.by_role["plan"].estimated_calls == 1


def test_merge_adds_per_role_without_changing_operands() -> None:
    a = call_usage("plan", "gpt-4o", 100, 10, PRICES)
    b = call_usage("plan", "gpt-4o", 50, 5, PRICES).add(call_usage("judge", "x", 7, 3, PRICES))
    total = merge(a, b)
    assert total.by_role["plan"].tokens_in == 150 and total.by_role["plan"].calls == 2
    assert total.by_role["judge"].tokens_out == 3
    assert (total.tokens_in, total.tokens_out, total.total_tokens) == (157, 18, 175)
    assert total.unpriced_models == ["x"]
    assert a.by_role["plan"].calls == 1  # unchanged
    assert merge(None, a) == a and merge(a, None) == a


def test_usage_round_trips_as_plain_data() -> None:
    usage = call_usage("vanilla", "gpt-4o", 10, 20, PRICES)
    assert Usage.model_validate_json(usage.model_dump_json()) == usage
    with pytest.raises(ValueError):
        Usage.model_validate({"by_role": {"poet": {}}})
