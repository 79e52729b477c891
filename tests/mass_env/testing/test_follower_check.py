"""``mass_env.testing.check_follower``: the reference followers pass it; followers that peek, ignore
their seed or answer in the wrong shape fail it with a message saying which."""

import numpy as np
import pytest

from mass_env import MassStackelbergEnv, scripted_followers
from mass_env.roles import Follower
from mass_env.testing import check_follower


def test_scripted_followers_pass_the_follower_check():
    rep = check_follower(lambda env, seed: scripted_followers(env, seed=seed))
    assert rep.days > 20 and 0 < rep.looked_share <= 1
    assert all(isinstance(f, Follower)
               for f in scripted_followers(MassStackelbergEnv(n_types=2, agents_per_type=1)).values())


class _Peeker:
    """A follower that reads tomorrow's prices (it keeps a reference to the panel it should not have)."""

    def __init__(self, env, k):
        self.env, self.k = env, k

    def reset(self, seed=None):
        pass

    def act(self, obs, info):
        day = info["day"]
        p = self.env.panel.adj_close
        fut = p[min(day + 3, p.shape[0] - 1)] / p[day] - 1.0
        x = np.where(obs["universe"] > 0.5, np.tanh(np.nan_to_num(fut) * 20), np.nan)
        return np.tile(x, (self.env.types[self.k].n_agents, 1))


class _Unseeded(_Peeker):
    def act(self, obs, info):
        x = np.where(obs["universe"] > 0.5, np.random.default_rng().uniform(-1, 1, obs["universe"].size), np.nan)
        return np.tile(x, (self.env.types[self.k].n_agents, 1))


class _WrongShape(_Peeker):
    def act(self, obs, info):
        return np.zeros(obs["universe"].size)


@pytest.mark.parametrize("cls, match", [(_Peeker, "look-ahead"), (_Unseeded, "same seed"), (_WrongShape, "shape")])
def test_the_follower_check_catches_bad_followers(cls, match):
    with pytest.raises(AssertionError, match=match):
        check_follower(lambda env, seed: {f"investor_{k}": cls(env, k) for k in range(len(env.types))})
