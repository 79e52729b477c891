"""A seeded synthetic market in which each data modality carries a known, tunable amount of signal.

It is the embedded default market (no data files needed) and the ground truth for tests: the
cross-section of returns is driven by four persistent, *observable* effects, one per modality, each
scaled by ``SyntheticConfig.strength[modality]``:

* OHLCV: a transient price overreaction (AR(1) ``o``) in log prices; it shows up in recent returns
  and mean-reverts, so short-term *reversal* (``-ret_5d``) predicts.
* INDUSTRY: a persistent industry drift ``g`` that shows up in industry returns, so industry
  *momentum* (``ind_ret_5d``) predicts.
* VALUE: a slow valuation latent ``v`` that shows up in P/B, P/E, P/S, so cheapness (``bp``, ``ep``)
  predicts.
* MACRO: a monthly macro indicator, *released* with a delay; when it is high, high-beta stocks
  outperform, so ``macro_level x beta`` predicts.

Plus a fat-tailed market factor with dispersed betas, fat-tailed idiosyncratic noise, random
suspensions (no price, not tradable), index entries and exits, and ST flags. A strength of 1 makes
an effect worth roughly a 0.1 daily IC on its own; 0 switches it off. Everything is drawn from one
``numpy.random.Generator`` seeded by ``seed``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .modalities import Modality
from .panel import MarketPanel

DEFAULT_STRENGTH: Mapping[str, float] = {"ohlcv": 1.0, "industry": 1.0, "value": 0.6, "macro": 0.8}


@dataclass(frozen=True)
class SyntheticConfig:
    """Shape and signal content of a synthetic market."""

    n_days: int = 160
    n_symbols: int = 50
    n_industries: int = 8
    start: str = "2022-12-01"
    strength: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_STRENGTH))
    idio_vol: float = 0.02
    market_vol: float = 0.012
    tail_df: float = 4.0
    suspension_rate: float = 0.002
    macro_release_lag: int = 10
    entry_exit_fraction: float = 0.1
    st_fraction: float = 0.04

    def __post_init__(self) -> None:
        unknown = set(self.strength) - {m.name.lower() for m in Modality}  # type: ignore[union-attr]
        if unknown:
            raise ValueError(f"unknown modalities in strength: {sorted(unknown)}")
        if self.n_days < 30 or self.n_symbols < 5 or self.n_industries < 1:
            raise ValueError("synthetic market needs >= 30 days, >= 5 symbols, >= 1 industry")
        if any(v < 0 for v in self.strength.values()):
            raise ValueError("signal strengths must be >= 0")


@dataclass(frozen=True)
class SyntheticTruth:
    """What generated the market: per-modality strengths and the latent drivers."""

    strength: Mapping[str, float]
    beta: np.ndarray

    def modality_power(self, modalities: Modality) -> float:
        """Signal a type with these modalities can see: root-sum-square of the visible strengths."""
        return float(np.sqrt(sum(
            float(self.strength.get(str(m.name).lower(), 0.0)) ** 2 for m in Modality if m in modalities
        )))


def _t_noise(rng: np.random.Generator, df: float, size: tuple[int, ...] | int) -> np.ndarray:
    """Student-t noise scaled to unit variance (fat tails)."""
    return rng.standard_t(df, size) / np.sqrt(df / (df - 2.0))


def synthetic_market(
    config: SyntheticConfig | None = None, *, seed: int = 0
) -> tuple[MarketPanel, SyntheticTruth]:
    """Generate ``(panel, truth)``; the same ``(config, seed)`` always gives the same market."""
    cfg = config or SyntheticConfig()
    rng = np.random.default_rng(seed)
    T, N, n_industries = cfg.n_days, cfg.n_symbols, cfg.n_industries
    s = {k: float(cfg.strength.get(k, 0.0)) for k in ("ohlcv", "industry", "value", "macro")}
    unit = 0.1 * cfg.idio_vol  # a strength-1 effect moves returns by 10% of idio vol per day

    industry = rng.integers(0, n_industries, N)
    industry[:n_industries] = np.arange(min(n_industries, N))  # every industry has at least one stock
    beta = rng.uniform(0.5, 1.5, N)
    beta_z = (beta - beta.mean()) / beta.std()

    rho_o, rho_g, rho_v = 0.9, 0.99, 0.995
    sigma_o = s["ohlcv"] * 3.0 * cfg.idio_vol  # transient overreaction in log price
    o = rng.normal(0, sigma_o, N) if sigma_o > 0 else np.zeros(N)
    g = rng.normal(0, 1, n_industries)
    v = rng.normal(0, 1, N)
    val_noise = rng.normal(0, 1, (3, T, N))

    # monthly macro indicator, period = 21 trading days, released macro_release_lag days later
    n_months = T // 21 + 2
    pmi = np.zeros(n_months)
    pmi[0] = rng.normal()
    for k in range(1, n_months):
        pmi[k] = 0.7 * pmi[k - 1] + np.sqrt(1 - 0.49) * rng.normal()
    macro_pmi = np.full(T, np.nan)
    for k in range(n_months):
        release = 21 * (k + 1) - 1 + cfg.macro_release_lag
        if release < T:
            macro_pmi[release:] = pmi[k]
    rate = 2.5 + np.cumsum(rng.normal(0, 0.01, T))

    log_fund = np.log(rng.uniform(5, 50, N))
    close = np.empty((T, N))
    tradable = np.ones((T, N), dtype=bool)
    susp_left = np.zeros(N, dtype=int)
    v_path = np.empty((T, N))
    for t in range(T):
        if t > 0:
            m_known = macro_pmi[t - 1] if np.isfinite(macro_pmi[t - 1]) else 0.0
            mkt = cfg.market_vol * _t_noise(rng, cfg.tail_df, 1)[0]
            drift = unit * (s["industry"] * g[industry] + s["value"] * v + 2.0 * s["macro"] * m_known * beta_z)
            eps = cfg.idio_vol * _t_noise(rng, cfg.tail_df, N)
            o_new = rho_o * o + np.sqrt(1 - rho_o**2) * sigma_o * rng.normal(size=N)
            log_fund = log_fund + beta * mkt + drift + eps
            o = o_new
            g = rho_g * g + np.sqrt(1 - rho_g**2) * rng.normal(size=n_industries)
            v = rho_v * v + np.sqrt(1 - rho_v**2) * rng.normal(size=N)
            # suspensions: start, continue, end
            starting = (susp_left == 0) & (rng.random(N) < cfg.suspension_rate)
            susp_left = np.where(starting, rng.geometric(0.3, N), susp_left)
            tradable[t] = susp_left == 0
            susp_left = np.maximum(susp_left - 1, 0)
        v_path[t] = v
        latent = np.exp(log_fund + o)
        close[t] = latent if t == 0 else np.where(tradable[t], latent, close[t - 1])

    with np.errstate(invalid="ignore"):
        simple = np.vstack([np.zeros(N), close[1:] / close[:-1] - 1.0])
    # industry returns: equal-weighted mean of tradable stocks' returns, known at the close
    ind_ret = np.zeros((T, n_industries))
    for k in range(n_industries):
        cols = industry == k
        rr = np.where(tradable[:, cols], simple[:, cols], np.nan)
        with np.errstate(invalid="ignore"):
            ind_ret[:, k] = np.where(np.isfinite(rr).any(1),
                                     np.nanmean(np.where(np.isfinite(rr), rr, np.nan), axis=1), 0.0)

    # OHLC and volume
    open_ = np.vstack([close[:1], close[:-1]]) * np.exp(rng.normal(0, 0.003, (T, N)))
    spread = np.abs(rng.normal(0, 0.006, (T, N)))
    high = np.maximum(open_, close) * (1 + spread)
    low = np.minimum(open_, close) * (1 - spread)
    base_vol = rng.uniform(1e6, 5e7, N)
    volume = base_vol * np.exp(np.abs(simple) / cfg.idio_vol * 0.3 + rng.normal(0, 0.3, (T, N)))
    for arr in (open_, high, low, volume):
        arr[~tradable] = np.nan

    # valuations expose the value latent known at each close (plus noise so no ratio is perfect)
    with np.errstate(over="ignore"):
        pb = np.exp(0.6 - 0.5 * v_path + 0.15 * val_noise[0])
        pe = np.exp(2.4 - 0.4 * v_path + 0.35 * val_noise[1])
        ps = np.exp(1.0 - 0.3 * v_path + 0.5 * val_noise[2])
    float_shares = base_vol * rng.uniform(20, 80, N)
    turnover = volume / float_shares * 100.0

    member = np.ones((T, N), dtype=bool)
    n_ee = int(round(cfg.entry_exit_fraction * N))
    movers = rng.choice(N, size=n_ee, replace=False)
    for j, n in enumerate(movers):
        cut = int(rng.integers(T // 4, 3 * T // 4))
        if j % 2 == 0:
            member[:cut, n] = False  # joins the index
        else:
            member[cut:, n] = False  # leaves the index
    is_st = np.zeros((T, N), dtype=bool)
    is_st[:, rng.choice(N, size=int(round(cfg.st_fraction * N)), replace=False)] = True

    dates = pd.bdate_range(cfg.start, periods=T)
    symbols = tuple(f"S{n:04d}" for n in range(N))
    panel = MarketPanel(
        dates=dates, symbols=symbols, close=close, adj_close=close.copy(), open=open_, high=high,
        low=low, volume=volume, tradable=tradable, is_st=is_st, member=member, industry=industry,
        industry_names=tuple(f"industry_{k}" for k in range(n_industries)), industry_returns=ind_ret,
        valuation={"pe": pe, "pb": pb, "ps": ps, "turnover": turnover}, macro=np.column_stack([macro_pmi, rate]),
        macro_names=("pmi", "rate"),
        name=f"synthetic(seed={seed})",
    )
    return panel, SyntheticTruth(dict(s), beta)
