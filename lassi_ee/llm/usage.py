"""Tokens and money spent on LLM calls, per role, as plain mergeable data.

A trial keeps one ``Usage`` in its graph state; every reply carries the
``Usage`` of its own call, and the graph adds the two with ``merge`` (usable
as a LangGraph reducer). The per-trial budget is checked against this sum.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, Field

from lassi_ee.roles import Role


class RoleUsage(BaseModel):
    """What one role has spent so far."""

    calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    estimated_calls: int = Field(
        0, description="calls whose server reported no token counts (counted as chars / 4)"
    )
    # What became of the replies: each call's reply is used, asked to continue (cut off),
    # asked again (nothing usable in it), or the last of an operation that gave up.
    continued: int = Field(0, description="replies cut off by the length limit and continued")
    reasked: int = Field(0, description="replies with nothing usable, asked again")
    unusable: int = Field(0, description="last replies of operations that gave up (no re-ask left)")

    @property
    def used(self) -> int:
        """Replies the trial used: every call not continued, re-asked or given up on."""
        return self.calls - self.continued - self.reasked - self.unusable

    def add(self, other: RoleUsage) -> RoleUsage:
        return RoleUsage(
            calls=self.calls + other.calls,
            tokens_in=self.tokens_in + other.tokens_in,
            tokens_out=self.tokens_out + other.tokens_out,
            cost_usd=self.cost_usd + other.cost_usd,
            estimated_calls=self.estimated_calls + other.estimated_calls,
            continued=self.continued + other.continued,
            reasked=self.reasked + other.reasked,
            unusable=self.unusable + other.unusable,
        )


class Usage(BaseModel):
    """Spending by role (``vanilla``, ``refactor``, ...), plus models that have no price."""

    by_role: dict[Role, RoleUsage] = Field(default_factory=dict)
    unpriced_models: list[str] = Field(
        default_factory=list, description="models used with no entry in prices_per_mtok"
    )

    @property
    def tokens_in(self) -> int:
        return sum(r.tokens_in for r in self.by_role.values())

    @property
    def tokens_out(self) -> int:
        return sum(r.tokens_out for r in self.by_role.values())

    @property
    def total_tokens(self) -> int:
        return self.tokens_in + self.tokens_out

    @property
    def cost_usd(self) -> float:
        return sum(r.cost_usd for r in self.by_role.values())

    @property
    def calls(self) -> int:
        return sum(r.calls for r in self.by_role.values())

    def add(self, other: Usage) -> Usage:
        """A new Usage holding both; neither operand changes."""
        by_role = dict(self.by_role)
        for role, spent in other.by_role.items():
            by_role[role] = by_role[role].add(spent) if role in by_role else spent
        unpriced = sorted(set(self.unpriced_models) | set(other.unpriced_models))
        return Usage(by_role=by_role, unpriced_models=unpriced)


def reply_fates(role: Role, *, continued: int = 0, reasked: int = 0, unusable: int = 0) -> Usage:
    """A Usage that counts what became of replies already counted as calls."""
    fates = RoleUsage(continued=continued, reasked=reasked, unusable=unusable)
    return Usage(by_role={role: fates})


def merge(a: Usage | None, b: Usage | None) -> Usage:
    """Reducer-friendly sum: ``Annotated[Usage, merge]`` in a graph state."""
    return (a or Usage()).add(b or Usage())


def price_for(
    model: str, prices_per_mtok: Mapping[str, tuple[float, float]]
) -> tuple[float, float] | None:
    """(USD per 1M input, per 1M output tokens) for ``model``.

    An exact entry wins; otherwise the longest entry that prefixes the name, so
    that ``gpt-4o`` prices ``gpt-4o-2024-08-06``.
    """
    if model in prices_per_mtok:
        return prices_per_mtok[model]
    prefixes = [name for name in prices_per_mtok if model.startswith(name)]
    if not prefixes:
        return None
    return prices_per_mtok[max(prefixes, key=len)]


def call_usage(
    role: Role,
    model: str,
    tokens_in: int,
    tokens_out: int,
    prices_per_mtok: Mapping[str, tuple[float, float]],
    *,
    estimated: bool = False,
) -> Usage:
    """The Usage of one call of ``model`` for ``role``."""
    price = price_for(model, prices_per_mtok)
    cost_usd = 0.0 if price is None else (tokens_in * price[0] + tokens_out * price[1]) / 1e6
    spent = RoleUsage(
        calls=1,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        cost_usd=cost_usd,
        estimated_calls=int(estimated),
    )
    return Usage(by_role={role: spent}, unpriced_models=[] if price else [model])
