"""Versioned prompt templates for LLM investors, rendered from point-in-time views only.

Everything an agent is told is computed from ``PointInTimeView(panel, day)`` (``DayBrief``), so
prompts are point-in-time by construction: nothing after the close of ``day`` can reach them.

Layout (shared context first, so backends can compute it once and reuse it):

1. the instructions (``PER_STOCK_SYSTEM`` for rating one stock at a time, ``LIST_SYSTEM`` for a
   JSON object over a candidate list);
2. the **day segment**: date and the average stock's recent returns (from OHLCV, which every type
   sees), identical for every agent on a day;
3. the **type segment**: what the type can see, its investment style, and the market-wide part of
   its modalities (sector moves, macro levels with their release dates), identical for every agent
   of the type on a day;
4. one **item** per candidate stock: words only, its cross-sectional quintile ("very low" .. "very
   high" across the day's universe) for the week's and the month's return, volatility, its
   sector's month return, cheapness and market beta, each only if the type sees that modality.

Items carry ranks in words, not numbers: a rating is a cross-sectional judgement, models this small
read words better than tables, and an item is paid for once per (day, type, stock), so its length is
the cost of the model pass (``mass-llm-prompts/1`` wrote each number and its word: 34-89 tokens an
item against 19-36 now, and the full sector list in the type segment; ``benchmarks/README.md``). The
market-wide numbers (average returns, the three strongest and weakest sectors, macro levels) are
in the shared segments, written compactly (one decimal percent, two significant decimals). The
prompts contain no example values: the answer format names a placeholder, never a number.
Changing any text here requires bumping ``TEMPLATE_VERSION`` (it is part of the cache key).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mass_env.data.modalities import (
    MASS_PV_FEATURES,
    Modality,
    industry_raw,
    macro_levels,
    market_beta,
    ohlcv_raw,
    value_feature_names,
)
from mass_env.data.panel import MarketPanel
from mass_env.data.view import PointInTimeView
from mass_env.game.investors import InvestorType

TEMPLATE_VERSION = "mass-llm-prompts/2"

PER_STOCK_SYSTEM = (
    "You are a stock investor. You get market information as of today's close, then one stock. "
    "Judge how the stock will do compared with the other stocks over the next two weeks: "
    "1 = much worse, 2 = worse, 3 = about the same, 4 = better, 5 = much better. "
    'Reply only with JSON {"rating": R}, where R is an integer from 1 to 5.'
)

LIST_SYSTEM = (
    "You are a stock investor. You get market information as of today's close, then a list of "
    "candidate stocks. Judge how each candidate will do compared with the other stocks over the "
    "next two weeks: 1 = much worse, 2 = worse, 3 = about the same, 4 = better, 5 = much better. "
    'Reply only with JSON {"ratings": {SYMBOL: R, ...}} giving every listed symbol exactly one '
    "integer rating R from 1 to 5."
)

#: The assistant's answer begins with this; the next token is the rating (local log-prob scoring).
PER_STOCK_PROBE = '{"rating": '
RATING_TEXTS = ("1", "2", "3", "4", "5")

#: Other prompt designs of the local scoring backend (``agents.llm.prompts.designs``), measured against the
#: single-stock rating above (README, "Choosing the model, prompt and decoding"); their own version.
DESIGNS_VERSION = "mass-llm-designs/1"
#: few-shot: worked examples from a past day whose forward returns had realised by today
FEWSHOT_HEAD = ("Worked examples: stocks {ago} trading days ago and how they then did over two weeks "
                "compared with the other stocks:\n")
FEWSHOT_ITEM = '{item} Answer: {{"rating": {rating}}}\n'
#: pairwise: which of two stocks does better (asked in both orders)
PAIR_SYSTEM = (
    "You are a stock investor. You get market information as of today's close, then two stocks. "
    "Judge which of the two will do better over the next two weeks. "
    'Reply only with JSON {"better": N}, where N is 1 for the first stock or 2 for the second.'
)
PAIR_TAIL = "The two stocks:\n"
PAIR_ITEM = "Stock {label}: {item}\n"
PAIR_PROBE = '{"better": '
#: ranked: which stock of a short numbered list does best
RANK_SYSTEM = (
    "You are a stock investor. You get market information as of today's close, then a short numbered "
    "list of stocks. Judge which of them will do best over the next two weeks. "
    'Reply only with JSON {"best": N}, where N is the number of that stock in the list.'
)
RANK_TAIL = "The stocks:\n"
RANK_ITEM = "{label}. {item}\n"
RANK_PROBE = '{"best": '
LABELS = ("1", "2", "3", "4", "5", "6", "7", "8", "9")

DAY_TEMPLATE = "Date {date}. Average stock: today {r1}, 5 days {r5}, 20 days {r20}.\n"
ANON_DAY_TEMPLATE = "Trading day {day}. Average stock: today {r1}, 5 days {r5}, 20 days {r20}.\n"
ANON_RELEASED = "{ago} trading days ago"

#: Personas (prompt variants) agents of one type can have: what an investor would differ in
#: (horizon, risk appetite, conviction). Variant 0 is the type's plain prompt. Appended to the type
#: segment, so each persona is one more shared prefix per type and day, never a per-agent cost.
PERSONAS = (
    "",
    "You are cautious: you avoid volatile stocks and losers.\n",
    "You are bold: you look for the stocks that can rise the most.\n",
    "You think in months: short-term noise matters little to you.\n",
)
TYPE_TEMPLATE = "You see {sees}. Your style: {style}\n{context}"
SECTORS_TEMPLATE = "Sectors, 20-day return: strongest {strong}; weakest {weak}.\n"
#: how many sectors the type segment names at each end (a 135M model does not read a list of 86)
SECTORS_SHOWN = 3
MACRO_TEMPLATE = "Macro indicators, latest release: {macro}.\n"
MACRO_ITEM = "{name} {value} ({word} for the past year, released {released})"
PER_STOCK_TAIL = "The stock:\n"
LIST_TAIL = "Candidates:\n"

ITEM_OHLCV = "{sym}: week return {w5}, month return {w20}, volatility {wvol}."
ITEM_INDUSTRY = " Its sector's month return {ws20}."
ITEM_VALUE = " Valuation {wcheap}."
ITEM_MACRO = " Market beta {wbeta}."
#: MASS's anonymised price-value features (``valuations="mass_anonymised"``), with what MASS's field
#: descriptions said of their sign (paraphrased): the hint that let its LLM read the alpha off them.
ITEM_PV = " Price-value features 0-5: {values}."
PV_TEXT = ("Price-value features 0-5 are anonymised factors: in theory 0, 1, 2 and 4 relate negatively and "
           "3 and 5 positively to returns over the next 1-5 days.\n")

SEES = {Modality.OHLCV: "prices and volumes", Modality.INDUSTRY: "sector returns",
        Modality.VALUE: "valuations", Modality.MACRO: "macro indicators and market betas"}

STYLE_TEXT = {
    "balanced": "weigh everything you see.",
    "momentum": "favour stocks and sectors that have been rising.",
    "reversal": "expect recent winners to fall back and recent losers to recover.",
    "value": "favour cheap stocks (low P/E and P/B).",
    "macro_timing": "favour high-beta stocks when the economy is strong and low-beta stocks when it is weak.",
}

LEVEL_WORDS = ("very low", "low", "middle", "high", "very high")
CHEAP_WORDS = ("very expensive", "expensive", "average", "cheap", "very cheap")
Z_WORDS = ((-1.0, "low"), (-0.3, "below average"), (0.3, "about average"), (1.0, "above average"))


def fmt_pct(x: float) -> str:
    return "n/a" if not np.isfinite(x) else f"{100.0 * x:+.1f}%"


def fmt_num(x: float) -> str:
    if not np.isfinite(x):
        return "n/a"
    return f"{x:.1f}" if abs(x) >= 10 else f"{x:.2f}"


def quintile_words(x: np.ndarray, universe: np.ndarray, words: Sequence[str] = LEVEL_WORDS) -> list[str]:
    """Cross-sectional quintile word of each value among the universe's finite values ("n/a" else)."""
    ok = np.isfinite(x) & universe
    out = ["n/a"] * x.size
    n = int(ok.sum())
    if n == 0:
        return out
    idx = np.flatnonzero(ok)
    order = np.argsort(x[idx], kind="mergesort")
    ranks = np.empty(n)
    ranks[order] = np.arange(n)
    q = np.minimum((ranks / max(n, 1) * 5).astype(int), 4) if n > 1 else np.full(n, 2)
    for i, k in zip(idx, q):
        out[i] = words[k]
    return out


