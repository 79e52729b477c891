"""The anticipating leader: CMA-ES over the commitment, each candidate scored on the reports the followers
*would* make under it (a Stackelberg leader), not on the reports they made (the myopic leaders).

Why: SA, CMA-ES and equal weights fit the weights on the recorded reports, which assumes the reports do not
depend on the commitment (true of truthful followers). Followers paid by a rule respond to it: the Hedge
followers learn to shade toward yesterday's consensus, exaggerate or abstain. This leader is bilevel: CMA-ES
outside (softmax logits of the weights and alpha, with the inertia it commits to), the followers' best
response inside (``mass_env.incentives.game_response.StrategyResponse``: each type's best strategy of the
Hedge followers' library under the payment rule, on the window's days and views), and the fitness is the
aggregate of the *responded* reports.

The payment rule: the game fixes it for an episode (the followers' ``hedge:rule``); a leader cannot change it
day by day, so ``choose_rule`` picks it once from a menu on a training window (the fitted commitment's value
under each rule's response) and the option ``rule`` says which rule the followers are paid by.

No look-ahead: the window (``DecisionContext.views``) holds only days whose return has realised by the close
of the decision, with the views and the consensus the followers saw on those days.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from mass_env.errors import MassError
from mass_env.game.mechanism import apply_inertia
from mass_env.game.scoring import ScoringWindow, ViewWindow
from mass_env.incentives.game_response import ResponsePlan, StrategyResponse
from mass_env.incentives.learning import StrategyLibrary
from mass_env.incentives.payments import UnknownRuleError
from mass_env.roles import DecisionContext

from .blackbox import BlackBoxPrincipal, Objective, _salt
from .cmaes import CMAES
from .options import dataclass_types, declared_types
from .registry import check_options, register
from .window import WindowOptions

FloatArray = npt.NDArray[np.float64]
LIBRARIES = ("standard", "truthful")
RESPONSE_OPTIONS = ("rule", "library", "shade", "exaggerate", "constants", "rounds")
LEADER_OPTIONS = ("response_lookback",)
DEFAULTS: Mapping[str, Any] = {"component": "signal", "learn_alpha": True}


@dataclass
class ResponseObjective(Objective):
    """The fitness of candidates on the reports the followers would make under each: one best-response pass
    per population, one scorer call per distinct response profile (usually one or two)."""

    views: ViewWindow | None = None
    response: StrategyResponse = field(default_factory=StrategyResponse)
    #: score the responded reports on the window's last ``last`` days (None: all of them)
    last: int | None = None
    #: (P, K) the strategy each type plays under each candidate of the last population
    picked: npt.NDArray[np.int64] | None = None
    _plan: ResponsePlan | None = field(default=None, repr=False)
    _windows: dict[tuple[int, ...], ScoringWindow] = field(default_factory=dict, repr=False)

    def __call__(self, X: npt.ArrayLike) -> FloatArray:
        if self.views is None:
            raise MassError("a response objective needs the window's views (DecisionContext.views)")
        w, a = self.space.decode(X)
        self.evaluations += w.shape[0]
        if self._plan is None:  # the library's reports on the window: once per search
            self._plan = self.response.prepare(self.views)
        wn = w / w.sum(1, keepdims=True)
        applied = wn if not self.inertia or self.previous is None else apply_inertia(wn, self.previous, self.inertia)
        picks = self.response.picks(self._plan, applied)
        out = np.empty(w.shape[0])
        for row in np.unique(picks, axis=0):  # a loop over distinct response profiles
            key = tuple(int(v) for v in row)
            if key not in self._windows:
                self._windows[key] = self.views.scoring(self._plan.responded(row), self.last)
            idx = np.flatnonzero((picks == row).all(1))
            out[idx] = self.score(self._windows[key], w[idx], a[idx])
            self.window.calls += 1
        self.picked = picks
        return out


@dataclass(frozen=True)
class RuleChoice:
    """The rule ``choose_rule`` picked and every menu rule's fitted value on the training window."""

    rule: str
    values: Mapping[str, float]


