import numpy as np
import pytest

from mass_env import (
    PRINCIPAL,
    GameConfig,
    MassStackelbergEnv,
    SyntheticConfig,
    build_types,
    scripted_followers,
    synthetic_market,
)
from mass_env.data.modalities import Modality
from mass_env.data.returns import ReturnSpec, forward_returns
from mass_env.game.metrics import rank_ic
from mass_env.rollout import follower_actions
from mass_env.scripted import ScriptedFollower, draw_signal_rows


def _env(panel, n_types=8, per=4):
    return MassStackelbergEnv(panel, build_types(n_types, per), GameConfig(warmup_days=20))


def test_agents_see_their_own_subsets_and_nan_elsewhere(small_market):
    env = _env(small_market[0])
    obs, infos = env.reset(seed=0)
    pol = scripted_followers(env, seed=4, n_candidates=10)
    x = pol["investor_3"].act(obs["investor_3"], infos["investor_3"])
    assert x.shape == (4, 30) and x.dtype == np.float32
    seen = np.isfinite(x)
    assert (seen.sum(1) == 10).all()
    assert len({tuple(r) for r in seen}) > 1  # agents draw different subsets
    uni = obs["investor_3"]["universe"] > 0.5
    assert not seen[:, ~uni].any()
    assert np.all(np.abs(x[seen]) <= 1)
    again = scripted_followers(env, seed=4, n_candidates=10)["investor_3"].act(obs["investor_3"], infos["investor_3"])
    np.testing.assert_array_equal(x, again)  # seeded per (seed, type, day)


def test_select_mode_is_mass_style(small_market):
    env = _env(small_market[0])
    obs, infos = env.reset(seed=0)
    pol = scripted_followers(env, seed=1, output="select", n_candidates=12)
    x = pol["investor_0"].act(obs["investor_0"], infos["investor_0"])
    seen = np.isfinite(x)
    assert set(np.unique(x[seen])) == {0.0, 1.0}
    assert (np.nansum(x, 1) == 5).all()


def test_informative_types_have_higher_skill():
    """Ground truth: with only VALUE informative, types that see value data forecast better."""
    cfg = SyntheticConfig(n_days=200, strength={"ohlcv": 0.0, "industry": 0.0, "value": 1.2, "macro": 0.0})
    panel, _ = synthetic_market(cfg, seed=1)
    env = _env(panel, 8, 4)
    pol = scripted_followers(env, seed=0, noise=0.5)
    obs, infos = env.reset(seed=0)
    while env.agents:
        acts = follower_actions(pol, obs, infos, env.agents)
        acts[PRINCIPAL] = np.full(10, 0.5, np.float32)
        obs, *_, infos = env.step(acts)
    R = forward_returns(panel, ReturnSpec(10, 1))
    from mass_env.game.aggregation import TypeMoments
    skill = np.nanmean([rank_ic(TypeMoments.from_stacked(r.moments).type_mean(), R[r.day][None])
                        for r in env.game.records], axis=0)
    has_value = np.array([Modality.VALUE in t.modalities for t in env.types])
    assert skill[has_value].min() > skill[~has_value].max()
    assert skill[has_value].mean() > 0.1


def test_bad_configuration_raises():
    t = build_types(1, 2)[0]
    with pytest.raises(ValueError):
        ScriptedFollower(t, ("ret_1d",), output="vote")
    with pytest.raises(ValueError, match="missing"):
        ScriptedFollower(t, ("ret_1d",))  # style needs ret_5d


class _TiedKeys(np.random.Generator):
    """A generator whose uniform draws are rounded to eighths: candidate keys tie at the k-th key."""

    def random(self, size=None, dtype=np.float64, out=None):
        r = super().random(size, dtype, out)
        r = out if out is not None else r
        r[...] = np.round(r * 8) / 8
        return r


class _NearTiedKeys(np.random.Generator):
    """Keys rounded to eighths, then set apart by a few float64 ulps: tied in float32, distinct in float64."""

    def random(self, size=None, dtype=np.float64, out=None):
        r = super().random(size, dtype, out)
        r = out if out is not None else r
        r[...] = np.round(r * 8) / 8 + np.arange(r.size).reshape(r.shape) * 1e-15
        return r


@pytest.mark.parametrize("make", [lambda i: np.random.default_rng(i), lambda i: _TiedKeys(np.random.PCG64(i)),
                                  lambda i: _NearTiedKeys(np.random.PCG64(i))],
                         ids=["distinct keys", "tied keys", "keys tied in float32"])
def test_drawn_together_each_agent_sees_its_k_smallest_keys(make):
    # the reference: one follower alone, its candidates the argpartition of its keys (ties included)
    names = ("ret_5d", "ind_ret_20d", "bp", "ep")
    fols = [ScriptedFollower(t, names, seed=3, n_candidates=20) for t in build_types(4, 6)]
    rng = np.random.default_rng(0)
    views = [rng.standard_normal(50) for _ in fols]
    unis = [rng.random(50) > 0.2 for _ in fols]
    unis[1][:45] = False  # fewer stocks than candidates
    got = draw_signal_rows([(f, v, u, make(i)) for i, (f, v, u) in enumerate(zip(fols, views, unis))])
    for i, (v, u) in enumerate(zip(views, unis)):
        g = make(i)
        keys = g.random((6, 50))
        noise = g.standard_normal((6, 50))
        keys[:, ~u] = np.inf
        k = min(20, int(u.sum()))
        seen = np.zeros((6, 50), dtype=bool)
        np.put_along_axis(seen, np.argpartition(keys, k - 1, axis=1)[:, :k], True, axis=1)
        want = np.where(seen, np.tanh((v + noise) / 2.0), np.nan).astype(np.float32)
        np.testing.assert_array_equal(got[6 * i:6 * (i + 1)], want)


@pytest.mark.parametrize("draw", ["distinct", "replacement"])
def test_block_draws_alone_and_together_are_the_same(small_market, draw):
    # one follower's act (its own generator, default_rng of the block's four words) and the mapping's act_many
    # (stream states computed for all types at once) draw the same block; days of one block differ, and the
    # next block starts afresh
    env = _env(small_market[0])
    obs, infos = env.reset(seed=0)
    together = scripted_followers(env, seed=5, n_candidates=10, draw=draw, follower_draws="block")
    alone = scripted_followers(env, seed=5, n_candidates=10, draw=draw, follower_draws="block")
    got = []
    for day in (32, 33, 48):
        inf = {a: {**v, "day": day} for a, v in infos.items()}
        many = follower_actions(together, obs, inf)
        for a in alone:
            np.testing.assert_array_equal(many[a], alone[a].act(obs[a], inf[a]))
        got.append(many["investor_2"])
    assert not np.array_equal(np.isfinite(got[0]), np.isfinite(got[1]))
    assert not np.array_equal(np.isfinite(got[0]), np.isfinite(got[2]))
