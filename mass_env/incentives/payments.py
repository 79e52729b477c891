"""Payment rules as a registry: ``name -> rule``, options written ``name:key=value,key=value``.

Why a registry: the rule is part of the leader's commitment that followers observe, selected by name on the
command line (``--rules proper,consensus:r=0.6``) like the leaders; an unknown name or option raises an
error that lists what is valid. Rules and their claims:

================  ===========================================================================================
``proper``        quadratic score -(r - theta)^2 (``score=log``: log score of bucket distributions)
``consensus``     beauty contest with weight ``r`` (Morris & Shin 2002)
``skill``         own Rank IC (today's follower reward)
``weighted_skill`` own Rank IC x K x weight share
``leave_one_out`` marginal contribution to the aggregate's Rank IC
``tournament``    closest report wins, per stock-day (rank tournament)
``peer``          correlated agreement (Shnayder et al. 2016), no target needed
``output_agreement`` agreement with peers: the non-truthful control
``dpm``           the MBI differentiable price, integrated: L(r_i = 0) - L(r)
================  ===========================================================================================
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from ._base import PayContext, PaymentRule
from .peer import CorrelatedAgreement, OutputAgreement
from .rules import (
    Consensus,
    DifferentiablePrice,
    LeaveOneOut,
    LogScore,
    ProperQuadratic,
    Skill,
    Tournament,
    WeightedSkill,
)

__all__ = ["PAYMENT_RULES", "PayContext", "PaymentRule", "UnknownRuleError", "make_rule", "parse_rule_spec"]


class UnknownRuleError(ValueError):
    """An unknown payment rule name or option; the message lists the valid ones."""


def _proper(score: str = "quadratic", buckets: int = 5) -> PaymentRule:
    if score == "quadratic":
        return ProperQuadratic()
    if score == "log":
        return LogScore(buckets=buckets)
    raise UnknownRuleError(f"proper:score must be one of quadratic, log; got {score!r}")


#: name -> (factory, {option: type}); the options are the factory's keyword arguments.
PAYMENT_RULES: dict[str, tuple[Callable[..., PaymentRule], dict[str, type]]] = {
    "proper": (_proper, {"score": str, "buckets": int}),
    "consensus": (Consensus, {"r": float}),
    "skill": (Skill, {}),
    "weighted_skill": (WeightedSkill, {}),
    "leave_one_out": (LeaveOneOut, {}),
    "tournament": (Tournament, {}),
    "peer": (CorrelatedAgreement, {}),
    "output_agreement": (OutputAgreement, {}),
    "dpm": (DifferentiablePrice, {}),
}


def parse_rule_spec(spec: str) -> tuple[str, dict[str, str]]:
    """``"consensus:r=0.6"`` -> ``("consensus", {"r": "0.6"})`` (values still strings)."""
    name, _, rest = spec.strip().partition(":")
    opts: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = part.partition("=")
        if not eq or not key.strip():
            raise UnknownRuleError(f"rule option {part!r} in {spec!r} is not of the form key=value")
        opts[key.strip()] = value.strip()
    return name.strip(), opts


def make_rule(spec: str | PaymentRule) -> PaymentRule:
    """Build a rule from ``"name"`` or ``"name:key=value,..."`` (a rule instance passes through)."""
    if isinstance(spec, PaymentRule):
        return spec
    name, opts = parse_rule_spec(spec)
    if name not in PAYMENT_RULES:
        raise UnknownRuleError(f"unknown payment rule {name!r}; valid rules: {', '.join(sorted(PAYMENT_RULES))}")
    factory, types = PAYMENT_RULES[name]
    bad = sorted(set(opts) - set(types))
    if bad:
        valid = ", ".join(sorted(types)) or "none"
        raise UnknownRuleError(f"unknown option(s) {', '.join(bad)} for rule {name!r}; valid options: {valid}")
    try:
        kwargs = {k: types[k](v) for k, v in opts.items()}
    except ValueError as exc:
        raise UnknownRuleError(f"bad option value in {spec!r}: {exc}") from None
    try:
        return factory(**kwargs)
    except ValueError as exc:
        raise UnknownRuleError(str(exc)) from None


def rule_fields(rule: PaymentRule) -> dict[str, object]:
    """The rule's options as a dict (for tables and JSON rows)."""
    return dataclasses.asdict(rule) if dataclasses.is_dataclass(rule) else {}
