import numpy as np
import pytest

from mass_env.errors import ActionError
from mass_env.game.aggregation import aggregate, normalise_weights, type_moments
from mass_env.game.mechanism import ActionCodec, PrincipalAction, apply_inertia, turnover


def _reference(X, at, d, alpha):
    """Per-stock loop: every agent that looked counts with its type's weight."""
    w = np.asarray(d, float)[at]
    out = []
    for i in range(X.shape[1]):
        ok = np.isfinite(X[:, i])
        if not ok.any():
            out.append((np.nan, np.nan, np.nan))
            continue
        ww = w[ok] / w[ok].sum()
        mu = (ww * X[ok, i]).sum()
        sd = np.sqrt((ww * (X[ok, i] - mu) ** 2).sum())
        out.append((mu, sd, alpha * mu - (1 - alpha) * sd))
    return np.array(out).T


def test_agent_rule_matches_definition(rng):
    at = np.repeat(np.arange(4), 3)
    X = rng.uniform(-1, 1, (12, 9))
    X[rng.random(X.shape) < 0.4] = np.nan
    X[:, 0] = np.nan  # nobody looked at stock 0
    d = np.array([0.5, 1.0, 2.0, 0.1])
    agg = aggregate(type_moments(X, at, 4), d, 0.3)
    mu, sd, s = _reference(X, at, d, 0.3)
    np.testing.assert_allclose(agg.consensus, mu, atol=1e-11)
    np.testing.assert_allclose(agg.disagreement, sd, atol=1e-11)
    np.testing.assert_allclose(agg.signal, s, atol=1e-11)
    assert np.isnan(agg.signal[0])


def test_missing_is_not_zero(rng):
    at = np.array([0, 1])
    looked = np.array([[1.0, 1.0], [np.nan, 0.0]])
    agg = aggregate(type_moments(looked, at, 2), [1, 1], 0.5)
    assert agg.consensus[0] == 1.0 and agg.disagreement[0] == 0.0  # one opinion: no disagreement
    assert agg.consensus[1] == 0.5 and agg.disagreement[1] == 0.5


def test_invariances(rng):
    at = np.repeat(np.arange(3), 4)
    X = rng.uniform(-1, 1, (12, 8))
    m = type_moments(X, at, 3)
    d = np.array([1.0, 2.0, 3.0])
    a1 = aggregate(m, d, 0.4)
    np.testing.assert_allclose(aggregate(m, 7.5 * d, 0.4).signal, a1.signal)  # scale-free
    np.testing.assert_allclose(aggregate(m, d, 1.0).signal, a1.consensus)  # alpha=1 -> consensus
    np.testing.assert_allclose(aggregate(m, d, 0.0).signal, -a1.disagreement)
    batch = aggregate(m, np.stack([d, d[::-1]]), np.array([0.4, 0.9]))
    np.testing.assert_allclose(batch.signal[0], a1.signal)
    np.testing.assert_allclose(batch.signal[1], aggregate(m, d[::-1], 0.9).signal)


def test_mass_rule_uses_type_means(rng):
    at = np.array([0, 0, 1])
    X = np.array([[1.0, 0.0], [0.0, np.nan], [1.0, 1.0]])
    agg = aggregate(type_moments(X, at, 2), [1, 1], 0.5, rule="mass")
    # stock 0: type means 0.5 and 1 -> mean 0.75, std 0.25; stock 1: type means 0 and 1
    np.testing.assert_allclose(agg.consensus, [0.75, 0.5])
    np.testing.assert_allclose(agg.disagreement, [0.25, 0.5])


@pytest.mark.parametrize("bad", [[1.0, np.nan, 1.0], [1.0, -0.1, 1.0], [0.0, 0.0, 0.0], [1.0, 1.0]])
def test_bad_weights_raise(bad):
    with pytest.raises(ActionError):
        normalise_weights(bad, 3)
    if len(bad) == 3:
        with pytest.raises(ActionError):
            PrincipalAction(np.asarray(bad))


@pytest.mark.parametrize("alpha,lam", [(1.5, 0.0), (-0.1, 0.0), (np.nan, 0.0), (0.5, -1.0), (0.5, np.inf)])
def test_bad_alpha_lambda_raise(alpha, lam):
    with pytest.raises(ActionError):
        PrincipalAction(np.ones(3), alpha, lam)


def test_wrong_signal_shape_raises():
    with pytest.raises(ActionError):
        type_moments(np.zeros((5, 4)), np.zeros(6, int), 2)
    with pytest.raises(ActionError):
        type_moments(np.zeros((2, 4)), np.array([0, 3]), 2)


