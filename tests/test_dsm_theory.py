"""The poster's findings on computed curves, the limits of the errors, and bad inputs."""

import mpmath
import pytest

from derivations.dsm.activations import ActivationError
from derivations.dsm.equivalence import EquivalenceError
from derivations.dsm.theory import DSMError, Theory

PSI_N = 2
DPS = 20


@pytest.fixture(scope="module")
def poster():
    """tanh, t = 0.1: the seed's setting."""
    return {m: Theory(m=m, t="0.1", activation="tanh", dps=DPS) for m in ("1", "inf")}


def test_by_hand_limit_large_ridge(poster):
    # lam -> infinity: the score is 0, so E_test = E|grad log P_t|^2 / d = 1 and E_train = 1
    for theory in poster.values():
        record = theory.at(psi_n=PSI_N, psi_p=1, lam="1e8")
        assert abs(record["test_error"] - 1) < 1e-6 and abs(record["train_error"] - 1) < 1e-6
        # L_test = c_t + h E_test with c_t = e^{-2t}
        assert abs(record["dsm_test_loss"] - (mpmath.e ** -0.2 + (1 - mpmath.e ** -0.2) * record["test_error"])) < 1e-15


def test_m1_peak_at_interpolation_threshold_grows_as_lambda_decreases(poster):
    grid = [1, 1.5, 1.8, 2, 2.2, 2.7, 4]
    peaks = []
    for lam in ("1e-2", "1e-3", "1e-4"):
        records = poster["1"].curve(PSI_N, grid, lam)
        tests = [float(r["test_error"]) for r in records]
        peaks.append(max(tests))
        if lam != "1e-2":  # at lam = 1e-2 the bump is broad and its top drifts to psi_p > psi_n
            assert grid[tests.index(max(tests))] == PSI_N, (lam, tests)
    assert peaks[0] < peaks[1] < peaks[2]


def test_minf_single_minimum_below_psi_n(poster):
    grid = [0.125 * 2 ** (k / 2) for k in range(13)]  # 0.125 .. 8
    tests = [float(r["test_error"]) for r in poster["inf"].curve(PSI_N, grid, "1e-3")]
    best = tests.index(min(tests))
    assert grid[best] < PSI_N
    assert all(a > b for a, b in zip(tests[:best], tests[1:best + 1]))  # decreasing, then
    assert all(a < b for a, b in zip(tests[best:], tests[best + 1:]))   # increasing: one minimum


@pytest.mark.parametrize("m", ["1", "inf"])
def test_train_error_decreases_in_psi_p(poster, m):
    grid = [0.25, 0.5, 1, 2, 4, 8, 16]
    trains = [r["train_error"] for r in poster[m].curve(PSI_N, grid, "1e-3")]
    assert all(a > b for a, b in zip(trains, trains[1:]))


def test_memorisation_and_generalisation_with_m(poster):
    at = {m: {psi_p: theory.at(PSI_N, psi_p, "1e-3")["test_error"] for psi_p in (PSI_N / 8, 8 * PSI_N)}
          for m, theory in poster.items()}
    assert at["inf"][8 * PSI_N] > at["1"][8 * PSI_N]   # p >> n: memorisation grows with m
    assert at["inf"][PSI_N / 8] < at["1"][PSI_N / 8]   # n >> p: generalisation improves with m


def test_structured_split_adds_up():
    theory = Theory(m="1", t="0.5", activation="tanh", psi_d="0.5", dps=DPS)
    record = theory.at(psi_n=1, psi_p=2, lam="0.1")
    with mpmath.workdps(DPS):
        assert abs(record["test_error_parallel"] + record["test_error_orthogonal"] - record["test_error"]) < 1e-18
    # large ridge: parallel part -> psi_d, orthogonal part -> (1 - psi_d)/h
    big = theory.at(psi_n=1, psi_p=2, lam="1e9")
    h = 1 - mpmath.e ** -1
    assert abs(big["test_error_parallel"] - 0.5) < 1e-6 and abs(big["test_error_orthogonal"] - 0.5 / h) < 1e-6


