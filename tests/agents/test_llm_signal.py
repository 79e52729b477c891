"""LLM followers: diagnostics that say whether they carry signal, heterogeneity within a type,
anonymized prompts, and one cache shared by several processes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from repo_paths import REPO

from agents.llm import OK, Answer, BaseBackend, ScriptedBackend, llm_followers
from agents.llm.diagnostics import cache_frame, diagnose, format_diagnostics
from agents.llm.model_files import prepared_model_dir
from agents.llm.prompts import LIST_SYSTEM, PER_STOCK_SYSTEM, list_user_message
from experiments.sweep.markets import load_market
from mass_env import GameConfig, MassStackelbergEnv, build_types
from mass_env.testing import follower_signals

ROOT = REPO
SHARED = Path(os.environ.get("MASS_SHARED_DATA", ROOT.parent / "shared" / "data"))


class Dice(BaseBackend):
    """A null model: ratings drawn from a fixed generator, unrelated to the market."""

    @property
    def fingerprint(self):
        return {"backend": "dice"}

    def _answer(self, requests, emit):
        for i, r in enumerate(requests):
            rng = np.random.default_rng([r.type_id, r.agent_index, r.day])
            p = rng.dirichlet(np.ones(5), size=len(r.items))
            emit(i, Answer(OK, tuple(tuple(float(x) for x in row) for row in p)))


@pytest.fixture(scope="module")
def market():
    return load_market(None, 0, 90)  # the CLI's embedded market with --days 90


def run(panel, backend, db, seed=0, **kw):
    env = MassStackelbergEnv(panel, build_types(4, 2), GameConfig(horizon=5))
    f = llm_followers(env, backend, seed=seed, cache=db, n_candidates=12, **kw)
    return f, follower_signals(env, f, start=30, end=54, seed=seed)


def test_diagnostics_tell_signal_from_noise(market, tmp_path, capsys):
    run(market, ScriptedBackend(), tmp_path / "scripted.sqlite")
    d = diagnose(cache_frame(tmp_path / "scripted.sqlite"), market, horizon=5)
    for v in d["per_type"].values():
        assert v["corr_with_scripted"] == pytest.approx(1.0)  # the scripted backend is its own reference
        assert v["rank_ic"] == pytest.approx(v["scripted_rank_ic"]) and v["days"] == 25
        assert 0 < v["noise_share"] < 1 and v["ci95"][0] <= v["rank_ic"] <= v["ci95"][1]
    assert d["failure_rate"] == 0.0
    signal = [t for t, v in d["per_type"].items() if v["ci_bonferroni"][0] > 0]
    assert ("NO SIGNAL" in d["verdict"][0]) == (not signal)
    assert sum(d["rating_histogram"].values()) == pytest.approx(1.0, abs=1e-3)

    run(market, Dice(), tmp_path / "dice.sqlite")
    noise = diagnose(cache_frame(tmp_path / "dice.sqlite"), market, horizon=5)
    assert "NO SIGNAL" in noise["verdict"][0]
    assert all(abs(v["corr_with_scripted"]) < 0.1 for v in noise["per_type"].values())
    assert noise["noise_share"] > 0.5 and "dice" in format_diagnostics(noise)

    # the same report from the command line, saved next to the cache
    from experiments.cli import main

    assert main(["llm-diagnostics", "--cache", str(tmp_path / "dice.sqlite"), "--days", "90", "--horizon", "5"]) == 0
    assert "NO SIGNAL" in capsys.readouterr().out
    assert (tmp_path / "llm-diagnostics.json").is_file() and (tmp_path / "llm-diagnostics.txt").is_file()


def test_agents_of_a_type_differ_through_persona_and_risk(market, tmp_path):
    env = MassStackelbergEnv(market, build_types(2, 4), GameConfig(horizon=5))
    obs, infos = env.reset(seed=0, options={"start": 40, "end": 41})
    plain = llm_followers(env, ScriptedBackend(), n_candidates=40, decode="expected")["investor_0"]
    varied = llm_followers(env, ScriptedBackend(), n_candidates=40, decode="expected", personas=2,
                           risk=1.0)["investor_0"]
    a = plain.act(obs["investor_0"], infos["investor_0"])
    b = varied.act(obs["investor_0"], infos["investor_0"])
    both = np.isfinite(a[0]) & np.isfinite(a[3])
    np.testing.assert_array_equal(a[0][both], a[3][both])  # same type, same stock, no traits: same view
    assert not np.allclose(b[0][both], b[3][both])  # opposite risk appetites
    reqs, _, _ = varied.requests(obs["investor_0"], infos["investor_0"])
    assert [r.variant for r in reqs] == [0, 1, 0, 1]
    assert reqs[0].segments != reqs[1].segments and "cautious" in reqs[1].segments[1]
    with pytest.raises(ValueError, match="personas"):
        llm_followers(env, ScriptedBackend(), personas=9)


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


def test_served_models_are_anonymized_by_default(market):
    pytest.importorskip("openai")
    from agents.llm.openai_backend import OpenAIBackend

    env = MassStackelbergEnv(market, build_types(2, 1), GameConfig(horizon=5))
    served = OpenAIBackend("some-model", "http://127.0.0.1:9/v1")
    assert llm_followers(env, served)["investor_0"].briefs.anonymize is True
    assert llm_followers(env, ScriptedBackend())["investor_0"].briefs.anonymize is False
    assert llm_followers(env, served, anonymize=False)["investor_0"].briefs.anonymize is False


def test_a_model_file_failing_its_checksum_is_refused(tmp_path):
    f = tmp_path / "model.gguf"
    f.write_bytes(b"not the model")
    with pytest.raises(ValueError, match="fails its checksum"):
        prepared_model_dir(f, expected_sha256="0" * 64)


WRITER = textwrap.dedent("""
    import sys
    from agents.llm import ScriptedBackend, llm_followers
    from agents.llm.branches import Branch, branch_key
    from agents.llm.cache import ResponseCache
    from experiments.sweep.markets import load_market
    from mass_env import GameConfig, MassStackelbergEnv, build_types
    from mass_env.testing import follower_signals
    db, seed = sys.argv[1], int(sys.argv[2])
    env = MassStackelbergEnv(load_market(None, 0, 60), build_types(4, 2), GameConfig(horizon=5))
    cache = ResponseCache(db, busy_timeout_s=60)
    for k in range(20):  # per-stock rows too, one transaction each, interleaved with the other process
        b = Branch(("d",), f"{seed}/{k}", k, "2022-12-01", seed, 0, f"S{k}", "t", 0.0)
        cache.put_branches({"m": 1}, [(branch_key({"m": 1}, b), b, "ok", (0.2,) * 5, 1.0, "")])
    follower_signals(env, llm_followers(env, ScriptedBackend(), seed=seed, cache=cache, n_candidates=5),
                     start=30, end=33, seed=seed)
