"""Data modalities and the point-in-time features each one shows a follower.

An investor type sees OHLCV (always) plus any subset of industry, price-value and macro data. Every
feature is computed from a ``PointInTimeView`` (nothing after the as-of close). Cross-sectional
features are z-scored over the day's universe and clipped to [-5, 5]; macro levels are time-series
z-scores (a cross-sectional z-score of a market-wide number would be meaningless) broadcast to all
stocks. Missing inputs stay NaN here; observation builders turn them into 0 (the cross-sectional
mean) and count them.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from enum import IntFlag
from itertools import combinations

import numpy as np
import numpy.typing as npt

from .view import PointInTimeView

FloatArray = npt.NDArray[np.float64]
CLIP = 5.0
MACRO_ZSCORE_WINDOW = 250


class Modality(IntFlag):
    OHLCV = 1
    INDUSTRY = 2
    VALUE = 4
    MACRO = 8

    @property
    def label(self) -> str:
        return "+".join(m.name.lower() for m in Modality if m in self and m.name)  # type: ignore[union-attr]


BASE_MODALITIES = (Modality.INDUSTRY, Modality.VALUE, Modality.MACRO)


def modality_combinations() -> list[Modality]:
    """The 8 information sets: OHLCV plus every subset of {industry, value, macro}, in a fixed order."""
    out = []
    for r in range(len(BASE_MODALITIES) + 1):
        for combo in combinations(BASE_MODALITIES, r):
            m = Modality.OHLCV
            for c in combo:
                m |= c
            out.append(m)
    return out


OHLCV_FEATURES = ("ret_1d", "ret_5d", "ret_20d", "vol_20d", "volume_ratio")
INDUSTRY_FEATURES = ("ind_ret_1d", "ind_ret_5d", "ind_ret_20d", "rel_ret_5d")
VALUE_FEATURES = ("ep", "bp", "sp", "turnover_5d")
#: MASS's anonymised price-value features (``price_value_feature_0..5`` of ``sub_fudamental_data.parq``):
#: a panel whose valuation holds these shows them as the VALUE modality instead of ``VALUE_FEATURES``.
MASS_PV_FEATURES = tuple(f"pv_{i}" for i in range(6))


def value_feature_names(valuation_keys: Collection[str] = ()) -> tuple[str, ...]:
    """The VALUE modality's features for a panel with these valuation fields."""
    return MASS_PV_FEATURES if MASS_PV_FEATURES[0] in valuation_keys else VALUE_FEATURES


def feature_names(modality: Modality, macro_names: tuple[str, ...],
                  valuation_keys: Collection[str] = ()) -> tuple[str, ...]:
    """Names of the features of one *single* modality flag (``valuation_keys``: the panel's valuation
    fields, which decide what VALUE shows)."""
    if modality == Modality.OHLCV:
        return OHLCV_FEATURES
    if modality == Modality.INDUSTRY:
        return INDUSTRY_FEATURES
    if modality == Modality.VALUE:
        return value_feature_names(valuation_keys)
    if modality == Modality.MACRO:
        return ("beta_60d",) + tuple(f"macro_{n}" for n in macro_names)
    raise ValueError(f"feature_names takes a single modality, got {modality!r}")


@dataclass(frozen=True)
class FeatureBlock:
    names: tuple[str, ...]
    values: FloatArray  # (N, F), NaN where unknown or outside the universe


def nanmean0(x: FloatArray, axis: int = 0) -> FloatArray:
    """``nanmean`` that returns NaN for all-NaN slices without a warning."""
    ok = np.isfinite(x)
    n = ok.sum(axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, np.where(ok, x, 0.0).sum(axis) / n, np.nan)