class AnticipatingPrincipal(BlackBoxPrincipal):
    """A window leader whose fitness is the aggregate of the followers' responded reports (module docstring).

    Args:
        optimizer: the ask/tell optimiser (``CMAES`` as built by ``make("anticipating")``).
        response: the followers' response model (library, payment rule, rounds).
        response_lookback: realised days the response is fitted on (60): Hedge followers weigh a strategy by
            its pay over all the days they have learned from, so their response is read off a longer window
            than the ``lookback`` days the commitment is scored on.
        name, window, window_options: as ``BlackBoxPrincipal``.
    """

    def __init__(self, optimizer: Any, *, response: StrategyResponse, name: str = "anticipating",
                 response_lookback: int = 60, window: WindowOptions | None = None, **window_options: Any) -> None:
        super().__init__(optimizer, name=name, window=window, **window_options)
        self.response = response
        if int(response_lookback) < 1:
            raise MassError(f"option 'response_lookback' of principal {name!r}: a whole number >= 1, "
                            f"got {response_lookback!r}")
        self.response_lookback = int(response_lookback)

    def reset(self, n_types: int, *, seed: int | None = None) -> None:
        super().reset(n_types, seed=seed)
        # the search's random stream of its myopic twin ``cmaes``: with the same seed, the two differ only in
        # what they score (a library of the truthful strategy alone makes them decide alike)
        self._rng = np.random.default_rng(None if seed is None else [int(seed), _salt("cmaes")])

    def fit_window(self, ctx: DecisionContext) -> ViewWindow:
        if ctx.views is None:
            raise MassError(f"{self.name}: the game keeps no views (build it with record_reports=True); a leader "
                            "that anticipates the followers' response needs them")
        return ctx.views(max(self.lookback, self.response_lookback), horizon=self.fitness_horizon)

    def objective(self, window: ScoringWindow | ViewWindow, previous: FloatArray | None, turnover_penalty: float,
                  inertia: float) -> Objective:
        if self.space is None:
            raise RuntimeError(f"{self.name}: call reset() before search()")
        if not isinstance(window, ViewWindow):
            raise MassError(f"{self.name}: searches a ViewWindow (DecisionContext.views), got {type(window).__name__}")
        return ResponseObjective(window.reports, self.space, self.component, previous, turnover_penalty, inertia,
                                 views=window, response=self.response, last=self.lookback)

    def choose_rule(self, window: ViewWindow, menu: Sequence[str], *,
                    previous: npt.ArrayLike | None = None) -> RuleChoice:
        """The menu rule whose fitted commitment scores best under the followers' response on ``window`` (the
        game cannot change the rule within an episode, so it is chosen once, on a training window). A value of
        -1 means the responded aggregate has no ranking on any day (every type's best response is a constant)."""
        if not menu:
            raise MassError("choose_rule needs a menu of payment rules, e.g. weighted_skill/skill/proper")
        kept, state, values = self.response, self._rng.bit_generator.state, {}
        try:
            for spec in menu:  # common random numbers: rules with the same response get the same value
                try:
                    self.response = dataclasses.replace(kept, rule=spec)
                except ValueError as exc:
                    raise MassError(f"{self.name}: menu rule {spec!r}: {exc}") from None
                self._rng.bit_generator.state = state
                values[spec] = self.search(window, previous=previous, report=True).fitness
        finally:
            self.response = kept
        return RuleChoice(max(values, key=lambda r: values[r]), values)  # ties: the earlier menu rule

    def options(self) -> dict[str, Any]:
        return {**super().options(), "response_lookback": self.response_lookback,
                "rule": self.response.payment.option_string(),
                "strategies": list(self.response.library.names), "rounds": self.response.rounds}


def _floats(value: Any, key: str) -> tuple[float, ...]:
    items = value.split("/") if isinstance(value, str) else list(value) if isinstance(value, Sequence) else [value]
    try:
        return tuple(float(v) for v in items if str(v).strip() != "")
    except ValueError:
        raise MassError(f"option {key!r} of principal 'anticipating': numbers separated by '/', "
                        f"got {value!r}") from None


def response_from(options: Mapping[str, Any]) -> StrategyResponse:
    """The response model of the options ``rule``, ``library``, ``shade``, ``exaggerate``, ``constants``,
    ``rounds`` (the Hedge followers' options of the same names; lists as ``0.25/0.5``)."""
    library = str(options.get("library", "standard"))
    if library not in LIBRARIES:
        raise MassError(f"option 'library' of principal 'anticipating': one of {', '.join(LIBRARIES)}, got {library!r}")
    strategies = StrategyLibrary.standard((), (), ()) if library == "truthful" else StrategyLibrary.standard(
        *(_floats(options[k], k) if k in options else d for k, d in
          (("shade", (0.25, 0.5, 0.75)), ("exaggerate", (0.25, 0.5)), ("constants", (0.0,)))))
    try:
        return StrategyResponse(strategies, str(options.get("rule", "weighted_skill")), int(options.get("rounds", 1)))
    except UnknownRuleError as exc:
        raise MassError(f"option 'rule' of principal 'anticipating': {exc}") from None
    except ValueError as exc:
        raise MassError(f"principal 'anticipating': {exc}") from None


def make_anticipating(**options: Any) -> AnticipatingPrincipal:
    """Anticipating: CMA-ES scoring the followers' best response in the Hedge library (a Stackelberg leader)."""
    window, rest = WindowOptions.split(options)
    mine = {k: v for k, v in rest.items() if k in RESPONSE_OPTIONS}
    lead = {k: v for k, v in rest.items() if k in LEADER_OPTIONS}
    cma = {k: v for k, v in rest.items() if k not in RESPONSE_OPTIONS + LEADER_OPTIONS}
    check_options("anticipating", cma, [*inspect.signature(CMAES).parameters, *RESPONSE_OPTIONS, *LEADER_OPTIONS,
                                        *WindowOptions.names()])
    return AnticipatingPrincipal(CMAES(**cma), response=response_from(mine), name="anticipating",
                                 **lead, **{**DEFAULTS, **window})


make_anticipating.option_types = {  # type: ignore[attr-defined]
    **dataclass_types(WindowOptions), **declared_types(CMAES), "rule": str, "library": str, "rounds": int,
    "response_lookback": int}
register("anticipating", make_anticipating, aliases=("stackelberg",), label="CMA-ES+BR", window_defaults=DEFAULTS)