def test_turnover_and_inertia():
    assert turnover([1, 0], [0, 1]) == pytest.approx(1.0)
    assert turnover([2, 2], [1, 1]) == pytest.approx(0.0)  # on normalised weights
    np.testing.assert_allclose(apply_inertia([1, 0], [0, 1], 1.0), [0.5, 0.5])
    np.testing.assert_allclose(apply_inertia([1, 0], [0, 1], 0.0), [1.0, 0.0])


def test_codec_round_trip_and_zero_fallback():
    c = ActionCodec(3, inertia_max=2.0, encoding="simplex")
    a = c.decode(np.array([0.2, 0.2, 0.6, 0.3, 0.5]))
    np.testing.assert_allclose(a.normalised, [0.2, 0.2, 0.6])
    assert a.alpha == pytest.approx(0.3) and a.inertia == pytest.approx(1.0)
    np.testing.assert_allclose(c.encode(a), [0.2, 0.2, 0.6, 0.3, 0.5], atol=1e-7)
    z = c.decode(np.zeros(5))
    np.testing.assert_allclose(z.normalised, np.full(3, 1 / 3))
    assert c.zero_weight_fallbacks == 1
    with pytest.raises(ActionError):
        c.decode(np.array([np.nan, 0, 0, 0, 0]))
    with pytest.raises(ActionError):
        c.decode(np.zeros(4))
    c.reset_counts()
    assert c.zero_weight_fallbacks == 0
    with pytest.raises(ActionError, match="encoding"):
        ActionCodec(3, encoding="logits")


def test_symmetric_codec_zero_is_neutral_and_round_trips():
    c = ActionCodec(3, inertia_max=2.0)
    assert c.space.low.min() == -1.0 and c.space.high.max() == 1.0
    z = c.decode(np.zeros(5))  # the zero action: equal weights, alpha 0.5, no inertia
    np.testing.assert_allclose(z.normalised, np.full(3, 1 / 3))
    assert z.alpha == 0.5 and z.inertia == 0.0
    assert c.decode(np.r_[0, 0, 0, 0, -1.0]).inertia == 0.0  # negative inertia coordinate: none
    a = PrincipalAction(np.array([0.2, 0.2, 0.6]), 0.3, 1.0)
    b = c.decode(c.encode(a))
    np.testing.assert_allclose(b.normalised, a.normalised, atol=1e-6)
    assert b.alpha == pytest.approx(0.3, abs=1e-6) and b.inertia == pytest.approx(1.0, abs=1e-6)
    extreme = c.decode(np.r_[1.0, -1.0, -1.0, 0, 0])
    assert extreme.normalised[0] > 0.99  # the box reaches (almost) all weight on one type
    assert c.clipped_values == 0
    c.decode(np.r_[7.0, 1, 1, 1.7, 0])  # out of range: clipped, counted (two values)
    assert c.clipped_values == 2
    with pytest.raises(ActionError, match="strict"):
        ActionCodec(3, strict=True).decode(np.r_[7.0, 1, 1, 0, 0])


def test_moments_do_not_depend_on_agent_order(rng):
    at = np.repeat(np.arange(4), 3)
    X = rng.uniform(-1, 1, (12, 6))
    X[rng.random(X.shape) < 0.3] = np.nan
    grouped = type_moments(X, at, 4)  # contiguous types: segment sums
    perm = rng.permutation(12)
    shuffled = type_moments(X[perm], at[perm], 4)  # interleaved types: general path
    for a, b in zip((grouped.count, grouped.total, grouped.total_sq),
                    (shuffled.count, shuffled.total, shuffled.total_sq)):
        np.testing.assert_allclose(a, b, atol=1e-12)


@pytest.mark.parametrize("rule", ["agent", "mass", "selection_rate"])
def test_a_prepared_basis_weighs_like_a_per_day_loop(rng, rule):
    """``WeighingBasis`` (what scoring windows re-weigh thousands of times) gives, for a population of
    candidates over several days at once, what aggregating each (candidate, day) alone gives."""
    from mass_env.game.aggregation import TypeMoments, WeighingBasis

    L, A, N, K, P = 4, 12, 9, 3, 5
    agent_type = np.repeat(np.arange(K), A // K)
    x = np.where(rng.random((L, A, N)) < 0.6, rng.uniform(-1, 1, (L, A, N)), np.nan)
    mom = type_moments(x, agent_type, K)
    w, a = rng.random((P, K)) + 0.05, rng.random(P)
    got = aggregate(WeighingBasis.of(mom, rule), w, a)
    for p in range(P):
        for day in range(L):
            one = aggregate(TypeMoments(mom.count[day], mom.total[day], mom.total_sq[day]), w[p], float(a[p]), rule)
            for name in ("consensus", "disagreement", "signal"):
                np.testing.assert_allclose(getattr(got, name)[p, day], getattr(one, name), atol=1e-12, equal_nan=True)
