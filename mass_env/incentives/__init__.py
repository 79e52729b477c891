"""Incentives, measured: payment rules, the information market with known answers, best responses and
incentive metrics (deviation gain, NashConv, private weight, herding, efficiency), and the leader's optimal
commitment (Conitzer & Sandholm 2006). numpy/scipy only; see ``shared/design/incentives.md``.

Modules: ``market`` (the information market), ``payments`` (the rule registry; rules in ``rules`` and
``peer``), ``closed_form`` (known answers), ``responses`` (best responses, iterated best response),
``metrics`` (incentive metrics), ``commitment`` (optimal mixed commitment in bimatrix games).
"""

from ._base import PayContext, PaymentRule
from .market import InformationMarket, MarketDraw
from .payments import PAYMENT_RULES, UnknownRuleError, make_rule
from .responses import DeviationFamily, Equilibrium, SearchResult

__all__ = [
    "PAYMENT_RULES", "DeviationFamily", "Equilibrium", "InformationMarket", "MarketDraw", "PayContext",
    "PaymentRule", "SearchResult", "UnknownRuleError", "make_rule",
]