def _trailing_return(adj: FloatArray, k: int) -> FloatArray:
    if adj.shape[0] <= k:
        return np.full(adj.shape[1], np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        return adj[-1] / adj[-1 - k] - 1.0


def _cs_z(x: FloatArray, universe: npt.NDArray[np.bool_]) -> FloatArray:
    """Cross-sectional z-score per column over universe stocks with finite values."""
    ok = np.isfinite(x) & universe[:, None]
    n = ok.sum(0)
    x0 = np.where(ok, x, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mu = x0.sum(0) / n
        sd = np.sqrt(np.where(ok, (x0 - mu) ** 2, 0.0).sum(0) / n)
        z = (x - mu) / sd
    z = np.where(ok & (sd > 1e-12), z, np.where(ok, 0.0, np.nan))
    return np.clip(z, -CLIP, CLIP)


def ohlcv_raw(view: PointInTimeView) -> FloatArray:
    adj = view.history("adj_close", 61)
    with np.errstate(invalid="ignore", divide="ignore"):
        daily = adj[1:] / adj[:-1] - 1.0
        vol = view.history("volume", 20)
        pos = np.where(vol > 0, vol, np.nan)
        v5 = nanmean0(pos[-5:])
        v20 = nanmean0(pos)
        vr = np.log(v5 / v20)
    d20 = daily[-20:]
    vol20 = np.sqrt(nanmean0((d20 - nanmean0(d20)) ** 2))
    vol20 = np.where(np.isfinite(d20).sum(0) >= 5, vol20, np.nan)
    return np.stack(
        [_trailing_return(adj, 1), _trailing_return(adj, 5), _trailing_return(adj, 20), vol20,
         np.broadcast_to(vr, (adj.shape[1],))], axis=1,
    )


def industry_raw(view: PointInTimeView) -> FloatArray:
    ind = view.panel.industry
    N = ind.size
    ir = view.industry_returns(20)
    if ir.shape[1] == 0:
        return np.full((N, len(INDUSTRY_FEATURES)), np.nan)
    growth = np.log1p(ir)
    def comp(k: int) -> FloatArray:
        if growth.shape[0] < k:
            return np.full(ir.shape[1], np.nan)
        return np.expm1(growth[-k:].sum(0))
    per_ind = np.stack([comp(1), comp(5), comp(20)], axis=1)  # (I, 3)
    out = np.full((N, 3), np.nan)
    known = ind >= 0
    out[known] = per_ind[ind[known]]
    ret5 = _trailing_return(view.history("adj_close", 6), 5)
    return np.column_stack([out, ret5 - out[:, 1]])


def value_raw(view: PointInTimeView) -> FloatArray:
    N = view.panel.n_symbols
    if value_feature_names(view.panel.valuation) == MASS_PV_FEATURES:
        return np.column_stack([view.at(k) for k in MASS_PV_FEATURES])
    cols = []
    for key in ("pe", "pb", "ps"):
        if key in view.panel.valuation:
            v = view.at(key)
            with np.errstate(invalid="ignore", divide="ignore"):
                cols.append(np.where((v != 0) & np.isfinite(v), 1.0 / v, np.nan))
        else:
            cols.append(np.full(N, np.nan))
    if "turnover" in view.panel.valuation:
        with np.errstate(invalid="ignore"):
            t = view.history("turnover", 5)
            cols.append(nanmean0(t))
    else:
        cols.append(np.full(N, np.nan))
    return np.column_stack(cols)


def market_beta(view: PointInTimeView, window: int = 60) -> FloatArray:
    adj = view.history("adj_close", window + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = adj[1:] / adj[:-1] - 1.0
    if r.shape[0] < 10:
        return np.full(adj.shape[1], np.nan)
    mkt = nanmean0(r, axis=1)
    ok = np.isfinite(r)
    m = np.where(ok, mkt[:, None], np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        mc = m - nanmean0(m)
        rc = r - nanmean0(r)
        beta = np.nansum(mc * rc, axis=0) / np.nansum(mc * mc, axis=0)
    return np.where(ok.sum(0) >= 10, beta, np.nan)


def macro_levels(view: PointInTimeView) -> FloatArray:
    """Time-series z-score of each macro series' latest released value (``(M,)``)."""
    hist = view.macro(MACRO_ZSCORE_WINDOW)
    if hist.shape[1] == 0:
        return np.zeros(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mu = nanmean0(hist)
        sd = np.sqrt(nanmean0((hist - mu) ** 2))
        z = (hist[-1] - mu) / sd
    return np.clip(np.where(np.isfinite(z) & (sd > 1e-12), z, 0.0), -CLIP, CLIP)


def compute_block(view: PointInTimeView, modality: Modality) -> FeatureBlock:
    """Features of one single modality as of ``view.asof``: ``(N, F)`` with NaN outside the universe."""
    uni = view.universe()
    names = feature_names(modality, view.panel.macro_names, view.panel.valuation)
    if modality == Modality.OHLCV:
        vals = _cs_z(ohlcv_raw(view), uni)
    elif modality == Modality.INDUSTRY:
        vals = _cs_z(industry_raw(view), uni)
    elif modality == Modality.VALUE:
        vals = _cs_z(value_raw(view), uni)
    elif modality == Modality.MACRO:
        beta = _cs_z(market_beta(view)[:, None], uni)
        lev = np.broadcast_to(macro_levels(view), (uni.size, len(view.panel.macro_names)))
        vals = np.column_stack([beta, np.where(uni[:, None], lev, np.nan)])
    else:
        raise ValueError(f"compute_block takes a single modality, got {modality!r}")
    return FeatureBlock(names, vals)


class DailyFeatures:
    """All single-modality feature blocks of one day, computed once and shared by every type."""

    def __init__(self, view: PointInTimeView) -> None:
        self.view = view
        self.blocks = {m: compute_block(view, m) for m in Modality}

    def for_modalities(self, modalities: Modality) -> FeatureBlock:
        parts = [self.blocks[m] for m in Modality if m in modalities]
        return FeatureBlock(
            tuple(n for p in parts for n in p.names), np.concatenate([p.values for p in parts], axis=1)
        )
