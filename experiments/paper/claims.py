"""The seed paper's published numbers and qualitative claims, and how a run judges each claim.

Numbers are from ``shared/papers/mechanism-design-alpha-discovery.txt`` (Table 3.2, 10-day Rank IC;
A, D, E and F over 3 seeds with their std, B, C and the two 512-agent rows single numbers; the
consensus claim from section 3.3). Each claim is judged on a run's evaluation days, every series on
the same seeds and days so all comparisons keep their pairing, with the t test of
``experiments.stats.inference`` (one standard error per contrast: seed part + the day noise all seeds
share; the same ``difference_ci`` the tables print, computed once per contrast in ``Evidence``):

* **holds**: the test rejects the threshold on the claimed side;
* **does not hold**: it rejects on the other side;
* **unresolved**: neither (or a config the claim needs was not run).

A claim about several comparisons ("A beats D, E and F") judges each part at its Holm-corrected level
(``experiments.stats.verdicts.judge``), so the claim as a whole is wrongly said to hold at most 5% of
the time; it holds when every part holds and does not hold when any does not. The printed interval
of each part is its 95% CI, the one the tables print for that contrast; with several parts the
Holm-adjusted p-value follows it. The ratio claim (consensus about twice the combined signal) is
judged as two linear contrasts once the denominator's CI excludes zero (``verdicts.ratio_claim``).
The learned alpha's median is not a mean: it keeps a day-block bootstrap percentile interval
(``DayBlockBootstrap.median``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import pandas as pd

from experiments.stats.inference import DifferenceCI, difference_ci
from experiments.stats.statistics import UNRESOLVED, DayBlockBootstrap, Interval, seed_day_matrix
from experiments.stats.verdicts import ClaimVerdict, Part, combine, judge, ratio_claim
from mass_env.game.components import ric_column

PAPER = ("\"Mechanism Design for Multi-Agent Alpha Discovery: Optimizing Agent Distribution in Heterogeneous "
         "LLM Markets\", Table 3.2 (10d Rank IC)")


@dataclass(frozen=True)
class Published:
    """One row of the paper's table: 10-day Rank IC (mean, std over its seeds, how many seeds)."""

    value: float
    std: float | None
    seeds: int

    def text(self) -> str:
        return f"{self.value:+.3f}" + (f" ± {self.std:.3f}" if self.std is not None else "") + f" ({self.seeds}s)"


PUBLISHED: Mapping[str, Published] = MappingProxyType({
    "A": Published(0.033, 0.010, 3), "B": Published(0.007, None, 1), "C": Published(-0.019, None, 1),
    "D": Published(0.023, 0.006, 3), "F": Published(0.013, 0.026, 3), "E": Published(0.021, 0.004, 3),
    "E-512": Published(0.044, None, 1), "A-512": Published(-0.006, None, 1),
})
#: The paper's configs, in its table's order.
PAPER_CONFIGS = tuple(PUBLISHED)
#: The smallest gap the paper interprets (A 0.033 vs D 0.023): what a reproduction must resolve.
PAPER_GAP = ("A - D", 0.010)
#: "consensus ~ 2x combined": judged as the ratio lying within a factor 1.5 of 2.
RATIO_BAND = (4 / 3, 3.0)


class Evidence:
    """A run's evaluation-day series on common seeds and days; one ``difference_ci`` per contrast (cached,
    so a contrast prints the same interval wherever it appears) and one bootstrap draw for the medians."""

    def __init__(self, daily: pd.DataFrame, *, horizon: int = 10, n_boot: int = 2000, ci: float = 0.95,
                 seed: int = 0) -> None:
        ev = daily[daily["eval"]]
        self.daily, self.ci, self.horizon = daily, ci, horizon
        self.configs = set(ev["config"])
        ref = ev[ev["config"] == "A"] if "A" in self.configs else ev
        self.seeds = sorted(set(ref["seed"]))
        self.days = sorted(set(ref["day"]))
        self.boot = DayBlockBootstrap(len(self.seeds), max(1, len(self.days)), block=horizon, n_boot=max(1, n_boot),
                                      rng=np.random.default_rng([seed, 0xC1A1]))
        self._col = ric_column("signal", horizon)
        self._cis: dict[tuple[str, str, str], DifferenceCI] = {}

    def has(self, *configs: str) -> bool:
        return all(c in self.configs for c in configs)

    def series(self, config: str, column: str | None = None) -> np.ndarray:
        return seed_day_matrix(self.daily, config, column or self._col, self.seeds, self.days)

    def level(self, config: str, column: str | None = None) -> DifferenceCI:
        """The mean of one config's series with its CI."""
        key = (config, "", column or self._col)
        if key not in self._cis:
            self._cis[key] = difference_ci(self.series(config, column), self.horizon, self.ci)
        return self._cis[key]

    def diff(self, a: str, b: str) -> DifferenceCI:
        """``a - b`` of the headline Rank IC, paired by seed and day, with its CI."""
        key = (a, b, self._col)
        if key not in self._cis:
            self._cis[key] = difference_ci(self.series(a) - self.series(b), self.horizon, self.ci)
        return self._cis[key]

    def ratio(self, config: str, num: str, den: str, band: tuple[float, float]) -> ClaimVerdict:
        """"``band[0] <= mean(num) / mean(den) <= band[1]``" as two linear contrasts (``ratio_claim``)."""
        return ratio_claim(self.series(config, num), self.series(config, den), band, self.horizon, self.ci,
                           label=f"{config} {num.split('_')[1]} / {den.split('_')[1]}")

    def median(self, config: str, column: str) -> Interval:
        return self.boot.median(self.series(config, column), self.ci)


