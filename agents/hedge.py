"""Hedge followers in the game: scripted views, reports chosen by no-regret learning over a strategy library.

Why: the scripted investors report what they believe; a paid follower may not. Here each investor type keeps
its scripted views (the truth, recorded as ``last_views``) and every day picks a report strategy for all its
agents with Hedge (multiplicative weights) over a ``StrategyLibrary`` (truthful, shade toward the anchor by b,
exaggerate away from it by c, constant), anchored on yesterday's published consensus. It learns, full
information, from what every library strategy *would* have been paid by the payment rule (default
``weighted_skill``: own Rank IC times the leader's applied weight share) against the others' realised reports.

No look-ahead: day t's counterfactual pays need day t's payoff-horizon forward return, which is known at the
close of ``t + lag + horizon``; a day's pays enter the weights at the first ``act`` at that close (the
followers' day-d signals are formed at the close of d), never before.
Vectorised over (strategies, agents, stocks); the loops are over newly realised days and over types only
where a per-type mean is formed. Seeded: day t's draws come from ``default_rng([seed, t, _STREAM])``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from mass_env import scripted_followers
from mass_env.game.aggregation import TypeMoments
from mass_env.incentives.ingame import zscore
from mass_env.incentives.learning import StrategyLibrary, strategy_reports
from mass_env.incentives.payments import PayContext, UnknownRuleError, make_rule

FloatArray = npt.NDArray[np.float64]
_STREAM = 0x4EDCE  # separates the followers' draws from the scripted views' streams
LIBRARIES = ("standard", "truthful")
SCRIPTED_OPTIONS = ("noise", "n_candidates", "output", "draw")


def _floats(value: Any, key: str) -> tuple[float, ...]:
    items = value.split("/") if isinstance(value, str) else list(value) if isinstance(value, Sequence) else [value]
    try:
        return tuple(float(v) for v in items if str(v).strip() != "")
    except ValueError:
        raise ValueError(f"hedge option {key}: numbers separated by '/', got {value!r}") from None


@dataclass(frozen=True)
class HedgeOptions:
    """The options of ``--followers hedge:key=value,...``. ``eta`` None: ``sqrt(8 ln M / T) / R`` (M strategies,
    T the episode's days, R the first realised day's pay range: the rate of Hedge's regret bound);
    ``library`` ``standard`` (truthful, ``shade``, ``exaggerate``, ``constants``; lists as ``0.25/0.5``) or
    ``truthful`` (truthful only: the scripted run exactly); ``rule`` the payment rule the followers learn from;
    ``noise`` ... ``draw`` go to the scripted views."""

    eta: float | None = None
    library: str = "standard"
    shade: tuple[float, ...] = (0.25, 0.5, 0.75)
    exaggerate: tuple[float, ...] = (0.25, 0.5)
    constants: tuple[float, ...] = (0.0,)
    rule: str = "weighted_skill"

    @classmethod
    def parse(cls, options: Mapping[str, Any]) -> tuple[HedgeOptions, dict[str, Any]]:
        """(hedge options, scripted options) from plain or string values; an unknown key or value is an
        error that lists the valid ones."""
        valid = [*cls.__dataclass_fields__, *SCRIPTED_OPTIONS]
        bad = sorted(set(options) - set(valid))
        if bad:
            raise ValueError(f"unknown hedge option(s) {', '.join(bad)}; valid: {', '.join(valid)}")
        mine = {k: v for k, v in options.items() if k in cls.__dataclass_fields__}
        scripted = {k: v for k, v in options.items() if k in SCRIPTED_OPTIONS}
        try:
            scripted.update({k: float(scripted[k]) for k in ("noise",) if k in scripted})
            scripted.update({k: int(scripted[k]) for k in ("n_candidates",) if k in scripted})
        except ValueError:
            raise ValueError(f"hedge options noise (a number) and n_candidates (an integer): got "
                             f"{scripted}") from None
        out: dict[str, Any] = {}
        if mine.get("eta") not in (None, "", "auto"):
            try:
                out["eta"] = float(mine["eta"])
            except (TypeError, ValueError):
                raise ValueError(f"hedge option eta: a number >= 0 or 'auto', got {mine['eta']!r}") from None
            if not out["eta"] >= 0:
                raise ValueError(f"hedge option eta: a number >= 0 or 'auto', got {mine['eta']!r}")
        if "library" in mine:
            if mine["library"] not in LIBRARIES:
                raise ValueError(f"hedge option library: one of {', '.join(LIBRARIES)}, got {mine['library']!r}")
            out["library"] = str(mine["library"])
        for k in ("shade", "exaggerate", "constants"):
            if k in mine:
                out[k] = _floats(mine[k], k)
        if "rule" in mine:
            try:
                make_rule(str(mine["rule"]))
            except UnknownRuleError as exc:
                raise ValueError(f"hedge option rule: {exc}") from None
            out["rule"] = str(mine["rule"])
        return cls(**out), scripted

    def strategies(self) -> StrategyLibrary:
        if self.library == "truthful":
            return StrategyLibrary.standard((), (), ())
        return StrategyLibrary.standard(self.shade, self.exaggerate, self.constants)

    def as_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


class HedgeLearner:
    """The state all types share: cumulative counterfactual pay (M, K), the pending days' candidate type means,
    the strategies played. ``reports(day, views, rows)`` answers any subset of the types for one day."""

    def __init__(self, env: Any, options: HedgeOptions, seed: int) -> None:
        self.env = getattr(env, "unwrapped", env)
        self.options = options
        self.library = options.strategies()
        self.rule = make_rule(options.rule)
        self.seed = int(seed)
        self.reset(seed)

    def reset(self, seed: int | None = None) -> None:
        if seed is not None:
            self.seed = int(seed)
        k, m = self.env.game.K, len(self.library)
        self.cum = np.zeros((m, k))
        self.own = np.zeros(k)
        self.rate: float | None = self.options.eta
        self.pending: dict[int, FloatArray] = {}  # day -> candidate type means (M, K, S)
        self.picks: dict[int, npt.NDArray[np.int64]] = {}  # day -> (K,) strategy played
        self.n_learned = 0
        self.last_learned = -1

    @property
    def game(self) -> Any:
        return self.env.game

    def probabilities(self) -> FloatArray:
        """(M, K) each type's current Hedge weights."""
        z = (self.rate or 0.0) * (self.cum - self.cum.max(0))
        p = np.exp(z)
        return p / p.sum(0)

    def learn(self, day: int) -> None:
        """Add the pays of every pending day whose forward return has realised by the close of ``day``."""
        game = self.game
        last = day - game.config.payoff_spec.delay
        for s in sorted(d for d in self.pending if d <= last):
            cand = self.pending.pop(s)
            rec = game.records[s - game.start]
            target = zscore(game.returns.get(game.config.payoff_spec)[s])
            profile = TypeMoments.from_stacked(rec.moments).type_mean()  # (K, S) what the types reported
            ctx = PayContext(target[None, :], weights=rec.applied, min_stocks=game.config.min_stocks)
            pays = np.nan_to_num(self.rule.deviation_pay(cand[:, :, None, :], profile[:, None, :], ctx)[:, :, 0])
            if self.rate is None:
                spread = float(np.median(pays.max(0) - pays.min(0))) or 1.0
                m = len(self.library)
                self.rate = float(np.sqrt(8.0 * np.log(m) / max(game.n_steps, 1)) / spread)
            self.cum += pays
            self.own += pays[self.picks[s], np.arange(pays.shape[1])]
            self.n_learned += 1
            self.last_learned = s

    def reports(self, day: int, views: FloatArray, agent_type: npt.NDArray[np.int64]) -> FloatArray:
        """Reports (A, S) of agents ``agent_type`` (their types' rows) with views (A, S) on ``day``."""
        self.learn(day)
        game = self.game
        k_all, m = game.K, len(self.library)
        cons = None if not game.records else np.asarray(game.records[-1].consensus, dtype=np.float64)
        anchor = views if cons is None else np.where(np.isfinite(cons)[None, :], cons[None, :], views)
        cands = strategy_reports(self.library.params, views, anchor)            # (M, A, S)
        if day not in self.picks:
            u = np.random.default_rng([self.seed, day, _STREAM]).random(k_all)
            self.picks[day] = (self.probabilities().cumsum(0) < u).sum(0).clip(max=m - 1)
        pick = self.picks[day][agent_type]                                       # (A,)
        out = cands[pick, np.arange(views.shape[0])]
        types = np.unique(agent_type)
        onehot = (agent_type[None, :] == types[:, None]).astype(np.float64)      # (T, A)
        ok = np.isfinite(cands)
        num = np.einsum("ta,mas->mts", onehot, np.where(ok, cands, 0.0))
        den = np.einsum("ta,mas->mts", onehot, ok.astype(np.float64))
        means = self.pending.setdefault(day, np.full((m, k_all, views.shape[1]), np.nan))
        with np.errstate(invalid="ignore", divide="ignore"):
            means[:, types] = np.where(den > 0, num / np.maximum(den, 1.0), np.nan)
        return out

    def report(self) -> dict[str, Any]:
        """What the run's meta keeps: the library, each type's final weights and realised regret."""
        p = self.probabilities()
        n = max(self.n_learned, 1)
        regret = (self.cum.max(0) - self.own) / n
        return {"population": "hedge", "options": self.options.as_dict(), "strategies": list(self.library.names),
                "eta": self.rate, "days_learned": self.n_learned, "final_weights": p.T.round(6).tolist(),
                "mean_final_weights": p.mean(1).round(6).tolist(), "regret": regret.round(6).tolist(),
                "gap": float(regret.max()) if self.n_learned else float("nan")}


class HedgeFollower:
    """One type's follower: its scripted views, the learner's report; ``last_views`` for the game's record."""

    def __init__(self, inner: Any, learner: HedgeLearner, type_id: int, n_agents: int) -> None:
        self.inner, self.learner, self.type_id = inner, learner, int(type_id)
        self._rows = np.full(int(n_agents), self.type_id, dtype=np.int64)
        self.last_views: FloatArray | None = None

    def reset(self, seed: int | None = None) -> None:
        self.inner.reset(seed)
        self.learner.reset(seed)

    def act(self, obs: Mapping[str, Any], info: Mapping[str, Any]) -> FloatArray:
        views = np.asarray(self.inner.act(obs, info), dtype=np.float64)
        self.last_views = views
        return self.learner.reports(int(info["day"]), views, self._rows)


class HedgeFollowers(dict):  # type: ignore[type-arg]
    """``{agent: HedgeFollower}`` answering a whole day in one call: the scripted views of every type drawn
    together (``ScriptedFollowers.act_many``), every type's report chosen in one vectorised pass."""

    def __init__(self, followers: Mapping[str, HedgeFollower], scripted: Any, learner: HedgeLearner) -> None:
        super().__init__(followers)
        self.scripted, self.learner = scripted, learner

    def act_many(self, obs: Mapping[str, Any], infos: Mapping[str, Any], names: Sequence[str]) -> dict[str, Any]:
        views = self.scripted.act_many(obs, infos, names)
        rows = [np.asarray(views[a], dtype=np.float64) for a in names]
        agent_type = np.concatenate([self[a]._rows for a in names])
        days = {int(infos[a]["day"]) for a in names}
        if len(days) != 1:
            return {a: self[a].act(obs[a], infos[a]) for a in names}
        out = self.learner.reports(days.pop(), np.concatenate(rows), agent_type)
        parts = np.split(out, np.cumsum([r.shape[0] for r in rows])[:-1])
        for a, v in zip(names, rows):
            self[a].last_views = v
        return dict(zip(names, parts))

    def report(self) -> dict[str, Any]:
        return self.learner.report()


def hedge_population(env: Any, seed: int, **options: Any) -> HedgeFollowers:
    """Hedge followers for a ``MassStackelbergEnv``; options as ``HedgeOptions.parse`` (plus the scripted
    views' ``noise``, ``n_candidates``, ``output``, ``draw``)."""
    opts, scripted_opts = HedgeOptions.parse(options)
    base = getattr(env, "unwrapped", env)
    inner = scripted_followers(base, seed=seed, **scripted_opts)
    learner = HedgeLearner(base, opts, seed)
    fols = {a: HedgeFollower(f, learner, f.itype.type_id, f.itype.n_agents) for a, f in inner.items()}
    return HedgeFollowers(fols, inner, learner)


def hedge_identity(options: Mapping[str, Any]) -> dict[str, Any]:
    """What determines the population's answers: the parsed options (defaults spelled out)."""
    opts, scripted_opts = HedgeOptions.parse(options)
    return {**opts.as_dict(), **scripted_opts}
