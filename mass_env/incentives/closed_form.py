"""Closed-form answers the incentive machinery is tested against (information market, Gaussian signals).

Derivations are in ``shared/design/incentives.md`` and re-derived in the docstrings where this module
generalises them (a proper prior tau, correlated private noise, Sheppard's formula for peer pay).
Notation: alpha = public precision, beta = private precision, tau = prior precision (0 = diffuse), r = the
beauty-contest weight, omega = a follower's own weight in the consensus.
"""

from __future__ import annotations

import numpy as np


def coordination_weight(r: float, omega: float = 0.0) -> float:
    """``c = r (1 - omega)^2``: the weight of coordination with the *others* when the consensus includes the
    follower's own report with weight omega (``r_i - C = (1 - omega)(r_i - Abar_{-i})``); c -> r as omega -> 0."""
    return r * (1.0 - omega) ** 2


def truthful_weight(alpha: float, beta: float) -> float:
    """Relative private weight of the Bayesian view ``(alpha y + beta x) / (tau + alpha + beta)``:
    ``beta / (alpha + beta)``, whatever tau (the prior scales both coefficients)."""
    return beta / (alpha + beta)


def morris_shin_weight(alpha: float, beta: float, r: float, omega: float = 0.0) -> float:
    """Equilibrium relative private weight under ``consensus:r`` (Morris & Shin 2002, finite population).

    ``w* = (1-r) beta / ((1-r) beta + (1-r+c) alpha)`` with ``c = r (1 - omega)^2``. Derivation: the best
    response is ``a_i = [(1-r) m_i + c E(Abar_{-i} | info_i)] / (1-r+c)``; with the others at (k_x, k_y) and
    independent private noise, ``E(Abar_{-i} | .) = k_x m_i + k_y y``; at a symmetric fixed point the y
    coefficient gives ``k_y (1-r) = [(1-r) + c k_x] alpha / D`` and the x coefficient
    ``k_x (1-r+c) = [(1-r) + c k_x] beta / D`` (D = tau + alpha + beta), so ``k_x / k_y = (1-r) beta /
    ((1-r+c) alpha)`` for any tau. omega = 0 is the many-follower limit; 1/n for n equal followers.
    """
    c = coordination_weight(r, omega)
    return (1.0 - r) * beta / ((1.0 - r) * beta + (1.0 - r + c) * alpha)


def deviation_gain_consensus(alpha: float, beta: float, r: float, omega: float = 0.0, tau: float = 0.0) -> float:
    """Expected gain (per stock, pay units) of the best response over truth when all others are truthful.

    ``gain = c^2 beta (tau + alpha) / ((1 - r + c) (tau + alpha + beta)^3)``; at tau = 0 this is the design
    page's ``c^2 alpha beta / ((1-r+c)(alpha+beta)^3)``. Derivation: E[pay | info] = -(1-r+c)(a - a*)^2 +
    const, and ``a* - m = c [(k_x - 1) m + k_y y] / (1-r+c)`` with the truthful k = (beta, alpha) / D; the
    bracket is ``(-beta (tau+alpha) x + alpha beta y) / D^2``, whose second moment is ``beta (tau+alpha) / D^3``.
    """
    c = coordination_weight(r, omega)
    d = tau + alpha + beta
    return c * c * beta * (tau + alpha) / ((1.0 - r + c) * d**3)


def quadratic_misreport_cost(delta: float) -> float:
    """Expected cost of reporting view + delta under the quadratic score: ``delta^2`` (the cross term has
    mean zero because the view is the conditional mean)."""
    return float(delta) ** 2


def spearman_from_pearson(rho: float | np.ndarray) -> float | np.ndarray:
    """Population Spearman correlation of a bivariate normal with Pearson rho: ``(6/pi) arcsin(rho/2)``
    (Pearson 1907; Kruskal 1958). Turns Pearson closed forms into Rank IC known answers."""
    return 6.0 / np.pi * np.arcsin(np.asarray(rho) / 2.0)


def linear_signal_pearson(kx: float, ky: float, alpha: float, beta_eff: float, theta_var: float) -> float:
    """Pearson correlation of ``kx * xbar + ky * y`` with theta, xbar having noise precision ``beta_eff``
    (``beta`` for one follower; ``beta / (rho + (1 - rho)/n)`` for the mean of n followers' signals)."""
    s = kx + ky
    var = s * s * theta_var + kx * kx / beta_eff + ky * ky / alpha
    return float(s * theta_var / np.sqrt(var * theta_var))


def aggregate_rank_ic(kx: float, ky: float, alpha: float, beta: float, n: int, theta_var: float,
                      rho: float = 0.0) -> float:
    """Population Rank IC of the equal-weight mean of n linear reports ``kx x_i + ky y`` (Gaussian market).

    The mean is ``kx xbar + ky y``; its Pearson IC follows from ``linear_signal_pearson`` and the Rank IC from
    ``spearman_from_pearson``. Efficiency at a profile = this at the profile / this at truth.
    """
    beta_eff = beta / (rho + (1.0 - rho) / n)
    return float(spearman_from_pearson(linear_signal_pearson(kx, ky, alpha, beta_eff, theta_var)))


def sign_agreement(rho: float) -> float:
    """``P(sign X = sign Y) = 1/2 + arcsin(rho) / pi`` for a centred bivariate normal (Sheppard 1899)."""
    return 0.5 + float(np.arcsin(rho)) / np.pi


def views_correlation(alpha: float, beta: float, theta_var: float, rho: float = 0.0) -> float:
    """Correlation of two followers' views (same coefficients on own x and the shared y).

    With m = kx x + ky y and kx/ky = beta/alpha: Cov = (kx+ky)^2 var(theta) + kx^2 rho/beta + ky^2/alpha,
    Var = (kx+ky)^2 var(theta) + kx^2/beta + ky^2/alpha (the scale of k cancels).
    """
    kx, ky = beta, alpha
    s2 = (kx + ky) ** 2 * theta_var
    return (s2 + kx * kx * rho / beta + ky * ky / alpha) / (s2 + kx * kx / beta + ky * ky / alpha)


def correlated_agreement_truthful_pay(alpha: float, beta: float, theta_var: float, n_stocks: int,
                                      rho: float = 0.0) -> float:
    """Expected correlated-agreement pay of truth against truthful peers, median-binarised Gaussian views.

    Agreement on a shared stock is ``1/2 + arcsin(q)/pi`` (q = ``views_correlation``, Sheppard); with a median
    split the penalty over distinct stock pairs is ``1/2 - a/(n-1)`` for agreement excess a, so the pay is
    ``a n / (n - 1)`` with ``a = arcsin(q) / pi`` (up to the O(1/sqrt n) error of the sample median).
    """
    a = float(np.arcsin(views_correlation(alpha, beta, theta_var, rho))) / np.pi
    return a * n_stocks / (n_stocks - 1.0)