def test_minf_ridgeless_limit_exists():
    theory = Theory(m="inf", t="0.1", dps=DPS)
    at0 = theory.at(psi_n=PSI_N, psi_p=4, lam=0)["test_error"]
    at_small = theory.at(psi_n=PSI_N, psi_p=4, lam="1e-12")["test_error"]
    assert abs(at0 - at_small) < 1e-9


def test_small_ridge_down_to_1e_15_and_the_ridgeless_limit_at_m_1():
    """m = 1: every lam down to 1e-15 solves (continued from lam = 1 on a log scale). Below the
    interpolation threshold (psi_p < psi_n) the limit lam -> 0+ exists and is offered at lam = 0; the
    approach to it is analytic, f(lam) - f(0) ~ c lam, so two decades of lam move it by a factor 100."""
    theory = Theory(m=1, t="0.1", dps=DPS)
    under = {lam: theory.at(psi_n=2, psi_p="0.5", lam=lam) for lam in ("0", "1e-15", "1e-7", "1e-5")}
    over = theory.at(psi_n=2, psi_p=4, lam="1e-15")
    for lam, record in under.items():
        assert record["certificate"] == "proven" and record["test_error_digits"] >= DPS - 2, lam
    # |R| ~ 1/lam = 1e15 above the threshold: the ball solves lose digits, fewer are proven, none is wrong
    assert over["certificate"] == "proven" and over["test_error_digits"] >= 10
    f = {lam: r["test_error"] for lam, r in under.items()}
    assert abs(f["1e-15"] - f["0"]) < 1e-13
    ratio = (f["1e-5"] - f["0"]) / (f["1e-7"] - f["0"])
    assert 90 < ratio < 110, ratio
    # above the threshold the training error interpolates: ~ lam^2, not 0, at lam = 1e-15
    assert 0 < over["train_error"] < 1e-24


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(m="1", t="0"), (DSMError, EquivalenceError), "t must be positive"),
        (dict(m="1", t="-1"), (DSMError, EquivalenceError), "t must be positive"),
        (dict(m="0"), DSMError, "m must be a positive integer or 'inf'"),
        (dict(m="many"), DSMError, "m must be a positive integer or 'inf'"),
        (dict(m="2.5"), DSMError, "m must be a positive integer"),
        (dict(m="1", psi_d="1.5"), DSMError, "psi_d must be in"),
        (dict(m="1", psi_d="0"), DSMError, "psi_d must be in"),
        (dict(m="1", activation="swish"), ActivationError, "swish"),
        (dict(m="1", activation=lambda x: x * x), ActivationError, "centred"),
    ],
)
def test_bad_model_input(kwargs, error, message):
    with pytest.raises(error, match=message):
        Theory(**{"t": "0.1", **kwargs}, dps=DPS)


@pytest.mark.parametrize(
    "point, message",
    [
        (dict(psi_n=0, psi_p=1, lam="1e-3"), "psi_n must be positive"),
        (dict(psi_n=2, psi_p=-1, lam="1e-3"), "psi_p must be positive"),
        (dict(psi_n=2, psi_p=1, lam="-1e-3"), "lam must be >= 0"),
        (dict(psi_n=2, psi_p=2, lam=0), "lam = 0 with m = 1 at psi_p = 2 >= m psi_n"),
        (dict(psi_n=2, psi_p=3, lam=0), "grows\\s+like 1/lam"),
    ],
)
def test_bad_point(poster, point, message):
    with pytest.raises(DSMError, match=message):
        poster["1"].at(**point)


def test_finite_m_between_one_and_infinity():
    # memorisation grows with m for p >> n, generalisation improves with m for n >> p; m = inf is the limit
    tests = {}
    for m in ("1", "2", "3", "inf"):
        records = Theory(m=m, t="0.1", dps=DPS).curve(PSI_N, [PSI_N / 8, 8 * PSI_N], "1e-3")
        tests[m] = [float(r["test_error"]) for r in records]
    small, large = zip(*(tests[m] for m in ("1", "2", "3", "inf")))
    assert all(a > b for a, b in zip(small, small[1:]))
    assert all(a < b for a, b in zip(large, large[1:]))


