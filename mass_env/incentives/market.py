"""The information market: a synthetic market whose Bayesian views and equilibria are known in closed form.

Why: incentive metrics (deviation gain, private weight, herding) need a market where the right answer is
known, so a test can tell a bug from a finding. Reference: the model of Morris & Shin (2002), "Social value
of public information", AER 92(5), with a finite population of followers; formulas in
``shared/design/incentives.md``.

Per day and stock (all independent):

* target ``theta ~ N(0, 1/tau)``;
* public signal ``y = theta + eta``, ``eta ~ N(0, 1/alpha)``, seen by every follower;
* private signal of follower i ``x_i = theta + eps_i``, ``eps_i ~ N(0, 1/beta)`` with
  ``corr(eps_i, eps_j) = rho`` (``eps_i = sqrt(rho) u + sqrt(1 - rho) e_i``, one common ``u``).

The *view* of follower i is its posterior mean ``m_i = (alpha y + beta x_i) / (tau + alpha + beta)``.

**The prior.** ``prior_precision`` (tau) is the prior the followers *believe*; its default 0 is the diffuse
prior, for which the closed forms of ``shared/design/incentives.md`` are written. A diffuse prior cannot be
sampled, so with tau = 0 ``draw`` samples theta from ``N(0, 1/SIMULATION_PRIOR_PRECISION)`` (= N(0, 1)).
That is harmless for every diffuse-prior closed form in this package (they involve only signal errors such
as ``x - y`` or ``m - theta``, which do not contain theta), but the diffuse views are then not calibrated
in level (a shrunk view earns more under ``proper``): a test of "truth is a best response" against scaled
reports must set tau > 0 so the views are the posterior means of the simulated world.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

#: theta's precision in ``draw`` when the followers' prior is diffuse (tau = 0): proper, unit variance.
SIMULATION_PRIOR_PRECISION = 1.0


@dataclass(frozen=True)
class MarketDraw:
    """One simulated market: arrays are (days, stocks), or (followers, days, stocks) for private ones."""

    theta: FloatArray          # the target (realised return)
    public: FloatArray         # y
    private: FloatArray        # x, (followers, days, stocks)
    views: FloatArray          # posterior means m_i, (followers, days, stocks)
    bayes_aggregate: FloatArray  # E[theta | y, x_1..x_n] (the best any aggregator can do)
    predictive_sd: float       # sd of theta given one follower's information (the view's error sd)


@dataclass(frozen=True)
class InformationMarket:
    """Parameters of the information market (see the module docstring).

    ``public_precision`` alpha, ``private_precision`` beta, ``prior_precision`` tau (0 = diffuse), ``rho``
    the correlation of private noise across followers (in [0, 1)), ``seed`` for ``draw``.
    """

    n_followers: int = 8
    n_stocks: int = 100
    n_days: int = 50
    public_precision: float = 2.0
    private_precision: float = 1.0
    prior_precision: float = 0.0
    rho: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        if min(self.n_followers, self.n_stocks, self.n_days) < 1:
            raise ValueError("n_followers, n_stocks and n_days must be positive")
        if not (self.public_precision > 0 and self.private_precision > 0 and self.prior_precision >= 0):
            raise ValueError("precisions must be positive (prior_precision may be 0 = diffuse)")
        if not 0.0 <= self.rho < 1.0:
            raise ValueError(f"rho must be in [0, 1), got {self.rho}")

    # --- closed-form linear maps on one follower's information (x_i, y) -------------------------------
    @property
    def view_coef(self) -> FloatArray:
        """Coefficients of the view on (x_i, y): ``(beta, alpha) / (tau + alpha + beta)``."""
        a, b, t = self.public_precision, self.private_precision, self.prior_precision
        return np.array([b, a]) / (t + a + b)

    @property
    def peer_signal_coef(self) -> FloatArray:
        """Coefficients of ``E[x_j | x_i, y]`` (j != i) on (x_i, y).

        ``E[x_j | .] = m_i + E[eps_j | .] = m_i + rho E[eps_i | .] = (1 - rho) m_i + rho x_i``: eps_j and
        eps_i have the same covariance with (x_i, y) up to the factor rho, and ``E[eps_i | .] = x_i - m_i``.
        """
        return (1.0 - self.rho) * self.view_coef + self.rho * np.array([1.0, 0.0])

    def second_moment(self, d: npt.ArrayLike) -> FloatArray:
        """``E[(d_x x_i + d_y y)^2]`` under the followers' prior, for coefficient rows ``d`` (..., 2).

        ``d.(x, y) = (d_x + d_y) theta + d_x eps_i + d_y eta``; with a diffuse prior the theta term is
        infinite unless ``d_x + d_y = 0`` (then the moment is finite and prior-free).
        """
        d = np.asarray(d, dtype=np.float64)
        s = d[..., 0] + d[..., 1]
        noise = d[..., 0] ** 2 / self.private_precision + d[..., 1] ** 2 / self.public_precision
        tau = self.prior_precision
        if tau > 0:
            return s * s / tau + noise
        return np.where(np.abs(s) < 1e-12, noise, np.inf)

    @property
    def bayes_coef(self) -> tuple[float, float, float]:
        """``E[theta | y, x_1..x_n] = (alpha y + beta_n xbar) / (tau + alpha + beta_n)`` as (c_xbar, c_y, beta_n).

        xbar is sufficient for theta among exchangeable, equicorrelated private signals; its noise variance is
        ``(rho + (1 - rho) / n) / beta``, so ``beta_n = beta / (rho + (1 - rho) / n)``.
        """
        a, b, t, n = self.public_precision, self.private_precision, self.prior_precision, self.n_followers
        bn = b / (self.rho + (1.0 - self.rho) / n)
        return bn / (t + a + bn), a / (t + a + bn), bn

    # --- simulation ------------------------------------------------------------------------------------
    def draw(self, seed: int | None = None) -> MarketDraw:
        """Sample one market with a fresh ``numpy.random.Generator`` (``seed`` overrides ``self.seed``)."""
        rng = np.random.default_rng(self.seed if seed is None else seed)
        f, d, s = self.n_followers, self.n_days, self.n_stocks
        tau_sim = self.prior_precision if self.prior_precision > 0 else SIMULATION_PRIOR_PRECISION
        theta = rng.normal(0.0, 1.0 / np.sqrt(tau_sim), (d, s))
        y = theta + rng.normal(0.0, 1.0 / np.sqrt(self.public_precision), (d, s))
        sd = 1.0 / np.sqrt(self.private_precision)
        common = rng.normal(0.0, sd, (d, s))
        own = rng.normal(0.0, sd, (f, d, s))
        x = theta + np.sqrt(self.rho) * common + np.sqrt(1.0 - self.rho) * own
        kx, ky = self.view_coef
        views = kx * x + ky * y
        cx, cy, _ = self.bayes_coef
        agg = cx * x.mean(axis=0) + cy * y
        post_var = 1.0 / (self.prior_precision + self.public_precision + self.private_precision)
        return MarketDraw(theta, y, x, views, agg, float(np.sqrt(post_var)))
