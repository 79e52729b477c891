"""What the env and look-ahead tests share: a small env and a principal that really reads its observation."""

from __future__ import annotations

import numpy as np

from mass_env import GameConfig, MassStackelbergEnv, build_types
from mass_env.game.mechanism import LOGIT_SCALE


def make_env(panel, **kw):
    cfg = GameConfig(warmup_days=kw.pop("warmup_days", 20), obs_window=kw.pop("obs_window", 8), **kw)
    return MassStackelbergEnv(panel, build_types(8, 4), cfg)


def adaptive_leader(layout):
    """A leader that really uses its observation: weights tilt toward types with good paid ICs."""
    def act(obs, info):
        ric = layout.unpack(obs)["type_ic"].mean(0)  # weights softmax(5 x ric), alpha 0.6, inertia 0.1
        return np.concatenate([np.clip(5 * ric / LOGIT_SCALE, -1, 1), [0.2, 0.1]]).astype(np.float32)
    return act