# -- certified errors: the acceptance grid of the certification issue -----------------------------------------

ERRORS = ("train_error", "test_error", "dsm_test_loss", "gap")
GRID = [(a, m, t, lam) for a in ("tanh", "erf", "relu") for m in ("1", "2", "inf")
        for t in ("0.01", "1") for lam in ("1e-3", "0.1")]


def _agree_within_certificate(low, high, digits):
    """|v_30 - v_60| within what 'digits' certified digits at dps 30 allow (plus the dps-60 radius)."""
    size = max(abs(high), mpmath.mpf(10) ** -40)
    return abs(low - high) <= 2 * size * mpmath.mpf(10) ** (-digits)


def _check_certified(activation, m, t, lam):
    """Under-, critically and over-parametrised: psi_p = psi_n / 4, psi_n, 4 psi_n (psi_n = 2)."""
    points = ["0.5", "2", "8"]
    lows = Theory(m=m, t=t, activation=activation, dps=30).curve(2, points, lam)
    highs = Theory(m=m, t=t, activation=activation, dps=60).curve(2, points, lam)
    for low, high in zip(lows, highs):
        assert low["certificate"] == "proven" and high["certificate"] == "proven"
        for name in ERRORS:
            assert low[f"{name}_digits"] >= 28, (name, low)
            assert _agree_within_certificate(low[name], high[name], low[f"{name}_digits"]), (name, low, high)
            assert high[f"{name}_digits"] >= 55


@pytest.mark.parametrize("activation, m, t, lam", [GRID[0], GRID[19], GRID[34]])
def test_errors_are_certified_to_28_digits_at_dps_30(activation, m, t, lam):
    _check_certified(activation, m, t, lam)


@pytest.mark.slow
@pytest.mark.parametrize("activation, m, t, lam", GRID)
def test_errors_are_certified_on_the_documented_range(activation, m, t, lam):
    _check_certified(activation, m, t, lam)


def test_certified_records_at_two_precisions_overlap_at_a_tiny_ridge():
    """Two certified enclosures of one number must intersect. At lam = 1e-12, psi_p = 2 psi_n the
    derivatives in lam are ~1e23 beside O(1) errors: once, a ball product dropped the radius of a
    wide Taylor coefficient and dps 20 'certified' a test error of 0.0655 where dps 30 gave 8.09."""
    low = Theory(m=1, t="0.1", dps=20).at(psi_n=2, psi_p=4, lam="1e-12")
    high = Theory(m=1, t="0.1", dps=30).at(psi_n=2, psi_p=4, lam="1e-12")
    for name in ERRORS:
        digits = min(low[f"{name}_digits"], high[f"{name}_digits"])
        assert digits >= 10, (name, low, high)
        assert _agree_within_certificate(low[name], high[name], digits), (name, low[name], high[name])


def test_large_m_approaches_m_infinity_at_rate_one_over_m():
    # the m = inf pencil is a different pencil (no noise samples at all): m (E_m - E_inf) must settle
    # to a constant, the first-order coefficient of the 1/m expansion, as m grows
    point = dict(psi_n=2, psi_p=1, lam="1e-3")
    limit = Theory(m="inf", t="0.1", dps=30).at(**point)
    scaled = {m: Theory(m=m, t="0.1", dps=30).at(**point) for m in (10**5, 10**6)}
    for key in ("train_error", "test_error"):
        a, b = ((scaled[m][key] - limit[key]) * m for m in (10**5, 10**6))
        assert abs(a) > 0.1 and abs(a - b) < 1e-4 * abs(a), key
    assert all(record["test_error_digits"] >= 28 for record in scaled.values())


