"""``mass_env.testing.lookahead``: scrambling the market after a day changes nothing decided at or before
it, and ``check_no_lookahead`` states the one-day-ahead rule that ``first_divergence`` follows."""

import numpy as np
import pytest
from env_play import adaptive_leader, make_env

from mass_env import scripted_followers
from mass_env.testing import check_no_lookahead, first_divergence, perturb_after, record_trajectory


@pytest.mark.parametrize("cut", [35, 55])
def test_no_lookahead_perturbing_the_future_changes_nothing_decided_before(small_market, cut):
    p = small_market[0]
    q = perturb_after(p, cut, seed=cut)
    trajs = []
    for panel in (p, q):
        env = make_env(panel)
        trajs.append(record_trajectory(env, scripted_followers(env, seed=1), adaptive_leader(env.layout), seed=1))
    a, b = trajs
    for s1, s2 in zip(a, b):
        if s1["day"] <= cut:  # decided with information up to the close of `cut`
            assert first_divergence([{k: s1[k] for k in ("actions", "rewards")}],
                                    [{k: s2[k] for k in ("actions", "rewards")}]) is None, s1["day"]
        if s1["day"] < cut:  # observations handed out at the close of day + 1 <= cut
            assert first_divergence([s1], [s2]) is None, s1["day"]
    assert first_divergence(a, b) is not None  # the perturbation does reach later decisions


@pytest.mark.parametrize("cut", [35, 55])
def test_check_no_lookahead_follows_the_one_day_ahead_rule(small_market, cut):
    p = small_market[0]
    first = check_no_lookahead(make_env, p, cut, seed=1, principal=adaptive_leader(make_env(p).layout))
    # the step of day `cut` hands out day cut+1's observations: that is where the recordings part
    assert first == cut


def test_check_no_lookahead_catches_a_leader_that_peeks(small_market):
    envs = []  # the env being played: the leader below keeps a reference to its panel, as it should not

    def make(panel):
        envs.append(make_env(panel))
        return envs[-1]

    def peeking_leader(obs, info):
        panel, day = envs[-1].panel, int(info["day"])
        move = panel.adj_close[min(day + 2, panel.n_days - 1)].mean() / panel.adj_close[day].mean() - 1.0
        return np.concatenate([np.full(8, np.tanh(50 * move)), [0.0, 0.0]]).astype(np.float32)

    with pytest.raises(AssertionError, match="look-ahead: the actions decided"):
        check_no_lookahead(make, small_market[0], 40, seed=1, principal=peeking_leader)
