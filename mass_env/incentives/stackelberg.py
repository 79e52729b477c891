"""An anticipating (Stackelberg) leader: it chooses its commitment by simulating the followers' response.

Why: a Stackelberg leader has by definition foresight of the followers' reply; MASS's leaders are myopic (they
optimise as if the reports were the views). Here the leader's optimiser (CMA-ES, Hansen & Ostermeier 2001,
via ``cma``; or an exact grid where the space is small) calls a pluggable responder inside every evaluation:
a bilevel problem, ``max_x V(x, BR(x))`` (Sinha, Malo & Deb 2018, IEEE TEVC 22(2)). A myopic leader runs the
same optimiser with the *truthful* responder and is then scored against the real one.

Two settings with known answers:

* bimatrix games: the value of the optimal mixed commitment (the follower breaking ties in the leader's
  favour) is the Conitzer & Sandholm (2006) LP value (``commitment.optimal_commitment``);
* the information market: the leader commits to a payment rule (``consensus:r`` or a list) and an aggregator
  ``A = sum_i omega_i r_i + phi y`` (phi: the weight on the public signal, the market's "alpha"). Herding
  moves weight from x to y but is invertible when the leader knows it (``shared/design/incentives.md``,
  "Herding and efficiency"): the anticipating leader recovers the Bayes aggregate, the myopic one does not.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ._base import FloatArray, PaymentRule
from .closed_form import spearman_from_pearson
from .commitment import commitment_value
from .learning import StrategyLibrary, hedge_on_market
from .market import SIMULATION_PRIOR_PRECISION, InformationMarket
from .payments import make_rule
from .responses import DeviationFamily, iterated_best_response_linear, iterated_best_response_search
from .rules import rank_ic_rows


@dataclass(frozen=True)
class PrincipalResult:
    """The chosen commitment vector, its value (followers responding) and how many evaluations it took."""

    x: FloatArray
    value: float
    evaluations: int
    method: str


def maximise(value: Callable[[FloatArray], float], lower: npt.ArrayLike, upper: npt.ArrayLike,
             x0: npt.ArrayLike | None = None, method: str = "cma", grid: int = 21, sigma0: float = 0.25,
             maxfevals: int = 3000, seed: int = 0) -> PrincipalResult:
    """Maximise ``value`` over the box [lower, upper]: ``"grid"`` (``grid`` points per axis, exact on that
    grid) or ``"cma"`` (CMA-ES in the box scaled to [0, 1]^n, started at ``x0`` or the best grid point of a
    coarse ``grid``^n search when n <= 3). The best point ever evaluated is returned."""
    lo, hi = np.asarray(lower, dtype=np.float64), np.asarray(upper, dtype=np.float64)
    n = lo.size
    best = {"x": lo.copy(), "v": -np.inf, "n": 0}

    def f(u: FloatArray) -> float:
        x = lo + np.clip(u, 0.0, 1.0) * (hi - lo)
        v = float(value(x))
        best["n"] += 1
        if v > best["v"]:
            best["x"], best["v"] = x.copy(), v
        return -v

    if method == "grid" or (method == "cma" and x0 is None and n <= 3):
        axes = np.meshgrid(*[np.linspace(0.0, 1.0, grid)] * n, indexing="ij")
        for u in np.stack([a.ravel() for a in axes], 1):
            f(u)
        if method == "grid":
            return PrincipalResult(best["x"], best["v"], best["n"], "grid")
    if method != "cma":
        raise ValueError(f"method must be 'cma' or 'grid', got {method!r}")
    import cma

    start = (best["x"] - lo) / np.where(hi > lo, hi - lo, 1.0) if x0 is None else (np.asarray(x0) - lo) / (hi - lo)
    opts = {"bounds": [[0.0] * n, [1.0] * n], "verbose": -9, "seed": seed + 1, "maxfevals": maxfevals,
            "tolfun": 1e-12, "tolx": 1e-12}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cma.fmin2(f, np.clip(start, 0.0, 1.0), sigma0, options=opts)
    return PrincipalResult(best["x"], best["v"], best["n"], "cma")


# --- bimatrix games: the known answer ------------------------------------------------------------------------
def simplex_point(x: FloatArray) -> FloatArray:
    """``x^2 / sum x^2``: a smooth map onto the simplex that reaches its faces (zeros) exactly."""
    q = np.asarray(x, dtype=np.float64) ** 2
    return q / q.sum() if q.sum() > 0 else np.full(q.size, 1.0 / q.size)


def anticipating_bimatrix(principal_payoff: npt.ArrayLike, follower_payoff: npt.ArrayLike, seed: int = 0,
                          maxfevals: int = 4000) -> tuple[FloatArray, float]:
    """The anticipating leader on a bimatrix game: CMA-ES over mixed commitments, the follower's best reply
    (ties in the leader's favour, ``commitment_value``) inside. Returns (p, value)."""
    ul = np.asarray(principal_payoff, dtype=np.float64)
    uf = np.asarray(follower_payoff, dtype=np.float64)
    m = ul.shape[0]
    res = maximise(lambda x: commitment_value(simplex_point(x), ul, uf, tie_tol=1e-9)[0],
                   np.zeros(m), np.ones(m), method="cma", grid=11 if m <= 3 else 3, sigma0=0.1,
                   maxfevals=maxfevals, seed=seed)
    return simplex_point(res.x), res.value


# --- the information market ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Response:
    """Followers' linear strategies (F, 2) on (x_i, y), how they were found, and whether that converged."""

    coef: FloatArray
    kind: str
    converged: bool = True


Responder = Callable[[PaymentRule, InformationMarket, "FloatArray | None"], Response]


def truthful_responder(rule: PaymentRule, market: InformationMarket, weights: FloatArray | None = None) -> Response:
    """What a myopic leader assumes: every follower reports its view, whatever the rule."""
    return Response(np.tile(market.view_coef, (market.n_followers, 1)), "assumed truthful")


def closed_form_responder(rule: PaymentRule, market: InformationMarket, weights: FloatArray | None = None) -> Response:
    """Iterated exact best response (quadratic rules); sequential updates if simultaneous ones diverge (dpm)."""
    eq = iterated_best_response_linear(rule, market, weights, tol=1e-12, max_iter=5000)
    if not eq.converged:
        eq = iterated_best_response_linear(rule, market, weights, tol=1e-12, max_iter=5000, sequential=True)
    return Response(eq.profile, "exact", eq.converged)


def _family_coef(params: FloatArray, market: InformationMarket) -> FloatArray:
    """Linear strategy rows ``a*view + b*y`` (anchor = public signal) as (k_x, k_y); c and d are ignored."""
    h = market.view_coef
    return np.column_stack([params[:, 0] * h[0], params[:, 0] * h[1] + params[:, 1]])


def hedge_responder(library: StrategyLibrary, eta: float | None = None, seed: int = 0) -> Responder:
    """No-regret followers (``learning.hedge``, anchor = the public signal): each one's final mixture's mean
    strategy. ``converged`` only says the run finished with a finite certification gap: a learned response is
    an eps-CCE relative to the library, never an exact equilibrium (read ``learning.HedgeRun.gap``)."""

    def respond(rule: PaymentRule, market: InformationMarket, weights: FloatArray | None = None) -> Response:
        run = hedge_on_market(rule, market, library, True, weights, eta, seed)
        return Response(_family_coef(run.weights @ library.params, market), "no-regret (hedge)",
                        bool(np.isfinite(run.gap)))

    return respond


def search_responder(family: DeviationFamily | None = None, seed: int = 0) -> Responder:
    """Iterated best response over a deviation family on one draw (anchor = the public signal)."""

    def respond(rule: PaymentRule, market: InformationMarket, weights: FloatArray | None = None) -> Response:
        from ._base import PayContext

        d = market.draw(seed)
        eq = iterated_best_response_search(rule, d.views, PayContext(d.theta, weights), d.public, family)
        return Response(_family_coef(eq.profile, market), "lower bound", eq.converged)

    return respond


def aggregate_value(coef: FloatArray, phi: float, market: InformationMarket,
                    weights: FloatArray | None = None) -> float:
    """Population Rank IC of ``A = sum_i omega_i (k_xi x_i + k_yi y) + phi y`` (Gaussian market, exact).

    ``A = sum g_i x_i + g_y y`` with ``g_i = omega_i k_xi``: Cov(A, theta) = (sum g + g_y) v,
    Var(A) = (sum g + g_y)^2 v + [rho (sum g)^2 + (1 - rho) sum g^2] / beta + g_y^2 / alpha (v = Var theta);
    Spearman = (6/pi) arcsin(Pearson/2).
    """
    n = coef.shape[0]
    om = np.full(n, 1.0 / n) if weights is None else np.asarray(weights, float) / np.sum(weights)
    tau = market.prior_precision if market.prior_precision > 0 else SIMULATION_PRIOR_PRECISION
    v, a, b, rho = 1.0 / tau, market.public_precision, market.private_precision, market.rho
    g = om * coef[:, 0]
    gy = float(om @ coef[:, 1]) + phi
    s = g.sum() + gy
    var = s * s * v + (rho * g.sum() ** 2 + (1 - rho) * (g * g).sum()) / b + gy * gy / a
    return float(spearman_from_pearson(s * v / np.sqrt(var * v))) if var > 0 else 0.0


def empirical_value(coef: FloatArray, phi: float, market: InformationMarket, weights: FloatArray | None = None,
                    seed: int = 12345) -> tuple[float, float]:
    """Mean daily Rank IC of the aggregate on a fresh draw, and its 95% half-width over days."""
    d = market.draw(seed)
    n = coef.shape[0]
    om = np.full(n, 1.0 / n) if weights is None else np.asarray(weights, float) / np.sum(weights)
    rep = coef[:, 0, None, None] * d.private + coef[:, 1, None, None] * d.public
    ric = rank_ic_rows(np.einsum("f,fds->ds", om, rep) + phi * d.public, d.theta)
    return float(ric.mean()), float(1.96 * ric.std(ddof=1) / np.sqrt(ric.size))


@dataclass(frozen=True)
class MarketCommitment:
    """A leader's choice on the information market and its Stackelberg value (followers responding)."""

    rule: str
    phi: float
    value: float                 # population Rank IC with the real responder
    empirical: float             # mean daily Rank IC on a fresh draw
    half_width: float            # its 95% half-width
    response_kind: str
    converged: bool


def _best_phi(coef: FloatArray, market: InformationMarket, weights: FloatArray | None,
              bounds: tuple[float, float]) -> float:
    res = maximise(lambda x: aggregate_value(coef, float(x[0]), market, weights), [bounds[0]], [bounds[1]],
                   method="cma", grid=41, sigma0=0.1, maxfevals=400)
    return float(res.x[0])


def market_principal(market: InformationMarket, responder: Responder, rules: Sequence[str | PaymentRule] | None = None,
                  r_bounds: tuple[float, float] = (0.0, 0.9), phi_bounds: tuple[float, float] = (-3.0, 3.0),
                  weights: FloatArray | None = None, seed: int = 0, maxfevals: int = 300) -> tuple[str, float]:
    """The leader's commitment (rule, phi) when it models the followers with ``responder``.

    ``rules`` given: an exact search over the list (the response computed once per rule), phi by a 1-D
    search. ``rules`` None: bilevel CMA-ES over (r of ``consensus``, phi), the response recomputed inside
    every evaluation (cached per r).
    """
    if rules is not None:
        scored = []
        for spec in rules:
            rule = make_rule(spec)
            coef = responder(rule, market, weights).coef
            phi = _best_phi(coef, market, weights, phi_bounds)
            scored.append((aggregate_value(coef, phi, market, weights), rule.option_string(), phi))
        best = max(scored, key=lambda t: t[0])  # first best wins ties: list order is the leader's preference
        return best[1], best[2]
    cache: dict[float, FloatArray] = {}

    def value(x: FloatArray) -> float:
        r = round(float(x[0]), 6)
        if r not in cache:
            cache[r] = responder(make_rule(f"consensus:r={r}"), market, weights).coef
        return aggregate_value(cache[r], float(x[1]), market, weights)

    res = maximise(value, [r_bounds[0], phi_bounds[0]], [r_bounds[1], phi_bounds[1]], method="cma", grid=7,
                   maxfevals=maxfevals, seed=seed)
    return f"consensus:r={round(float(res.x[0]), 6):g}", float(res.x[1])


def stackelberg_value(market: InformationMarket, rule: str, phi: float, responder: Responder,
                      weights: FloatArray | None = None, seed: int = 12345) -> MarketCommitment:
    """Score a commitment with the followers responding (population value and an empirical one with CI)."""
    resp = responder(make_rule(rule), market, weights)
    emp, hw = empirical_value(resp.coef, phi, market, weights, seed)
    return MarketCommitment(rule, phi, aggregate_value(resp.coef, phi, market, weights), emp, hw, resp.kind,
                            resp.converged)


def compare_principals(market: InformationMarket, responder: Responder,
                       rules: Sequence[str | PaymentRule] | None = None, weights: FloatArray | None = None,
                       seed: int = 0) -> dict[str, MarketCommitment]:
    """Anticipating vs myopic leader, both scored with ``responder``: {"anticipating": ..., "myopic": ...}."""
    out = {}
    for name, model in (("anticipating", responder), ("myopic", truthful_responder)):
        rule, phi = market_principal(market, model, rules, weights=weights, seed=seed)
        out[name] = stackelberg_value(market, rule, phi, responder, weights)
    return out