""")


def test_two_processes_share_one_cache(tmp_path):
    db = tmp_path / "shared.sqlite"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(db), str(s)], cwd=ROOT, env=env,
                              stderr=subprocess.PIPE, text=True) for s in (1, 2)]
    errs = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errs
    import sqlite3

    with sqlite3.connect(db) as con:
        assert con.execute("SELECT COUNT(*) FROM branches").fetchone()[0] == 40
        assert con.execute("SELECT COUNT(DISTINCT seed), COUNT(*) FROM responses").fetchone() == (2, 2 * 8 * 4)


def test_cli_flags_reach_the_followers(tmp_path):
    from agents.llm.cli import population_options
    from experiments.cli import build_parser

    args = build_parser().parse_args(["ablation", "--followers", "llm", "--llm-backend", "scripted",
                                      "--llm-decode", "sample", "--llm-personas", "3", "--llm-risk", "0.5",
                                      "--llm-anonymize", "on"])
    opts = population_options(args, tmp_path)
    assert (opts["decode"], opts["personas"], opts["risk"], opts["anonymize"]) == ("sample", 3, 0.5, True)
    default = population_options(build_parser().parse_args(["ablation", "--followers", "llm"]), tmp_path)
    assert (default["decode"], default["personas"], default["anonymize"]) == ("expected", 1, None)
