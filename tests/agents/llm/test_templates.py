"""The prompt texts (``agents.llm.prompts.templates``): point-in-time, no example values, release days of
macro series, and anonymized prompts that name no ticker, sector or date."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
from llm_play import Recording, make_env, play
from repo_paths import REPO

from agents.llm import llm_followers
from agents.llm.backends.base import ScriptedBackend
from agents.llm.prompts.templates import LIST_SYSTEM, PER_STOCK_SYSTEM, DayBrief, list_user_message, release_day
from experiments.sweep.markets import load_market
from mass_env import GameConfig, MassStackelbergEnv, build_types
from mass_env.testing import perturb_after


def test_prompts_are_point_in_time(small_market):
    """Scrambling everything after day t changes no prompt rendered at or before t."""
    panel = small_market[0]
    t = 27
    prompts = []
    for p in (panel, perturb_after(panel, t, seed=1)):
        env = make_env(p, 8, 1)
        rec = Recording()
        play(env, llm_followers(env, rec, seed=0, n_candidates=10), 25, 29)
        prompts.append({(r.agent, r.day): (r.segments, r.items) for r in rec.seen})
    a, b = prompts
    for key in a:
        if key[1] <= t:
            assert a[key] == b[key], key
    assert any(a[k] != b[k] for k in a if k[1] > t)


def test_prompt_content_and_no_example_values(small_market):
    panel = small_market[0]
    brief = DayBrief.build(panel, 40)
    types = build_types(8, 1)
    full, ohlcv = types[7], types[0]
    assert brief.date in brief.day_text
    t_full = brief.type_text(full)
    assert "Sectors" in t_full and "Macro indicators" in t_full and "released" in t_full
    t_ohlcv = brief.type_text(ohlcv)
    assert "Sectors" not in t_ohlcv and "Macro" not in t_ohlcv
    i = int(np.flatnonzero(panel.universe[40])[0])
    item = brief.item_text(full, i)
    assert item.startswith(panel.symbols[i]) and "Valuation" in item and "beta" in item and "sector" in item
    assert "Valuation" not in brief.item_text(ohlcv, i)
    # instructions show the answer format with placeholders only: no example rating values
    for system in (PER_STOCK_SYSTEM, LIST_SYSTEM):
        fmt = system[system.index("JSON"):]
        assert not re.search(r":\s*\d", fmt)
    # macro levels carry their release dates, never after the as-of day
    for d in re.findall(r"released (\d{4}-\d{2}-\d{2})", t_full):
        assert d <= brief.date


def test_release_day():
    assert release_day(np.array([1.0, 1.0, 2.0, 2.0, 2.0])) == 2
    assert release_day(np.array([np.nan, 3.0])) == 1
    assert release_day(np.array([1.0, np.nan])) is None


ROOT = REPO


SHARED = Path(os.environ.get("MASS_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="module")
def market():
    return load_market(None, 0, 90)  # the CLI's embedded market with --days 90


def _prompts(panel, backend, days, anonymize):
    env = MassStackelbergEnv(panel, build_types(8, 1), GameConfig(horizon=5))
    fol = llm_followers(env, backend, n_candidates=panel.n_symbols, anonymize=anonymize)
    texts = [PER_STOCK_SYSTEM, LIST_SYSTEM]
    obs, infos = env.reset(seed=0, options={"start": days[0], "end": days[-1]})
    for day in days:
        for a, pol in fol.items():
            info = dict(infos[a], day=day)
            for r in pol.requests(obs[a], info)[0]:
                texts += [*r.segments, *(it.text for it in r.items), *(it.symbol for it in r.items),
                          list_user_message(r.segments, [(it.symbol, it.text) for it in r.items])]
    return "\n".join(texts), fol


def _leaks(text, panel):
    words = set(re.findall(r"[A-Za-z0-9_.]+", text))
    found = [s for s in panel.symbols if s in words] + [n for n in panel.industry_names if n in text]
    for d in panel.dates:
        found += [d.strftime(f) for f in ("%Y-%m-%d", "%Y%m%d", "%Y/%m/%d", "%d.%m.%Y", "%B %Y", "%b %d")
                  if d.strftime(f) in text]
    return found + re.findall(r"\b(?:19|20)\d\d\b", text)


@pytest.mark.parametrize("source", ["synthetic", "sse50"])
def test_anonymized_prompts_name_no_ticker_sector_or_date(market, source):
    if source == "sse50":
        if not SHARED.is_dir():
            pytest.skip("shared data folder absent")
        from mass_env.data.datasets import load_sse50_window

        panel = load_sse50_window(SHARED)
    else:
        panel = market
    days = [30, 31, panel.n_days - 15]
    clear, _ = _prompts(panel, ScriptedBackend(), days, anonymize=False)
    assert _leaks(clear, panel)  # the check can fail: plain prompts do name tickers and dates
    text, fol = _prompts(panel, ScriptedBackend(), days, anonymize=True)
    assert _leaks(text, panel) == []
    assert "Trading day 30" in text and "trading days ago)" in text

