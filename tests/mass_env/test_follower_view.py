"""The follower's view in its flat observation: the scripted type's noise-free opinion, written by the one
writer (``FollowerObsLayout.write``) in box mode and for a dict-mode game (``follower_box``)."""

from __future__ import annotations

import numpy as np
import pytest

import mass_env
from mass_env import GameConfig, SyntheticConfig, build_types
from mass_env import synthetic_market as market
from mass_env.scripted import scripted_followers


@pytest.fixture(scope="module")
def panel():
    return market(SyntheticConfig(n_symbols=12, n_days=60), seed=0)[0]


def kwargs(panel, **kw):
    return dict(panel=panel, types=build_types(4, 2), config=GameConfig(warmup_days=20, obs_window=5, horizon=2), **kw)


def test_the_view_column_is_the_scripted_view(panel):
    box = mass_env.parallel_env(**kwargs(panel, follower_obs="box"))
    plain = mass_env.parallel_env(**kwargs(panel))
    obs, _ = box.reset(seed=0)
    dobs, _ = plain.reset(seed=0)
    scripted = scripted_followers(plain, seed=0, noise=0.0)
    lay = box.follower_layout
    for _ in range(3):
        for t in box.types:
            a = f"investor_{t.type_id}"
            parts = lay.unpack(obs[a])
            uni = dobs[a]["universe"] > 0.5
            want = np.where(uni, np.tanh(scripted[a].view(dobs[a]["features"]) / 2), 0.0)
            np.testing.assert_allclose(parts["view"], want, atol=1e-6)
            # a noise-free truthful agent reports exactly its view where it looked
            rep = scripted[a].act(dobs[a], {"day": plain.game.start})
            seen = np.isfinite(rep)
            np.testing.assert_allclose(rep[seen], np.broadcast_to(parts["view"], rep.shape)[seen], atol=1e-6)
            np.testing.assert_array_equal(plain.follower_box(a, dobs[a]), obs[a])  # one writer, both modes
            rows = lay.rows(obs[a])
            assert rows.shape == (panel.n_symbols, 2 * lay.n_features + 2 + lay.n_types + 2)
            np.testing.assert_array_equal(rows[:, 2 * lay.n_features + 1], parts["view"])
        act = {a: box.action_space(a).sample() * 0 for a in box.agents if a != "principal_0"}
        act["principal_0"] = np.zeros(box.action_space("principal_0").shape, np.float32)
        obs, *_ = box.step(act)
        dobs, *_ = plain.step(act)
    assert "view" in lay.describe()