@dataclass(frozen=True)
class Claim:
    """One qualitative claim of the paper: its words, the configs it needs and how it is judged."""

    key: str
    text: str
    paper: str
    rule: str
    needs: tuple[str, ...]
    judge: Callable[[Evidence], tuple[str, str]]


def _iv(iv: Interval, fmt: str = "+.3f") -> str:
    return f"{iv.point:{fmt}} [{iv.lo:{fmt}}, {iv.hi:{fmt}}]"


def _ci(c: DifferenceCI, fmt: str = "+.3f") -> str:
    """A contrast as every table prints it: estimate [95% CI]."""
    return f"{c.estimate:{fmt}} [{c.lo:{fmt}}, {c.hi:{fmt}}]"


def _judged(parts: Sequence[Part], ci: float) -> tuple[str, str]:
    """Every part at its Holm level; each printed with its CI (the tables' interval), and with several
    parts the Holm-adjusted p-value that decided it."""
    v = judge(parts, ci)
    texts = []
    for part, pv in zip(parts, v.parts):
        texts.append(f"{part.label} = {_ci(part.ci)}" + (f" (Holm p {pv.p_adjusted:.2f})" if len(parts) > 1 else ""))
    return v.verdict, "; ".join(texts)


def _beats(a: str, b: str) -> Callable[[Evidence], tuple[str, str]]:
    def judge_(e: Evidence) -> tuple[str, str]:
        return _judged([Part(f"{a} - {b}", e.diff(a, b), direction=1)], e.ci)
    return judge_


def _all_beat(a: str, others: Sequence[str]) -> Callable[[Evidence], tuple[str, str]]:
    def judge_(e: Evidence) -> tuple[str, str]:
        return _judged([Part(f"{a} - {o}", e.diff(a, o), direction=1) for o in others], e.ci)
    return judge_


def _worst(x: str, others: Sequence[str]) -> Callable[[Evidence], tuple[str, str]]:
    def judge_(e: Evidence) -> tuple[str, str]:
        return _judged([Part(f"{x} - {o}", e.diff(x, o), direction=-1) for o in others], e.ci)
    return judge_


def _collapses(x: str) -> Callable[[Evidence], tuple[str, str]]:
    def judge_(e: Evidence) -> tuple[str, str]:
        return _judged([Part(x, e.level(x), direction=-1)], e.ci)
    return judge_


def _consensus_ratio(e: Evidence) -> tuple[str, str]:
    v = e.ratio("A", ric_column("consensus", e.horizon), ric_column("signal", e.horizon), RATIO_BAND)
    return v.verdict, v.text()


def _alpha_median(configs: Sequence[str]) -> Callable[[Evidence], tuple[str, str]]:
    def judge(e: Evidence) -> tuple[str, str]:
        ms = {c: e.median(c, "alpha") for c in configs}
        return combine([m.above(0.5) for m in ms.values()]), "; ".join(f"{c} median alpha = {_iv(m, '.2f')}"
                                                                        for c, m in ms.items())
    return judge


CLAIMS: tuple[Claim, ...] = (
    Claim("A>D,E,F", "A beats D, E and F at 64 agents", "A .033 vs D .023, E .021, F .013",
          "each of A - D, A - E, A - F > 0", ("A", "D", "E", "F"), _all_beat("A", ("D", "E", "F"))),
    Claim("B<A", "B (combined fitness) falls below A", "B .007 vs A .033", "B - A < 0", ("A", "B"),
          _worst("B", ("A",))),
    Claim("C collapses", "C (learned alpha with SA) collapses", "C -.019", "C < 0", ("C",), _collapses("C")),
    Claim("D>C", "CMA-ES (D) recovers over SA with learned alpha (C)", "D .023 vs C -.019", "D - C > 0",
          ("C", "D"), _beats("D", "C")),
    Claim("weak lambda worst", "weak stability (F, mu 0.01) is worse than none (D) and strong (E)",
          "F .013 vs D .023, E .021", "F - D < 0 and F - E < 0", ("D", "E", "F"), _worst("F", ("D", "E"))),
    Claim("E-512>A-512", "at 512 agents CMA-ES (E-512) beats SA (A-512)", "E-512 .044 vs A-512 -.006",
          "E-512 - A-512 > 0", ("E-512", "A-512"), _beats("E-512", "A-512")),
    Claim("A-512 collapses", "SA at 512 agents (A-512) collapses", "A-512 -.006", "A-512 < 0", ("A-512",),
          _collapses("A-512")),
    Claim("consensus~2x", "for A, consensus Rank IC is about twice the combined signal's", "~2x (section 3.3)",
          f"consensus / combined in [{RATIO_BAND[0]:.2f}, {RATIO_BAND[1]:.2f}]", ("A",), _consensus_ratio),
    Claim("alpha>0.5", "the learned alpha's median is above 0.5 (D and E)", "median alpha > 0.5",
          "median alpha of D and of E > 0.5", ("D", "E"), _alpha_median(("D", "E"))),
)


def judge_claims(daily: pd.DataFrame, *, horizon: int = 10, n_boot: int = 2000, ci: float = 0.95,
                 seed: int = 0) -> pd.DataFrame:
    """Every claim of ``CLAIMS`` judged on a run's tidy daily frame: key, claim, paper, rule, verdict,
    estimate (point [CI])."""
    ev = Evidence(daily, horizon=horizon, n_boot=n_boot, ci=ci, seed=seed)
    rows = []
    for c in CLAIMS:
        if ev.has(*c.needs):
            verdict, estimate = c.judge(ev)
        else:
            missing = [n for n in c.needs if n not in ev.configs]
            verdict, estimate = UNRESOLVED, "not run: " + ", ".join(missing)
        rows.append({"key": c.key, "claim": c.text, "paper": c.paper, "rule": c.rule, "verdict": verdict,
                     "estimate": estimate})
    return pd.DataFrame(rows)
