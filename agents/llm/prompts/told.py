"""The prompt of an LLM follower told the payment rule (``agents.llm.told``): texts and how they are rendered.

A told follower's report prompt is the per-stock rating prompt (``templates``) plus, in the type segment, the
rule it is paid by (its name and a plain statement of what it pays, from the rules table of the incentives
page) and its type's pay on the last few paid days, and, in each stock's text, yesterday's published
consensus for the stock on the rating scale. Its view prompt states ``proper`` and shows neither pay nor
consensus: what it says when paid for accuracy alone. Everything shown is text in the prompt, so the
response cache's keys (segments and stock texts, ``TOLD_VERSION``) include the rule, the pay and the
consensus shown: a replay is exact and a view (rule-free) is asked once for every rule.
Changing any text here requires bumping ``TOLD_VERSION``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mass_env.incentives import PaymentRule, make_rule

TOLD_VERSION = "mass-llm-told/1"

#: What each rule pays, in plain words (the "pays" column of the incentives page's rules table, written for
#: a rating 1..5). A rule without an entry is stated by its documented claim (``PaymentRule.claim``).
RULE_TEXTS = {
    "proper": "your pay is minus the squared distance between your rating and how the stock actually does, "
              "so a rating far from the outcome costs you much more than one close to it.",
    "consensus": "{keep}% of your pay is minus the squared distance between your rating and how the stock actually "
                 "does, and {r}% is minus the squared distance between your rating and the consensus (the average "
                 "rating of all investors).",
    "skill": "your pay is the rank correlation between your ratings and how the stocks actually do: only the "
             "order of your ratings across stocks matters.",
    "weighted_skill": "your pay is the rank correlation between your ratings and how the stocks actually do, "
                      "multiplied by the weight the market maker gives your type: only the order of your ratings "
                      "matters.",
    "leave_one_out": "your pay is how much the market maker's combined forecast gains in rank correlation with the "
                     "outcome because your ratings are in it.",
    "tournament": "for each stock, the investor whose rating is closest to how the stock actually does wins 1 and "
                  "everyone else gets 0.",
    "peer": "your pay is how much your ratings agree with another investor's ratings of the same stocks, minus how "
            "much they agree on unrelated stocks; the outcome is never used.",
    "output_agreement": "your pay is how much your ratings agree with the other investors' ratings; the outcome is "
                        "never used.",
    "dpm": "your pay is how much the squared error of the market maker's combined forecast shrinks because of your "
           "rating.",
}
TOLD_TEMPLATE = "You are paid for your rating by the rule {name}: {statement}\n{pay}{consensus}" \
                "Give the rating that earns you the most.\n"
PAY_TEMPLATE = "Your type's pay on the last {n} paid days, oldest first: {values}.\n"
NO_PAY = "You have not been paid yet.\n"
CONSENSUS_TEXT = "Each stock shows yesterday's consensus: the average rating all investors reported.\n"
CONSENSUS_ITEM = " Yesterday's consensus rating {value}."
NO_CONSENSUS = "none"
#: the view's rule: paid for accuracy alone (no pay history, no consensus shown)
VIEW_RULE = "proper"


def rule_statement(rule: str | PaymentRule) -> tuple[str, str]:
    """``(name, plain statement)`` of a rule (a registry spec or instance)."""
    r = make_rule(rule)
    text = RULE_TEXTS.get(r.name)
    if text is None:
        return r.option_string(), r.claim + "."
    if r.name == "consensus":
        share = float(getattr(r, "r", 0.5))
        text = text.format(r=f"{100 * share:g}", keep=f"{100 * (1 - share):g}")
    return r.option_string(), text


def pay_text(pay: Sequence[float] | None) -> str:
    """The pay line: ``None`` shows none (the view), an empty list says nothing was paid yet."""
    if pay is None:
        return ""
    if not len(pay):
        return NO_PAY
    return PAY_TEMPLATE.format(n=len(pay), values=", ".join(f"{float(x):+.2f}" for x in pay))


def told_segment(rule: str | PaymentRule, pay: Sequence[float] | None, consensus: bool) -> str:
    """What is appended to the type segment: the rule, the pay line and (``consensus``) what the consensus is."""
    name, statement = rule_statement(rule)
    return TOLD_TEMPLATE.format(name=name, statement=statement, pay=pay_text(pay),
                                consensus=CONSENSUS_TEXT if consensus else "")


def consensus_phrases(consensus: np.ndarray) -> list[str]:
    """Per stock, the consensus phrase appended to its text: the signal in [-1, 1] as a rating 1..5 with one
    decimal (``3 + 2 c``), ``none`` where no investor rated it."""
    c = np.asarray(consensus, dtype=np.float64)
    return [CONSENSUS_ITEM.format(value=f"{3.0 + 2.0 * float(np.clip(x, -1.0, 1.0)):.1f}" if np.isfinite(x)
                                  else NO_CONSENSUS) for x in c]
