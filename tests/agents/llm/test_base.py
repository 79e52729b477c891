"""The backend interface (``agents.llm.backends.base``): the scripted backend is the scripted follower's
opinion, and a score becomes a rating distribution."""

from __future__ import annotations

import numpy as np
from llm_play import make_env

from agents.llm import llm_followers
from agents.llm.backends.base import ScriptedBackend, score_to_probs


def test_scripted_backend_follows_the_scripted_view(small_market):
    """The scripted backend is the scripted investor's opinion: expected ratings track its view."""
    from mass_env import scripted_followers

    panel = small_market[0]
    env = make_env(panel, 8, 1)
    f = llm_followers(env, ScriptedBackend(), seed=0, decode="expected", n_candidates=panel.n_symbols)
    ref = scripted_followers(env, seed=0)
    obs, infos = env.reset(seed=0, options={"start": 30, "end": 31})
    for a in f:
        x = f[a].act(obs[a], infos[a])[0]
        view = ref[a].view(obs[a]["features"])
        fin = np.isfinite(x)
        assert np.corrcoef(x[fin], view[fin])[0, 1] > 0.95


def test_score_to_probs():
    for s in (-1.0, -0.3, 0.0, 0.6, 1.0):
        p = np.array(score_to_probs(s))
        assert p.shape == (5,) and abs(p.sum() - 1) < 1e-12 and (p >= 0).all()
    assert np.argmax(score_to_probs(1.0)) == 4 and np.argmax(score_to_probs(-1.0)) == 0
    assert score_to_probs(0.0, spread=0) == (0.0, 0.0, 1.0, 0.0, 0.0)