def test_fresh_noise_loss_tends_to_the_m_infinity_train_error_at_rate_one_over_m():
    # at m = inf the train error is the noise-averaged loss on the training inputs, i.e. the fresh-noise loss;
    # the finite-m value comes from another pencil (the replicated one with the source of U^inf)
    point = dict(psi_n=1, psi_p=2, lam="1e-3")
    limit = Theory(m="inf", t="0.1", dps=30).at(**point)["train_error"]
    scaled = [(Theory(m=m, t="0.1", dps=30, fresh=True).at(**point)["fresh_train_error"] - limit) * m
              for m in (10**5, 10**6)]
    assert abs(scaled[0]) > 0.1 and abs(scaled[0] - scaled[1]) < 1e-4 * abs(scaled[0])
    assert Theory(m="inf", dps=20, fresh=True).at(**point)["fresh_train_error"] == \
        Theory(m="inf", dps=20).at(**point)["train_error"]


def test_fresh_pencil_at_m_1_gives_the_errors_of_the_m_1_pencil():
    # two different pencils (8 blocks without kappa; 11 blocks with Omega split by kappa and the xi source)
    point = dict(psi_n=1, psi_p="0.7", lam="1e-3")
    plain, fresh = Theory(m=1, dps=30).at(**point), Theory(m=1, dps=30, fresh=True).at(**point)
    for key in ("train_error", "test_error", "dsm_test_loss"):
        assert abs(plain[key] - fresh[key]) < mpmath.mpf(10) ** -27 * abs(plain[key]), key
    assert fresh["fresh_train_error_digits"] >= 28 and fresh["certificate"] == "proven"


@pytest.mark.slow
@pytest.mark.parametrize("psi_d", [1, "0.5"])
def test_fresh_noise_loss_against_simulation(psi_d):
    # the real model (true non-linear features), d = 250, 3 seeds: within 3 standard errors + 2 %
    from derivations.dsm.simulation import simulate

    for m, psi_n, psi_p in ((1, 1, 2), (3, 0.5, 4), (2, 1, "0.5")):
        record = Theory(m=m, dps=20, fresh=True, psi_d=psi_d).at(psi_n, psi_p, "1e-2")
        sim = simulate("tanh", 0.1, psi_n, float(psi_p), 1e-2, m, d=250, seeds=3, psi_d=float(psi_d))
        theory, measured = float(record["fresh_train_error"]), sim.fresh_train_error
        assert abs(theory - measured.mean) < 3 * measured.stderr + 0.02 * theory, (m, psi_n, psi_p, theory, measured)


def test_fresh_noise_loss_of_the_law_pencil_agrees_with_the_replicated_pencil():
    # isotropic and subspace data through the pencil of a deterministic C (m = 1, Omega split by kappa, the xi source)
    # against the replicated pencil with its source at m = 1: different pencils, one fresh-noise loss
    for data in ("iso", "subspace:0.5"):
        law = Theory(m=1, dps=30, fresh=True, data=data, law_pencil=True).at(1, 2, "1e-3")
        replicated = Theory(m=1, dps=30, fresh=True, data=data).at(1, 2, "1e-3")
        assert abs(law["fresh_train_error"] - replicated["fresh_train_error"]) < mpmath.mpf(10) ** -27, data
        assert law["fresh_train_error_digits"] >= 28


@pytest.mark.slow
def test_fresh_noise_loss_with_a_two_level_covariance_against_simulation():
    from derivations.dsm.simulation import simulate

    data = "atoms:4@0.3,1@0.7"
    theory = Theory(m=1, dps=20, fresh=True, data=data)
    for psi_n, psi_p in ((1, "0.5"), (1, 2), ("0.5", 4)):
        record = theory.at(psi_n, psi_p, "1e-2")
        sim = simulate("tanh", 0.1, float(psi_n), float(psi_p), 1e-2, 1, d=250, seeds=3, data=data)
        value, measured = float(record["fresh_train_error"]), sim.fresh_train_error
        assert abs(value - measured.mean) < 3 * measured.stderr + 0.02 * value, (psi_n, psi_p, value, measured)
