"""Tests for the sensitivity statistics (mrd.stats.sensitivity): background, LoB, LoD, calls."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats

from mrd.stats import (
    NO_BACKGROUND,
    Background,
    MrdCall,
    SensitivitySettings,
    assess_marker,
    detection_probability,
    detection_threshold,
    exact_interval,
    limit_of_blank,
    limit_of_detection,
    planning_lod,
    pooled_assessment,
)

MC_SAMPLES = 2000
MC_TOLERANCE = 3.0 * math.sqrt(0.95 * 0.05 / MC_SAMPLES)  # three Monte Carlo standard errors


def simulate(
    rng: np.random.Generator, n: int, depth: int, vaf: float, background: Background
) -> np.ndarray:
    """Alt counts of `n` samples under the documented model.

    Tumour units are binomial at the VAF; every other unit errs at the sample's own error rate,
    drawn from the background's beta distribution.
    """
    if background.is_binomial:
        error_rate = np.full(n, background.mu)
    else:
        theta = background.rho / (1.0 - background.rho)
        error_rate = rng.beta(background.mu / theta, (1.0 - background.mu) / theta, size=n)
    tumour = rng.binomial(depth, vaf, size=n)
    return tumour + rng.binomial(depth - tumour, error_rate)


def log_uniform(low: float, high: float) -> st.SearchStrategy[float]:
    return st.floats(math.log10(low), math.log10(high)).map(lambda x: 10.0**x)


MUS = log_uniform(1e-7, 1e-2)
RHOS = st.one_of(st.just(0.0), log_uniform(1e-7, 1e-2))
DEPTHS = st.integers(10, 10**6)


# --- Poisson limit and LoB ----------------------------------------------------------------------


@pytest.mark.parametrize("depth", [10**3, 10**4, 10**5, 10**6])
def test_lod_without_background_is_the_poisson_limit(depth: int) -> None:
    lod = limit_of_detection(depth, NO_BACKGROUND)
    assert lod * depth == pytest.approx(3.0, rel=0.02)
    # Exactly: 1 - (1 - f)^N = 0.95.
    assert lod == pytest.approx(1.0 - 0.05 ** (1.0 / depth), rel=1e-6)
    assert limit_of_blank(depth, NO_BACKGROUND) == 0


def test_lod_is_the_smallest_vaf_reaching_the_power() -> None:
    background = Background(2e-5, 1e-4)
    depth = 200_000
    lob = limit_of_blank(depth, background)
    lod = limit_of_detection(depth, background)
    assert detection_probability(lod, depth, background, lob) >= 0.95
    assert detection_probability(lod * (1 - 1e-6), depth, background, lob) < 0.95


@pytest.mark.parametrize(
    ("depth", "mu"), [(100, 0.01), (10_000, 1e-4), (123_457, 3e-5), (10**6, 1e-3), (10**6, 1e-7)]
)
def test_lob_of_a_binomial_background_is_scipys_ppf(depth: int, mu: float) -> None:
    assert limit_of_blank(depth, Background(mu)) == int(stats.binom.ppf(0.95, depth, mu))


@settings(max_examples=60, deadline=None)
@given(depth=DEPTHS, mu=MUS, q=st.floats(0.5, 0.999))
def test_binomial_quantile_matches_scipy(depth: int, mu: float, q: float) -> None:
    assert Background(mu).quantile(depth, q) == int(stats.binom.ppf(q, depth, mu))


@pytest.mark.parametrize(("depth", "mu", "rho"), [(500, 0.01, 0.05), (5000, 1e-3, 1e-3)])
def test_betabinomial_matches_scipy_where_scipy_is_accurate(
    depth: int, mu: float, rho: float
) -> None:
    background = Background(mu, rho)
    a, b = mu * (1 - rho) / rho, (1 - mu) * (1 - rho) / rho
    ks = np.arange(0, 60)
    np.testing.assert_allclose(
        background.pmf(depth, 59), stats.betabinom.pmf(ks, depth, a, b), rtol=1e-9
    )
    for q in (0.5, 0.9, 0.95, 0.99):
        assert background.quantile(depth, q) == int(stats.betabinom.ppf(q, depth, a, b))
    for k in (0, 1, 3, 10, 40):
        assert background.sf(k, depth) == pytest.approx(
            float(stats.betabinom.sf(k - 1, depth, a, b)), rel=1e-8, abs=1e-15
        )


def test_far_tail_p_values_are_summed_not_subtracted() -> None:
    depth, mu, rho = 2000, 1e-3, 1e-3
    background = Background(mu, rho)
    a, b = mu * (1 - rho) / rho, (1 - mu) * (1 - rho) / rho
    k = 100
    reference = float(stats.betabinom.pmf(np.arange(k, depth + 1), depth, a, b).sum())
    assert 0.0 < reference < 1e-17  # 1 - cdf would round this to 0
    assert background.sf(k, depth) == pytest.approx(reference, rel=1e-6)


def test_tiny_overdispersion_approaches_the_binomial_smoothly() -> None:
    depth, mu = 10**6, 1e-4
    binomial = Background(mu).pmf(depth, 300)
    for rho in (1e-16, 1e-20):
        np.testing.assert_allclose(Background(mu, rho).pmf(depth, 300), binomial, rtol=1e-6)
    assert Background(mu, 1e-14).quantile(depth, 0.95) == Background(mu).quantile(depth, 0.95)
    # P(X = 0) = prod_j (1 - mu + j theta) / (1 + j theta): its log exceeds the binomial's by
    # ~ theta n (n - 1) / 2 * mu / (1 - mu) (5e-5 here), which scipy's betabinom cannot resolve.
    rho = 1e-12
    theta = rho / (1 - rho)
    expected = theta * depth * (depth - 1) / 2 * mu / (1 - mu)
    got = math.log(Background(mu, rho).pmf(depth, 0)[0] / binomial[0])
    assert got == pytest.approx(expected, rel=1e-3)


def test_sf_is_the_p_value_of_the_observed_count() -> None:
    background = Background(1e-4)
    assert background.sf(0, 10_000) == 1.0
    assert background.sf(3, 10_000) == pytest.approx(float(stats.binom.sf(2, 10_000, 1e-4)))
    assert background.sf(10_001, 10_000) == 0.0
    assert NO_BACKGROUND.sf(1, 10_000) == 0.0


# --- Background fit -----------------------------------------------------------------------------


def simulate_panel(
    rng: np.random.Generator, depth: np.ndarray, mu: float, rho: float
) -> np.ndarray:
    if rho == 0.0:
        return rng.binomial(depth, mu)
    theta = rho / (1.0 - rho)
    return rng.binomial(depth, rng.beta(mu / theta, (1.0 - mu) / theta, size=depth.size))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fit_recovers_a_known_betabinomial(seed: int) -> None:
    rng = np.random.default_rng(seed)
    depth = rng.integers(2000, 20_000, size=200)
    alt = simulate_panel(rng, depth, 1e-3, 5e-4)
    fitted = Background.fit(alt.tolist(), depth.tolist(), source="panel-of-normals")
    assert fitted.mu == pytest.approx(1e-3, rel=0.2)
    assert fitted.rho == pytest.approx(5e-4, rel=0.5)
    assert fitted.n_samples == 200
    assert fitted.label == "panel-of-normals (n=200)"


def test_fit_of_binomial_data_gives_small_rho() -> None:
    rng = np.random.default_rng(7)
    depth = rng.integers(2000, 20_000, size=200)
    fitted = Background.fit(simulate_panel(rng, depth, 1e-3, 0.0), depth)
    assert fitted.mu == pytest.approx(1e-3, rel=0.1)
    assert fitted.rho < 1e-4  # overdispersed panels above had 5e-4
    assert fitted.variance(10_000) < 2.0 * Background(fitted.mu).variance(10_000)


def test_zero_count_panel_never_claims_zero_error() -> None:
    fitted = Background.fit([0] * 12, [5000] * 12)
    assert fitted.mu == pytest.approx(0.5 / 60_001)
    assert fitted.rho == 0.0
    assert fitted.n_samples == 12
    # One alt unit in a blank at that depth is then not automatically significant.
    assert fitted.sf(1, 5000) > 0.03


def test_fit_without_depth_falls_back_to_the_prior() -> None:
    assert Background.fit([], [], prior_mu=2e-6).mu == 2e-6
    assert Background.fit([0, 0], [0, 0]).n_samples == 0


def test_fit_rejects_impossible_counts() -> None:
    with pytest.raises(ValueError):
        Background.fit([5], [3])
    with pytest.raises(ValueError):
        Background.fit([1, 2], [10])


@pytest.mark.parametrize(("mu", "rho"), [(-1e-3, 0.0), (1.0, 0.0), (1e-3, 1.0), (math.nan, 0.0)])
def test_background_rejects_invalid_parameters(mu: float, rho: float) -> None:
    with pytest.raises(ValueError):
        Background(mu, rho)


# --- Monotonicity -------------------------------------------------------------------------------


@settings(max_examples=80, deadline=None)
@given(
    vafs=st.tuples(st.floats(0.0, 1.0), st.floats(0.0, 1.0)).map(sorted),
    depth=DEPTHS,
    mu=MUS,
    rho=RHOS,
)
def test_detection_probability_rises_with_vaf(
    vafs: list[float], depth: int, mu: float, rho: float
) -> None:
    background = Background(mu, rho)
    lob = limit_of_blank(depth, background)
    low, high = (detection_probability(v, depth, background, lob) for v in vafs)
    assert 0.0 <= low <= high + 1e-12 <= 1.0 + 1e-12


@settings(max_examples=60, deadline=None)
@given(depth=DEPTHS, extra=st.integers(1, 10**6), mu=MUS, rho=RHOS)
def test_lod_falls_with_depth_at_a_fixed_lob(depth: int, extra: int, mu: float, rho: float) -> None:
    background = Background(mu, rho)
    lob = limit_of_blank(depth, background)
    shallow = limit_of_detection(depth, background, lob=lob)
    deep = limit_of_detection(depth + extra, background, lob=lob)
    assert deep <= shallow * (1 + 1e-7)


@settings(max_examples=60, deadline=None)
@given(depth=st.integers(10, 250_000), factor=st.floats(2.0, 4.0), mu=MUS, rho=RHOS)
def test_lod_falls_with_depth(depth: int, factor: float, mu: float, rho: float) -> None:
    # The LoB is a whole count, so between neighbouring depths the LoD is a saw-tooth; across a
    # doubling of depth the fall always wins.
    background = Background(mu, rho)
    deeper = int(depth * factor)
    assert limit_of_detection(deeper, background) <= limit_of_detection(depth, background) * (
        1 + 1e-7
    )


@settings(max_examples=60, deadline=None)
@given(depth=DEPTHS, factor=st.floats(4.0, 100.0), mu=log_uniform(1e-7, 1e-3), rho=RHOS)
def test_lod_rises_with_the_error_rate(depth: int, factor: float, mu: float, rho: float) -> None:
    # In the background-limited regime: at least one expected error per sample and a LoB of at
    # least 1. Below it (rare errors, or errors so overdispersed that most blanks show none) the
    # LoB stays at 0 and more errors only help reach it, so the LoD may even fall a little.
    depth = max(depth, math.ceil(1.0 / mu))
    assume(limit_of_blank(depth, Background(mu, rho)) >= 1)
    low = limit_of_detection(depth, Background(mu, rho))
    high = limit_of_detection(depth, Background(mu * factor, rho))
    assert high >= low * (1 - 1e-7)


def test_lod_tracks_the_background_at_depth() -> None:
    # Deep data: the errors add to blank and sample alike, so the LoD (a tumour VAF) is about
    # 2 x 1.645 standard deviations of the blank count, plus a few units for discreteness.
    depth, mu = 10**6, 1e-4
    lod = limit_of_detection(depth, Background(mu))
    spread = 3.29 * math.sqrt(mu * depth)
    assert spread <= lod * depth <= spread + 5
    assert limit_of_detection(depth, Background(mu, 1e-3)) > 3 * lod


# --- Exact interval -----------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(data=st.data(), depth=st.integers(1, 10**6), level=st.sampled_from([0.8, 0.95, 0.99]))
def test_exact_interval_is_clopper_pearson(data: st.DataObject, depth: int, level: float) -> None:
    alt = data.draw(st.integers(0, depth))
    low, high = exact_interval(alt, depth, level)
    assert low <= alt / depth <= high
    reference = stats.binomtest(alt, depth).proportion_ci(confidence_level=level, method="exact")
    # binomtest finds the ends by root search (absolute tolerance ~1e-12); ours are beta quantiles.
    assert low == pytest.approx(reference.low, rel=1e-7, abs=1e-11)
    assert high == pytest.approx(reference.high, rel=1e-7, abs=1e-11)
    # The definition: each end leaves (1 - level) / 2 of the binomial tail beyond the count.
    tail = (1 - level) / 2
    if alt > 0:
        assert stats.binom.sf(alt - 1, depth, low) == pytest.approx(tail, rel=1e-6)
    if alt < depth:
        assert stats.binom.cdf(alt, depth, high) == pytest.approx(tail, rel=1e-6)


def test_exact_interval_edges() -> None:
    assert exact_interval(0, 0) == (0.0, 1.0)
    assert exact_interval(0, 100)[0] == 0.0
    assert exact_interval(100, 100)[1] == 1.0
    with pytest.raises(ValueError):
        exact_interval(5, 4)


# --- Calibration (Monte Carlo) ------------------------------------------------------------------

CALIBRATION = [
    (10_000, Background(1e-4)),
    (100_000, Background(2e-5, 1e-4)),
    (50_000, Background(1e-3, 1e-5)),
    (1_000_000, Background(1e-5, 1e-6)),
]


@pytest.mark.parametrize(("depth", "background"), CALIBRATION)
def test_blanks_exceed_the_lob_at_most_5_percent(depth: int, background: Background) -> None:
    rng = np.random.default_rng(20240601)
    blanks = simulate(rng, MC_SAMPLES, depth, 0.0, background)
    lob = limit_of_blank(depth, background)
    assert np.mean(blanks > lob) <= 0.05 + MC_TOLERANCE


@pytest.mark.parametrize(("depth", "background"), CALIBRATION)
def test_samples_at_the_lod_are_detected_95_percent(depth: int, background: Background) -> None:
    rng = np.random.default_rng(20240602)
    lob = limit_of_blank(depth, background)
    lod = limit_of_detection(depth, background)
    samples = simulate(rng, MC_SAMPLES, depth, lod, background)
    assert np.mean(samples > lob) >= 0.95 - MC_TOLERANCE
    # ... and the LoD is not needlessly high: at half of it, detection is clearly below 95%.
    half = simulate(rng, MC_SAMPLES, depth, lod / 2, background)
    assert np.mean(half > lob) < 0.95 - MC_TOLERANCE


@pytest.mark.parametrize(("depth", "background"), CALIBRATION)
def test_assessed_lod_holds_for_the_call_rule(depth: int, background: Background) -> None:
    rng = np.random.default_rng(20240603)
    negative = assess_marker(0, depth, background)
    samples = simulate(rng, MC_SAMPLES, depth, negative.lod, background)
    called = [assess_marker(int(a), depth, background).detected for a in np.unique(samples)]
    detected = dict(zip(np.unique(samples).tolist(), called, strict=True))
    assert np.mean([detected[int(a)] for a in samples]) >= 0.95 - MC_TOLERANCE
    assert all(detected[a] == (a >= negative.alt_threshold) for a in detected)


# --- Calls --------------------------------------------------------------------------------------


def test_positive() -> None:
    result = assess_marker(50, 100_000, Background(1e-5), unit="molecules")
    assert result.call is MrdCall.POSITIVE
    assert result.vaf == 5e-4
    assert result.vaf_ci_low < 5e-4 < result.vaf_ci_high
    assert result.p_value < 1e-30
    assert result.unit == "molecules"
    assert result.lob_vaf == result.lob / 100_000


def test_positive_below_loq() -> None:
    result = assess_marker(6, 100_000, Background(1e-5))
    assert result.lob < 6 < SensitivitySettings().loq_min_alt
    assert result.call is MrdCall.POSITIVE_BELOW_LOQ


def test_negative_states_the_sensitivity_reached() -> None:
    result = assess_marker(0, 100_000, NO_BACKGROUND)
    assert result.call is MrdCall.NEGATIVE
    # min_alt = 2 by default: two mutant molecules needed, Poisson lambda 4.74.
    assert result.lod == pytest.approx(4.74 / 100_000, rel=0.01)
    assert result.lod_one_in == pytest.approx(100_000 / 4.74, rel=0.01)
    assert result.alt_threshold == 2


def test_not_evaluable_when_the_sample_is_too_shallow() -> None:
    result = assess_marker(0, 10_000, NO_BACKGROUND)
    assert result.lod > 1e-4
    assert result.call is MrdCall.NOT_EVALUABLE
    lenient = SensitivitySettings(required_sensitivity=1e-3)
    assert assess_marker(0, 10_000, NO_BACKGROUND, lenient).call is MrdCall.NEGATIVE


def test_not_evaluable_without_depth() -> None:
    result = assess_marker(0, 0, Background(1e-4, source="sample"))
    assert result.call is MrdCall.NOT_EVALUABLE
    assert result.lod == math.inf
    assert result.lod_one_in is None
    as_json = json.dumps(result.as_dict(), allow_nan=False)
    assert json.loads(as_json)["call"] == "NOT_EVALUABLE"
    assert json.loads(as_json)["background_source"] == "sample"


def test_single_unit_is_not_a_detection_by_default() -> None:
    result = assess_marker(1, 100_000, NO_BACKGROUND)
    assert result.p_value == 0.0  # impossible without errors ...
    assert result.call is MrdCall.NEGATIVE  # ... but min_alt = 2 keeps one stray unit negative
    assert assess_marker(1, 100_000, NO_BACKGROUND, SensitivitySettings(min_alt=1)).detected


def test_alpha_can_veto_a_count_above_the_lob() -> None:
    background, depth = Background(1e-4), 100_000
    lob = limit_of_blank(depth, background)
    assert assess_marker(lob + 1, depth, background).detected
    strict = SensitivitySettings(alpha=1e-6)
    result = assess_marker(lob + 1, depth, background, strict)
    assert not result.detected
    assert result.alt_threshold > lob + 1
    assert detection_threshold(depth, background, strict) == result.alt_threshold


def test_calls_reject_impossible_counts() -> None:
    with pytest.raises(ValueError):
        assess_marker(11, 10, NO_BACKGROUND)
    with pytest.raises(ValueError):
        assess_marker(-1, 10, NO_BACKGROUND)
    with pytest.raises(ValueError):
        SensitivitySettings(alpha=0.0)


# --- Pooled test --------------------------------------------------------------------------------


def test_pooled_markers_below_their_lobs_are_significant_together() -> None:
    backgrounds = [
        Background(2e-5, source="pon"),
        Background(3e-5, 1e-5, source="pon"),
        Background(1e-5, source="sample"),
    ]
    depth = 100_000
    markers = []
    for background in backgrounds:
        lob = limit_of_blank(depth, background)
        markers.append((lob, depth, background))
        assert not assess_marker(lob, depth, background).detected
    pooled = pooled_assessment(markers, unit="molecules")
    assert pooled.call in (MrdCall.POSITIVE, MrdCall.POSITIVE_BELOW_LOQ)
    assert pooled.alt == sum(m[0] for m in markers)
    assert pooled.depth == 3 * depth
    assert pooled.vaf == pooled.alt / pooled.depth
    assert pooled.lod < min(assess_marker(0, depth, b).lod for b in backgrounds)
    assert pooled.background_source == "pon; sample"
    assert pooled.unit == "molecules"


def test_pooling_binomial_markers_is_exact() -> None:
    # A sum of binomials with one rate is a binomial on the summed depth.
    background = Background(3e-5)
    markers = [(4, 50_000, background), (2, 70_000, background), (5, 30_000, background)]
    pooled = pooled_assessment(markers)
    assert pooled.p_value == pytest.approx(float(stats.binom.sf(10, 150_000, 3e-5)), rel=1e-9)
    assert pooled.lob == limit_of_blank(150_000, background)
    # The pool leaves T - 1 units per marker (not in total) out of the error opportunities, a
    # deliberately conservative shortcut: the LoD may only come out a hair higher.
    single = limit_of_detection(150_000, background, lob=pooled.alt_threshold - 1)
    assert single <= pooled.lod <= single * (1 + 1e-3)


def test_pooled_lob_is_calibrated() -> None:
    rng = np.random.default_rng(11)
    markers = [(0, 80_000, Background(2e-5, 1e-4)), (0, 20_000, Background(1e-4, 1e-3))]
    lob = pooled_assessment(markers).lob
    blanks = sum(simulate(rng, MC_SAMPLES, d, 0.0, b) for _, d, b in markers)
    assert np.mean(blanks > lob) <= 0.05 + MC_TOLERANCE
    assert np.mean(blanks >= lob) > 0.05 - MC_TOLERANCE  # and it is the 95th percentile


def test_pooled_needs_markers() -> None:
    with pytest.raises(ValueError):
        pooled_assessment([])


# --- Planning -----------------------------------------------------------------------------------


def test_planning_from_dna_input() -> None:
    plan = planning_lod(input_ng=10.0)
    assert plan["genome_equivalents"] == pytest.approx(3030, rel=0.001)
    assert plan["molecules"] == plan["genome_equivalents"]
    assert plan["poisson_lod"] == pytest.approx(3.0 / 3030, rel=0.01)
    assert plan["lod"] == max(plan["poisson_lod"], plan["background_lod"])
    assert plan["lod_one_in"] == pytest.approx(1.0 / plan["lod"])


def test_planning_takes_the_scarcer_of_dna_and_reads() -> None:
    plan = planning_lod(depth=100_000, input_ng=100.0, family_size=5.0)
    assert plan["molecules"] == 20_000  # reads limit: 30,303 GE in the tube
    duplex = planning_lod(depth=100_000, input_ng=100.0, family_size=5.0, duplex=True)
    assert duplex["molecules"] == 10_000
    assert math.isnan(planning_lod(depth=5000)["genome_equivalents"])


def test_planning_with_background_and_min_alt() -> None:
    clean = planning_lod(depth=100_000)
    noisy = planning_lod(depth=100_000, background=Background(1e-4))
    assert noisy["background_lod"] > 2 * noisy["poisson_lod"]
    assert noisy["lod"] == noisy["background_lod"]
    assert clean["lod"] == pytest.approx(3.0 / 100_000, rel=0.01)
    two = planning_lod(depth=100_000, min_alt=2)
    assert two["poisson_lod"] == pytest.approx(4.74 / 100_000, rel=0.01)
    assert two["background_lod"] == pytest.approx(
        assess_marker(0, 100_000, NO_BACKGROUND).lod, rel=1e-6
    )


def test_planning_rejects_nothing_to_plan() -> None:
    with pytest.raises(ValueError):
        planning_lod()
    with pytest.raises(ValueError):
        planning_lod(depth=3, family_size=5.0)