def z_word(z: float) -> str:
    for bound, word in Z_WORDS:
        if z < bound:
            return word
    return "high"


def release_day(series: np.ndarray) -> int | None:
    """Index (within ``series``) of the day the latest value first appeared (its release)."""
    if series.size == 0 or not np.isfinite(series[-1]):
        return None
    last = series[-1]
    k = series.size - 1
    while k > 0 and series[k - 1] == last:
        k -= 1
    return k


def anonymous_code(name: str, prefix: str, letters: int = 5) -> str:
    """A stable code for a ticker or sector name: letters from its sha256 (no digits, so it cannot
    look like a ticker or a date), the same in every run, revealing nothing of the name."""
    import hashlib

    digest = hashlib.sha256(f"mass-anonymize|{name}".encode()).digest()
    return prefix + "".join(chr(65 + b % 26) for b in digest[:letters])


@dataclass(frozen=True)
class DayBrief:
    """Everything any type may be told on one day, rendered once from the point-in-time view."""

    day: int
    date: str
    universe: np.ndarray            # (N,) bool
    day_text: str
    stock_parts: dict[Modality, list[str]]   # modality -> per-stock text part (N,)
    sector_text: str
    macro_text: str
    value_text: str = ""
    symbols: tuple[str, ...] = ()     # the symbols the prompts name (anonymous codes when anonymized)

    @classmethod
    def build(cls, panel: MarketPanel, day: int, *, anonymize: bool = False) -> DayBrief:
        """``anonymize``: no absolute date (trading-day numbers, releases as "N trading days ago"),
        tickers and sector names replaced by stable hashed codes (``anonymous_code``)."""
        view = PointInTimeView(panel, day)
        uni = np.asarray(view.universe(), dtype=bool)
        syms = tuple(anonymous_code(s, "S") for s in view.symbols) if anonymize else tuple(view.symbols)
        if anonymize and len(set(syms)) != len(syms):
            raise ValueError("two symbols share an anonymous code; use a panel with distinct symbols")
        raw = ohlcv_raw(view)  # ret_1d, ret_5d, ret_20d, vol_20d, volume_ratio
        with np.errstate(invalid="ignore"):
            avg = [float(np.nanmean(np.where(uni, raw[:, j], np.nan))) if np.isfinite(raw[uni, j]).any() else np.nan
                   for j in range(3)]
        date = str(view.date.date())
        rets = {"r1": fmt_pct(avg[0]), "r5": fmt_pct(avg[1]), "r20": fmt_pct(avg[2])}
        day_text = ANON_DAY_TEMPLATE.format(day=day, **rets) if anonymize else DAY_TEMPLATE.format(date=date, **rets)
        w5, w20, wv = (quintile_words(raw[:, j], uni) for j in (1, 2, 3))
        parts: dict[Modality, list[str]] = {}
        parts[Modality.OHLCV] = [ITEM_OHLCV.format(sym=s, w5=w5[i], w20=w20[i], wvol=wv[i]) for i, s in enumerate(syms)]
        # industry: the stock's sector and its 20-day move (ranked across stocks)
        ind = industry_raw(view)  # ind_ret_1d, ind_ret_5d, ind_ret_20d, rel_ret_5d
        names = tuple(anonymous_code(n, "sector ", 3) for n in panel.industry_names) if anonymize else \
            panel.industry_names
        ws = quintile_words(ind[:, 2], uni)
        parts[Modality.INDUSTRY] = [ITEM_INDUSTRY.format(ws20=w) for w in ws]
        sector_text = ""
        ir = view.industry_returns(20)
        if ir.shape[1] and ir.shape[0]:
            comp = np.expm1(np.log1p(ir).sum(0))
            order = np.argsort(-comp, kind="mergesort")
            k = min(SECTORS_SHOWN, (order.size + 1) // 2)
            sector_text = SECTORS_TEMPLATE.format(
                strong=", ".join(f"{names[j]} {fmt_pct(comp[j])}" for j in order[:k]),
                weak=", ".join(f"{names[j]} {fmt_pct(comp[j])}" for j in order[::-1][:k]))
        # value: P/E, P/B and a cheapness word from the mean rank of earnings and book yields
        N = panel.n_symbols
        pe = view.at("pe") if "pe" in panel.valuation else np.full(N, np.nan)
        pb = view.at("pb") if "pb" in panel.valuation else np.full(N, np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            yields = np.column_stack([np.where(pe > 0, 1.0 / pe, np.nan), np.where(pb > 0, 1.0 / pb, np.nan)])
        cheap = _mean_rank(yields, uni)
        wc = quintile_words(cheap, uni, CHEAP_WORDS)
        parts[Modality.VALUE] = [ITEM_VALUE.format(wcheap=w) for w in wc]
        value_text = ""
        if value_feature_names(panel.valuation) == MASS_PV_FEATURES:  # MASS's features replace P/E, P/B
            pv = np.column_stack([view.at(k) for k in MASS_PV_FEATURES])
            parts[Modality.VALUE] = [ITEM_PV.format(values=", ".join(fmt_num(v) for v in pv[i])) for i in range(N)]
            value_text = PV_TEXT
        # macro: each stock's beta; market-wide levels with release dates go to the type segment
        beta = market_beta(view)
        wb = quintile_words(beta, uni)
        parts[Modality.MACRO] = [ITEM_MACRO.format(wbeta=w) for w in wb]
        macro_text = ""
        if panel.macro_names:
            hist = view.macro(250)
            z = macro_levels(view)
            items = []
            for j, name in enumerate(panel.macro_names):
                k = release_day(hist[:, j])
                if k is None:
                    continue
                ago = hist.shape[0] - 1 - k
                released = ANON_RELEASED.format(ago=ago) if anonymize else str(view.dates[view.asof - ago].date())
                items.append(MACRO_ITEM.format(name=name, value=fmt_num(hist[-1, j]), word=z_word(z[j]),
                                               released=released))
            if items:
                macro_text = MACRO_TEMPLATE.format(macro="; ".join(items))
        return cls(day, date, uni, day_text, parts, sector_text, macro_text, value_text, syms)

    def type_text(self, itype: InvestorType, variant: int = 0) -> str:
        """The type segment; ``variant`` > 0 appends persona ``PERSONAS[variant]``."""
        sees = ", ".join(SEES[m] for m in Modality if m in itype.modalities)
        context = ""
        if Modality.INDUSTRY in itype.modalities:
            context += self.sector_text
        if Modality.MACRO in itype.modalities:
            context += self.macro_text
        if Modality.VALUE in itype.modalities:
            context += self.value_text
        return TYPE_TEMPLATE.format(sees=sees, style=STYLE_TEXT[itype.style], context=context) + PERSONAS[variant]

    def item_text(self, itype: InvestorType, stock: int) -> str:
        return "".join(self.stock_parts[m][stock] for m in Modality if m in itype.modalities)


def _mean_rank(x: np.ndarray, universe: np.ndarray) -> np.ndarray:
    """Mean over columns of the within-universe percentile rank (NaN-aware; NaN if all missing)."""
    out = np.zeros(x.shape[0])
    cnt = np.zeros(x.shape[0])
    for j in range(x.shape[1]):
        ok = np.isfinite(x[:, j]) & universe
        n = int(ok.sum())
        if n == 0:
            continue
        idx = np.flatnonzero(ok)
        r = np.empty(n)
        r[np.argsort(x[idx, j], kind="mergesort")] = np.arange(n) / max(n - 1, 1)
        out[idx] += r
        cnt[idx] += 1
    with np.errstate(invalid="ignore"):
        return np.where(cnt > 0, out / np.maximum(cnt, 1), np.nan)


def list_user_message(segments: Sequence[str], items: Sequence[tuple[str, str]]) -> str:
    """The user message of the list format (OpenAI-compatible servers): shared context, then one
    line per candidate."""
    return "".join(segments) + LIST_TAIL + "\n".join(text for _, text in items) + "\n"


def list_json_schema(symbols: Sequence[str]) -> dict:
    """JSON schema of the list answer: every candidate symbol, an integer rating 1..5 each."""
    return {
        "type": "object",
        "properties": {"ratings": {
            "type": "object",
            "properties": {s: {"type": "integer", "enum": [1, 2, 3, 4, 5]} for s in symbols},
            "required": list(symbols),
            "additionalProperties": False,
        }},
        "required": ["ratings"],
        "additionalProperties": False,
    }


class BriefCache:
    """Day briefs computed once per day and shared by every type's policy (keeps the last few)."""

    def __init__(self, panel: MarketPanel, keep: int = 4, *, anonymize: bool = False) -> None:
        self.panel = panel
        self.keep = keep
        self.anonymize = bool(anonymize)
        self._briefs: OrderedDict[int, DayBrief] = OrderedDict()
        self._texts: dict[tuple[int, int], dict[int, str]] = {}

    def item_texts(self, day: int, itype: InvestorType) -> dict[int, str]:
        """``{stock: text}`` memo for the type's modalities on ``day`` (types seeing the same thing share it)."""
        return self._texts.setdefault((day, int(itype.modalities)), {})

    def get(self, day: int) -> DayBrief:
        b = self._briefs.get(day)
        if b is None:
            b = DayBrief.build(self.panel, day, anonymize=self.anonymize)
            self._briefs[day] = b
            while len(self._briefs) > self.keep:
                gone = self._briefs.popitem(last=False)[0]
                self._texts = {k: v for k, v in self._texts.items() if k[0] != gone}
        return b
