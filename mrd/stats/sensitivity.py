"""How low one sample could see, and the MRD call for one marker (or a pool of markers).

Everything here works on counts of *units*: molecules (UMI families) when the library has UMIs, else
reads. The caller decides the unit and passes counts; PCR duplicates are not evidence, so a caller
with UMIs must count families, not reads.

The model, in one place:

* **Background.** At a marker position a sample without the mutation still shows some alt units
  (sequencing, PCR and damage errors). Each sample has its own error rate ``E`` drawn from a beta
  distribution with mean ``mu`` and overdispersion ``rho`` (``rho = 0``: every sample has rate
  ``mu``), and its alt count is ``Binomial(depth, E)``, i.e. beta-binomial overall (as in
  deepSNV/shearwater). ``Var = n mu (1-mu) [1 + (n-1) rho]``.
* **Limit of blank (LoB).** The upper 95% quantile of the alt count of a blank at this depth (the
  CLSI EP17 idea, expressed as a count because counts are what we observe).
* **Detection.** An alt count is a detection when it exceeds the LoB, is improbable under the
  background (``p < alpha``) and reaches a minimum number of alt units. The smallest such count is
  the *alt threshold* of the sample.
* **Limit of detection (LoD95).** The smallest VAF whose probability of reaching the alt threshold
  is at least 95%. Tumour units are sampled binomially at the true VAF; the remaining units can
  still err at the sample's (beta-distributed) error rate. The LoD therefore includes both the
  Poisson sampling limit (``3 / N`` at 95% when the background is zero) and the background limit.
* **Call.** Detected with enough alt units for a stable level: POSITIVE; detected with few:
  POSITIVE_BELOW_LOQ ("positive, not quantifiable"); not detected and the LoD reaches the required
  sensitivity: NEGATIVE; not detected otherwise: NOT_EVALUABLE ("negative, insufficient
  sensitivity").

Because the LoB is an integer, the LoD is a saw-tooth in depth and in ``mu``: when one more unit of
depth lifts the LoB by one count, one more alt unit is needed and the LoD steps up before it keeps
falling; and while a background is so low that its LoB stays at 0, more errors even help reach
that LoB. The trend (LoD ~ ``3.3 sqrt(mu / depth)`` plus a few units over the depth for deep data,
``3 / depth`` without background) is what planning should use; the exact value is what a report
states.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import scipy  # submodules load on first use: scipy.stats and .signal cost 70 MiB and 1.5 s
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

GENOME_EQUIVALENTS_PER_NG = 1000.0 / 3.3
"""Haploid genome equivalents in one ng of human DNA (3.3 pg per haploid genome, ~303 per ng)."""

LOD_FLOOR = 1e-9
"""Lowest VAF the LoD search considers; a LoD reported at this value means "at least this low"."""

_STIRLING_MIN = 1e3
"""Above this argument, log-gamma differences use Stirling's series to avoid cancellation."""

_FFT_MIN = 2048
"""Convolutions of pmfs longer than this use FFT (O(n log n)) instead of the direct sum."""

_FFT_NOISE = 1e-14
"""Terms of an FFT convolution below this fraction of its largest term are set to 0 (pooled
p-values below ~1e-15 therefore come out as 0)."""

_TAIL_EPS = 1e-12
"""An upper-tail sum stops once what may lie beyond its window is this small relative to it."""

_SUBTRACT_MIN = 1e-3
"""A p-value above this is taken as 1 - cdf (absolute error ~1e-9 at depth 10^6, so a relative
error below 1e-6); a smaller one is summed over the tail itself."""

_LOG10_XTOL = 1e-10
"""Tolerance of the LoD root search, in log10(VAF): a relative error of about 2e-10."""

_RHO_MAX = 1.0 - 1e-9
"""Largest overdispersion a fit may return (rho = 1 would be a point mass at 0 or n)."""

_JEFFREYS = 0.5
"""Pseudo-count added to the alt total of a panel with no alt unit at all."""


# --------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------


def _one_in(lod: float) -> float | None:
    if not math.isfinite(lod) or lod <= 0.0:
        return None
    return 1.0 / lod


def _check_probability(value: float, name: str) -> None:
    if not (0.0 < value < 1.0):
        raise ValueError(f"{name} must be in (0, 1), got {value!r}")


def _check_depth(depth: int) -> int:
    if depth < 0:
        raise ValueError(f"depth must be >= 0, got {depth!r}")
    return int(depth)


def _check_counts(alt: int, depth: int) -> None:
    if depth < 0 or alt < 0 or alt > depth:
        raise ValueError(f"need 0 <= alt <= depth, got alt={alt!r}, depth={depth!r}")


# --------------------------------------------------------------------------------------------
# Background error model
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Background:
    """Per-site error model: beta-binomial with mean `mu` and overdispersion `rho` (0 = binomial).

    A background is what a sample without the mutation shows at the marker position. It decides
    how many alt units a sample needs before they mean anything, so every report names where it
    came from (`source`) and how many samples it rests on (`n_samples`).

    Attributes:
        mu: Mean error rate per unit (alt units per unit of depth), in [0, 1). ``0`` means no
            error at all: then only Poisson sampling limits the sensitivity.
        rho: Overdispersion (intra-class correlation) in [0, 1): how much the error rate varies
            from sample to sample. ``0`` gives the binomial.
        source: Where the model comes from, e.g. ``"panel-of-normals"``, ``"sample (non-marker
            positions)"`` or ``"none"``.
        n_samples: How many samples the fit used (0 when the model was not fitted).
    """

    mu: float
    rho: float = 0.0
    source: str = "none"
    n_samples: int = 0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.mu) and 0.0 <= self.mu < 1.0):
            raise ValueError(f"background mu must be in [0, 1), got {self.mu!r}")
        if not (math.isfinite(self.rho) and 0.0 <= self.rho < 1.0):
            raise ValueError(f"background rho must be in [0, 1), got {self.rho!r}")
        if self.n_samples < 0:
            raise ValueError(f"background n_samples must be >= 0, got {self.n_samples!r}")

    @property
    def is_binomial(self) -> bool:
        """True when the error count is binomial (no overdispersion, or no error at all)."""
        return self.rho == 0.0 or self.mu == 0.0

    @property
    def label(self) -> str:
        """The source with the number of samples, as a report shows it."""
        if self.n_samples > 0 and "(n=" not in self.source:
            return f"{self.source} (n={self.n_samples})"
        return self.source

    @classmethod
    def fit(
        cls,
        alt: Sequence[int] | NDArray[Any],
        depth: Sequence[int] | NDArray[Any],
        *,
        source: str = "panel-of-normals",
        prior_mu: float = 1e-6,
    ) -> Background:
        """Fit mu and rho by the method of moments from per-sample (alt, depth) of normals.

        The estimator is Kleinman's (1973) weighted method of moments for proportions with unequal
        denominators: the mean is the weighted mean of ``alt / depth`` and rho solves
        ``E[sum w_i (p_i - p)^2] = sum w_i (1 - w_i / W) Var(p_i)``; the weights are then set to
        the inverse variances ``depth / (1 + (depth - 1) rho)`` and the two steps repeated until
        rho settles. It is closed-form (no optimiser to fail), unbiased for the mean, and
        consistent for rho. A negative moment estimate of rho (less spread than binomial) is
        reported as 0.

        A panel with no alt unit at all would give ``mu = 0``, a model that claims errors never
        happen and would call a single alt unit significant at any depth. Such a panel gets a
        Jeffreys-style pseudo-count instead: ``mu = (0 + 0.5) / (total depth + 1)``. Once the panel
        shows any alt unit the plain estimate is used, since the pseudo-count would only add bias.

        Args:
            alt: Alt units at the site in each normal sample.
            depth: Units (depth) at the site in each normal sample, same order.
            source: Name of the panel, kept for the report.
            prior_mu: The error rate used when the panel has no depth at all (no samples, or all
                depths 0); it is then the only information there is.

        Returns:
            The fitted background; ``n_samples`` counts samples with depth > 0.

        Raises:
            ValueError: When the two sequences differ in length or hold impossible counts.
        """
        alts = np.asarray(alt, dtype=np.float64)
        depths = np.asarray(depth, dtype=np.float64)
        if alts.shape != depths.shape or alts.ndim != 1:
            raise ValueError("alt and depth must be two sequences of the same length")
        if np.any(alts < 0) or np.any(depths < 0) or np.any(alts > depths):
            raise ValueError("every sample needs 0 <= alt <= depth")
        keep = depths > 0
        alts, depths = alts[keep], depths[keep]
        n = int(alts.size)
        if n == 0:
            return cls(mu=prior_mu, rho=0.0, source=source, n_samples=0)
        total_alt, total_depth = float(alts.sum()), float(depths.sum())
        if total_alt == 0.0:
            mu0 = _JEFFREYS / (total_depth + 2.0 * _JEFFREYS)
            return cls(mu=mu0, rho=0.0, source=source, n_samples=n)
        if total_alt == total_depth:
            # Every unit is alt: not a background. Keep mu below 1 the same way as above.
            mu1 = 1.0 - _JEFFREYS / (total_depth + 2.0 * _JEFFREYS)
            return cls(mu=mu1, rho=0.0, source=source, n_samples=n)
        mu, rho = _moment_fit(alts, depths)
        return cls(mu=mu, rho=rho, source=source, n_samples=n)

    def pmf(self, depth: int, kmax: int) -> FloatArray:
        """P(X = k) under the null for k = 0..kmax (zeros past `depth`).

        Computed in log space with a cancellation-free log-gamma difference, so deep sites
        (depth ~ 10^6) and tiny rho stay accurate and approach the binomial smoothly as rho -> 0.
        """
        return _pmf_upto(depth, self, kmax)

    def quantile(self, depth: int, q: float) -> int:
        """Upper `q`-quantile of the alt count under the null at this depth.

        The smallest k with P(X <= k) >= q, the definition of ``scipy.stats`` ``ppf``.
        """
        _check_probability(q, "q")
        return _NullSum([(_check_depth(depth), self)]).quantile(q)

    def sf(self, k: int, depth: int) -> float:
        """P(X >= k) under the null: the p-value of observing `k` alt units at this depth.

        Note that this is ``P(X >= k)``, not scipy's ``sf`` (``P(X > k)``), because a p-value
        includes the observed count. Small tails are summed directly, not as ``1 - cdf``.
        """
        return _NullSum([(_check_depth(depth), self)]).sf(int(k))

    def mean(self, depth: int) -> float:
        """Expected alt count under the null at this depth."""
        return depth * self.mu

    def variance(self, depth: int) -> float:
        """Variance of the alt count under the null: ``n mu (1-mu) [1 + (n-1) rho]``."""
        if depth <= 0:
            return 0.0
        return depth * self.mu * (1.0 - self.mu) * (1.0 + (depth - 1) * self.rho)

    def as_dict(self) -> dict[str, Any]:
        """The model as written to JSON."""
        return {
            "mu": self.mu,
            "rho": self.rho,
            "source": self.source,
            "n_samples": self.n_samples,
        }


NO_BACKGROUND = Background(0.0, source="none")
"""A model without errors: the sensitivity is then limited by Poisson sampling only."""


def _moment_fit(alts: FloatArray, depths: FloatArray) -> tuple[float, float]:
    """Kleinman's iterated weighted moment estimates of (mu, rho); see :meth:`Background.fit`."""
    props = alts / depths
    rho = 0.0
    mu = float(alts.sum() / depths.sum())
    for _ in range(100):
        weights = depths / (1.0 + (depths - 1.0) * rho)
        total = float(weights.sum())
        mu = float(np.dot(weights, props) / total)
        if alts.size < 2 or mu <= 0.0 or mu >= 1.0:
            return mu, 0.0
        spread = float(np.dot(weights, (props - mu) ** 2))
        h = weights * (1.0 - weights / total)
        binomial_part = float(np.sum(h / depths))
        extra_part = float(np.sum(h * (depths - 1.0) / depths))
        if extra_part <= 0.0:  # every sample has depth 1: rho is not identifiable
            return mu, 0.0
        estimate = (spread / (mu * (1.0 - mu)) - binomial_part) / extra_part
        new_rho = min(max(estimate, 0.0), _RHO_MAX)
        converged = abs(new_rho - rho) <= 1e-12 + 1e-9 * rho
        rho = new_rho
        if converged:
            break
    weights = depths / (1.0 + (depths - 1.0) * rho)
    mu = float(np.dot(weights, props) / weights.sum())
    return mu, rho


# --------------------------------------------------------------------------------------------
# Null distributions (one site, or a sum of independent sites)
# --------------------------------------------------------------------------------------------

_Component = tuple[int, Background]
"""One site under the null: its depth and its background."""


def _log_rising(x: float, m: FloatArray) -> FloatArray:
    """Log of the rising factorial x (x+1) ... (x+m-1) = lnG(x+m) - lnG(x), for x > 0, m >= 0.

    For large x the plain difference of two log-gammas loses all precision (both are ~x log x);
    Stirling's series written as ``(x - 1/2) log1p(m/x) + m log(x+m) - m + ...`` has no such
    cancellation. Its truncation error for x >= 1000 is below 1e-18.
    """
    if x < _STIRLING_MIN:
        return np.asarray(scipy.special.gammaln(x + m) - scipy.special.gammaln(x), dtype=np.float64)
    y = x + m
    correction = -m / (12.0 * x * y) + (1.0 / (360.0 * x**3) - 1.0 / (360.0 * y**3))
    return np.asarray((x - 0.5) * np.log1p(m / x) + m * np.log(y) - m + correction)


def _betabinom_logpmf(k: FloatArray, n: int, mu: float, rho: float) -> FloatArray:
    """Beta-binomial log pmf with a = mu / theta, b = (1 - mu) / theta, theta = rho / (1 - rho).

    Written as log C(n, k) + log rising(a, k) + log rising(b, n - k) - log rising(a + b, n) so it
    stays exact when a and b are huge (rho tiny), where ``scipy.stats.betabinom`` loses precision.
    """
    theta = rho / (1.0 - rho)
    a, b = mu / theta, (1.0 - mu) / theta
    log_choose = (
        scipy.special.gammaln(n + 1.0)
        - scipy.special.gammaln(k + 1.0)
        - scipy.special.gammaln(n - k + 1.0)
    )
    total = _log_rising(a + b, np.array([float(n)]))[0]
    return np.asarray(log_choose + _log_rising(a, k) + _log_rising(b, n - k) - total)


def _pmf_upto(depth: int, background: Background, kmax: int) -> FloatArray:
    """Null pmf of one site for k = 0..kmax (zeros where k > depth)."""
    out = np.zeros(max(kmax, 0) + 1, dtype=np.float64)
    top = min(kmax, depth)
    if top < 0:
        return out
    k = np.arange(top + 1, dtype=np.float64)
    if background.is_binomial:
        out[: top + 1] = scipy.stats.binom.pmf(k, depth, background.mu)
    else:
        out[: top + 1] = np.exp(_betabinom_logpmf(k, depth, background.mu, background.rho))
    return out


def _convolve(x: FloatArray, y: FloatArray, length: int) -> FloatArray:
    """First `length` terms of the convolution of two pmfs (FFT when long; negatives clipped)."""
    if min(x.size, y.size) <= 1 or max(x.size, y.size) < _FFT_MIN:
        full = np.convolve(x, y)
    else:
        # FFT rounding leaves noise of ~1e-16 of the largest term everywhere; zero what is
        # indistinguishable from it, so tails end instead of trailing off in noise.
        full = scipy.signal.fftconvolve(x, y)
        full[full < _FFT_NOISE * float(full.max())] = 0.0
    out = np.zeros(length, dtype=np.float64)
    take = min(length, full.size)
    out[:take] = full[:take]
    return out


class _NullSum:
    """The null distribution of the total alt count over independent sites (one site or a pool).

    The pmf of the sum is the exact convolution of the per-site pmfs, computed up to the largest
    count any question needs and kept: the pmf up to K does not depend on how far it was
    computed, so one array answers the LoB, the alpha quantile, the threshold search and the
    p-value of one assessment.
    """

    def __init__(self, components: Iterable[_Component]) -> None:
        self.components = tuple((max(int(d), 0), b) for d, b in components)
        self.total = sum(d for d, _ in self.components)
        self.mean = sum(b.mean(d) for d, b in self.components)
        self.var = sum(b.variance(d) for d, b in self.components)
        live = [(d, b) for d, b in self.components if d > 0 and b.mu > 0.0]
        self._live = live
        # One binomial site: scipy's exact (Boost) quantile and tail routines apply directly.
        self._binomial = live[0] if len(live) == 1 and live[0][1].is_binomial else None
        self._pmf = np.ones(1, dtype=np.float64) if not live else np.zeros(0, dtype=np.float64)

    def pmf_upto(self, kmax: int) -> FloatArray:
        """P(S = k) for k = 0..kmax (zeros past the total depth)."""
        kmax = max(kmax, 0)
        if self._pmf.size <= min(kmax, self.total) and self._live:
            # Grow geometrically so a sequence of widening questions costs O(final size).
            size = min(max(kmax, 2 * self._pmf.size), self.total)
            result: FloatArray | None = None
            for depth, background in self._live:
                pmf = _pmf_upto(depth, background, size)
                result = pmf if result is None else _convolve(result, pmf, size + 1)
            assert result is not None
            self._pmf = result
        out = np.zeros(kmax + 1, dtype=np.float64)
        take = min(kmax + 1, self._pmf.size)
        out[:take] = self._pmf[:take]
        return out

    def quantile(self, q: float) -> int:
        """Smallest k with P(S <= k) >= q.

        The pmf is computed up to Cantelli's bound ``mean + sd sqrt(q / (1 - q))``, beyond which
        at most ``1 - q`` of the mass can lie, so the search range is guaranteed to hold the
        quantile however heavy the beta-binomial tail is.
        """
        if not self._live:
            return 0
        if self._binomial is not None:
            return int(scipy.stats.binom.ppf(q, self._binomial[0], self._binomial[1].mu))
        kmax = min(self.total, math.ceil(self.mean + math.sqrt(self.var * q / (1.0 - q))) + 1)
        cdf = np.cumsum(self.pmf_upto(kmax))
        return min(int(np.searchsorted(cdf, q, side="left")), kmax)

    def sf(self, k: int) -> float:
        """P(S >= k), accurate in the far upper tail too."""
        if k <= 0:
            return 1.0
        if k > self.total or not self._live:
            return 0.0
        if self._binomial is not None:
            return float(scipy.stats.binom.sf(k - 1, self._binomial[0], self._binomial[1].mu))
        below = float(self.pmf_upto(k - 1).sum())
        if 1.0 - below > _SUBTRACT_MIN:
            return min(max(1.0 - below, 0.0), 1.0)
        # Small upper tail: sum it directly (1 - cdf would round small p-values to 0). Past the
        # median the pmf falls, so widen the window until its last term no longer matters.
        width = max(64, math.ceil(math.sqrt(self.var)))
        while True:
            kmax = min(self.total, k + width)
            pmf = self.pmf_upto(kmax)
            tail = float(pmf[k:].sum())
            # What lies beyond, if the pmf keeps falling at least as fast as at the window's end.
            ratio = pmf[-1] / pmf[-2] if pmf[-2] > 0.0 else 0.0
            beyond = pmf[-1] * ratio / (1.0 - ratio) if ratio < 1.0 else math.inf
            if kmax == self.total or beyond <= _TAIL_EPS * tail:
                return min(max(tail, 0.0), 1.0)
            width *= 4


def _threshold(
    null: _NullSum, *, lob_quantile: float, alpha: float, min_alt: int
) -> tuple[int, int]:
    """The LoB and the alt threshold (smallest alt count that is a detection) of a test.

    A count k is a detection when ``k > LoB``, ``P(S >= k) < alpha`` and ``k >= min_alt``. The
    p-value falls with k, so the detections are exactly the counts from the threshold up.
    Returns ``total depth + 1`` as the threshold when no possible count is a detection.
    """
    lob = null.quantile(lob_quantile)
    # P(S >= q + 1) <= alpha for the (1 - alpha)-quantile q, so the threshold is at least there.
    threshold = max(lob + 1, null.quantile(1.0 - alpha) + 1, min_alt, 1)
    while threshold <= null.total and null.sf(threshold) >= alpha:
        threshold += 1
    return lob, min(threshold, null.total + 1)


# --------------------------------------------------------------------------------------------
# Detection probability and LoD
# --------------------------------------------------------------------------------------------


class _Detection:
    """P(alt count >= threshold) as a function of the true VAF, for one site or a pool.

    Generative model: the tumour units are ``M ~ Binomial(N, vaf)`` (N = total depth: the same VAF
    at every pooled site adds up to one binomial); the other units err at the sample's own error
    rate, a beta-binomial count ``E``. Then ``P(M + E >= T) = P(M >= T) + sum_{m<T} P(M = m)
    P(E >= T - m)``. ``E`` is taken on ``depth - (T - 1)`` units per site instead of
    ``depth - m``: fewer error opportunities, so the detection probability is never overstated
    (the difference is at most T - 1 units out of the depth). With ``mu = 0`` the formula is
    exactly binomial. The error part does not depend on the VAF and is computed once.
    """

    def __init__(self, components: Sequence[_Component], threshold: int) -> None:
        self.depth = sum(max(depth, 0) for depth, _ in components)
        self.threshold = threshold
        last = max(threshold - 1, 0)
        self._m = np.arange(last + 1, dtype=np.float64)
        reduced = [(max(depth - last, 0), background) for depth, background in components]
        cdf = np.minimum(np.cumsum(_NullSum(reduced).pmf_upto(last)), 1.0)
        # _errors_reach[m] = P(E >= T - m) = 1 - P(E <= T - 1 - m), for m = 0..T-1.
        self._errors_reach = (1.0 - cdf)[::-1].copy()
        self._errors_matter = bool(np.any(self._errors_reach > 0.0))

    def probability(self, vaf: float) -> float:
        """P(alt >= threshold) when the true VAF is `vaf`."""
        if self.threshold <= 0:
            return 1.0  # every count, 0 included, passes
        if self.threshold > self.depth:
            return 0.0  # more alt units than units: no VAF reaches it
        f = min(max(float(vaf), 0.0), 1.0)
        if f < 1e-300:  # subnormal rates overflow scipy's binomial; they are 0 to any precision
            f = 0.0
        last = self.threshold - 1
        p = float(scipy.stats.binom.sf(last, self.depth, f))
        if self._errors_matter:
            p += float(np.dot(scipy.stats.binom.pmf(self._m, self.depth, f), self._errors_reach))
        return min(max(p, 0.0), 1.0)

    def lod(self, power: float) -> float:
        """Smallest VAF in [LOD_FLOOR, 1] whose detection probability is >= `power`.

        Root search (Brent) on ``log10(vaf)``; the result is rounded up by the search tolerance so
        the detection probability at the returned VAF is at least `power`.
        """
        if self.depth == 0:
            return math.inf
        if self.probability(1.0) < power:
            return 1.0
        low = math.log10(LOD_FLOOR)
        if self.probability(LOD_FLOOR) >= power:
            return LOD_FLOOR

        def gap(x: float) -> float:
            return self.probability(10.0**x) - power

        root = float(scipy.optimize.brentq(gap, low, 0.0, xtol=_LOG10_XTOL, rtol=1e-14))
        vaf = min(float(10.0 ** (root + 2.0 * _LOG10_XTOL)), 1.0)
        step = 1e-9
        while self.probability(vaf) < power and vaf < 1.0:  # numerical safety; rarely runs
            vaf = min(vaf * (1.0 + step), 1.0)
            step *= 2.0
        return vaf


def limit_of_blank(depth: int, background: Background, *, quantile: float = 0.95) -> int:
    """LoB as a count: the 95th percentile of alt counts in a blank at this depth (CLSI EP17 idea).

    A count, not a VAF, because what a blank shows is a whole number of alt units: at 10^4 units
    and ``mu = 10^-5`` a blank shows 0 alt units 90% of the time and the LoB is 1.

    Args:
        depth: Units at the site.
        background: Error model of the site.
        quantile: Which upper quantile of the blank distribution is the LoB.

    Returns:
        The smallest count k with P(blank alt <= k) >= `quantile`; 0 at depth 0.
    """
    _check_probability(quantile, "quantile")
    return background.quantile(_check_depth(depth), quantile)


def detection_probability(vaf: float, depth: int, background: Background, lob: int) -> float:
    """P(alt count > LoB) when the true VAF is `vaf`.

    Model (a choice, documented because it shapes every LoD): tumour units are binomial at the true
    VAF; the other units err at the sample's own error rate, drawn from the background's beta
    distribution, i.e. the overdispersion applies to the errors, not to the tumour signal. With
    ``rho = 0`` this is ``Binomial(depth, vaf + (1 - vaf) mu)``; applying ``rho`` to the tumour
    signal as well would make deep samples look far less sensitive than they are. The error count
    is evaluated on ``depth - lob`` units instead of the exact ``depth - (tumour units)``, which
    can only understate the probability (conservative), and by a negligible amount.

    Args:
        vaf: True variant allele fraction (clipped to [0, 1]).
        depth: Units at the site.
        background: Error model of the site.
        lob: The LoB count; a detection is a count above it.

    Returns:
        The detection probability in [0, 1]; 0 at depth 0.
    """
    depth = _check_depth(depth)
    return _Detection([(depth, background)], max(int(lob), -1) + 1).probability(vaf)


def limit_of_detection(
    depth: int, background: Background, *, lob: int | None = None, power: float = 0.95
) -> float:
    """LoD95 as a VAF: the smallest VAF whose detection probability is >= `power`.

    The detection probability rises monotonically with the VAF, so Brent's method on
    ``log10(vaf)`` between ``LOD_FLOOR`` (1e-9) and 1 finds it; the result is rounded up so the
    stated power is met. Without background the answer is the Poisson limit, ~3 / depth.

    Args:
        depth: Units at the site.
        background: Error model of the site.
        lob: The LoB count a detection must exceed; computed from the background (95th
            percentile) when None. Pass a higher count (e.g. ``min_alt - 1``) to get the LoD of
            a stricter rule.
        power: Required detection probability.

    Returns:
        The LoD as a VAF. ``1.0`` when even a VAF of 1 cannot reach the power (the LoB is at or
        above the depth): no level of disease would be seen, and 1.0 is the honest "cannot
        exclude anything". ``math.inf`` at depth 0, where a VAF is not even defined. ``LOD_FLOOR``
        when the background alone already exceeds the LoB with the required power (only possible
        with a `lob` below the background's own LoB).
    """
    _check_probability(power, "power")
    depth = _check_depth(depth)
    if depth == 0:
        return math.inf
    if lob is None:
        lob = limit_of_blank(depth, background)
    return _Detection([(depth, background)], max(int(lob), -1) + 1).lod(power)


def exact_interval(alt: int, depth: int, level: float = 0.95) -> tuple[float, float]:
    """Clopper-Pearson (exact binomial) confidence interval of ``alt / depth``.

    Exact rather than Wilson/Wald because MRD levels sit at a handful of alt units, where the
    approximations undercover. Endpoints come from beta quantiles.

    Args:
        alt: Alt units.
        depth: Units at the site.
        level: Confidence level.

    Returns:
        (low, high); (0, 1) at depth 0.
    """
    _check_probability(level, "level")
    _check_counts(alt, depth)
    if depth == 0:
        return 0.0, 1.0
    tail = (1.0 - level) / 2.0
    low = 0.0 if alt == 0 else float(scipy.stats.beta.ppf(tail, alt, depth - alt + 1))
    high = 1.0 if alt == depth else float(scipy.stats.beta.ppf(1.0 - tail, alt + 1, depth - alt))
    return low, high


# --------------------------------------------------------------------------------------------
# Calls
# --------------------------------------------------------------------------------------------


class MrdCall(str, enum.Enum):
    """The MRD result categories of the acute-leukemia MRD consensus."""

    POSITIVE = "POSITIVE"
    """Detected, with enough alt units for a level that can be quantified."""
    POSITIVE_BELOW_LOQ = "POSITIVE_BELOW_LOQ"
    """Detected, but too few alt units for a stable level ("positive, not quantifiable")."""
    NEGATIVE = "NEGATIVE"
    """Not detected, and the sample was sensitive enough to say so."""
    NOT_EVALUABLE = "NOT_EVALUABLE"
    """Not detected, but the sample could not reach the required sensitivity."""


@dataclass(frozen=True)
class SensitivitySettings:
    """The thresholds of an MRD call; all configurable defaults a lab may change.

    Attributes:
        required_sensitivity: The LoD (VAF) a sample must reach for a NEGATIVE; a sample that
            sees nothing but cannot reach it is NOT_EVALUABLE. 1e-4 is the MRD target quoted for
            NGS-MRD assays.
        alpha: A detection needs ``P(alt >= observed | background) < alpha``.
        lob_quantile: Which upper quantile of blank counts is the LoB.
        power: Detection probability that defines the LoD (0.95: LoD95).
        loq_min_alt: Fewer alt units than this is POSITIVE_BELOW_LOQ: with k counted units the
            Poisson coefficient of variation is ~1/sqrt(k), 0.32 at 10; below that a level is
            not a stable quantity. Configurable default.
        min_alt: At least this many alt units for any detection, so a single stray unit is never
            called positive. Configurable default.
    """

    required_sensitivity: float = 1e-4
    alpha: float = 0.05
    lob_quantile: float = 0.95
    power: float = 0.95
    loq_min_alt: int = 10
    min_alt: int = 2

    def __post_init__(self) -> None:
        if not (0.0 < self.required_sensitivity <= 1.0):
            raise ValueError("required_sensitivity must be in (0, 1]")
        _check_probability(self.alpha, "alpha")
        _check_probability(self.lob_quantile, "lob_quantile")
        _check_probability(self.power, "power")
        if self.loq_min_alt < 1 or self.min_alt < 1:
            raise ValueError("loq_min_alt and min_alt must be >= 1")

    def as_dict(self) -> dict[str, Any]:
        """The settings as written to JSON, so a result says how it was made."""
        return asdict(self)


DEFAULT_SETTINGS = SensitivitySettings()
"""The default thresholds (see :class:`SensitivitySettings`)."""


@dataclass(frozen=True)
class MarkerAssessment:
    """What one marker (or a pool of markers) in one sample shows, and how low it could see.

    Attributes:
        alt: Alt units observed.
        depth: Units at the site (sum over sites for a pool).
        unit: What a unit is: ``"molecules"`` (UMI families), ``"reads"``, ...
        vaf: ``alt / depth`` (NaN at depth 0).
        vaf_ci_low: Lower end of the exact 95% interval of the VAF.
        vaf_ci_high: Upper end of the exact 95% interval of the VAF.
        lob: Limit of blank, as a count.
        lob_vaf: ``lob / depth``.
        lod: LoD (VAF) of this sample under its detection rule; ``inf`` at depth 0.
        lod_one_in: ``1 / lod``: "negative down to 1 in N"; None when the LoD is infinite.
        p_value: ``P(alt >= observed | background)``.
        call: The MRD category.
        background_source: Where the background model came from.
        alt_threshold: Fewest alt units this sample would call a detection (LoB, alpha and
            min_alt combined); ``depth + 1`` when no count could be.
    """

    alt: int
    depth: int
    unit: str
    vaf: float
    vaf_ci_low: float
    vaf_ci_high: float
    lob: int
    lob_vaf: float
    lod: float
    lod_one_in: float | None
    p_value: float
    call: MrdCall
    background_source: str
    alt_threshold: int

    @property
    def detected(self) -> bool:
        """True for both positive categories."""
        return self.call in (MrdCall.POSITIVE, MrdCall.POSITIVE_BELOW_LOQ)

    def as_dict(self) -> dict[str, Any]:
        """The assessment as JSON-ready values (non-finite numbers become None)."""
        out: dict[str, Any] = {}
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, MrdCall):
                value = value.value
            elif isinstance(value, float) and not math.isfinite(value):
                value = None
            out[field.name] = value
        return out


def detection_threshold(
    depth: int, background: Background, settings: SensitivitySettings = DEFAULT_SETTINGS
) -> int:
    """Fewest alt units that this depth and background would call a detection.

    Combines the three rules of :func:`assess_marker` (above the LoB, ``p < alpha``, at least
    ``min_alt``). The LoD of a sample is computed for this threshold, so the sensitivity a report
    states is that of the rule it applies (with ``min_alt = 2`` and no background the LoD is
    ~4.74 / depth, not 3 / depth).
    """
    return _threshold(
        _NullSum([(_check_depth(depth), background)]),
        lob_quantile=settings.lob_quantile,
        alpha=settings.alpha,
        min_alt=settings.min_alt,
    )[1]


def assess_marker(
    alt: int,
    depth: int,
    background: Background,
    settings: SensitivitySettings = DEFAULT_SETTINGS,
    *,
    unit: str = "reads",
) -> MarkerAssessment:
    """Assess one marker in one sample: level, interval, LoB, LoD and the MRD call.

    Rules:
        * POSITIVE: ``alt > LoB``, ``p < alpha``, ``alt >= min_alt`` and ``alt >= loq_min_alt``.
        * POSITIVE_BELOW_LOQ: the same but ``alt < loq_min_alt`` (detected, not quantifiable).
        * NEGATIVE: not detected and ``LoD <= required_sensitivity``.
        * NOT_EVALUABLE: not detected and ``LoD > required_sensitivity`` (the sample cannot
          reach the required sensitivity), and always at depth 0.

    The LoD is that of the detection rule actually applied (its alt threshold), so a NEGATIVE
    means a disease level at the stated LoD would have been called with >= `power` probability.

    Args:
        alt: Alt units observed.
        depth: Units at the site.
        background: Error model of the site.
        settings: Thresholds of the call.
        unit: What the counts count, passed through to the result.

    Returns:
        The assessment.

    Raises:
        ValueError: When ``alt`` or ``depth`` is negative or ``alt > depth``.
    """
    _check_counts(alt, depth)
    return _assess(int(alt), [(int(depth), background)], settings, unit, background.label)


def pooled_assessment(
    markers: Sequence[tuple[int, int, Background]],
    settings: SensitivitySettings = DEFAULT_SETTINGS,
    *,
    unit: str = "reads",
) -> MarkerAssessment:
    """Sample-level test pooling several patient-specific markers (INVAR-style).

    Markers that each sit below their own LoB can, together, be far beyond what the backgrounds
    explain. The test statistic is the total alt count; its null distribution is the exact
    convolution of the per-marker null pmfs (each beta-binomial with its own mu, rho and depth),
    truncated where needed. The pooled VAF is ``sum alt / sum depth`` (the markers are assumed
    to share one tumour fraction), and the LoD is that of the pool: binomial tumour sampling on the
    pooled depth plus the summed backgrounds.

    Args:
        markers: (alt, depth, background) of each marker in the sample.
        settings: Thresholds of the call.
        unit: What the counts count, passed through to the result.

    Returns:
        The assessment of the pool, with ``alt`` and ``depth`` the sums.

    Raises:
        ValueError: With no markers, or impossible counts.
    """
    if not markers:
        raise ValueError("pooled_assessment needs at least one marker")
    for alt, depth, _ in markers:
        _check_counts(alt, depth)
    labels = list(dict.fromkeys(background.label for _, _, background in markers))
    source = labels[0] if len(labels) == 1 else "; ".join(labels)
    components = [(int(depth), background) for _, depth, background in markers]
    return _assess(sum(int(alt) for alt, _, _ in markers), components, settings, unit, source)


def _assess(
    alt: int,
    components: Sequence[_Component],
    settings: SensitivitySettings,
    unit: str,
    source: str,
) -> MarkerAssessment:
    null = _NullSum(components)
    depth = null.total
    if depth == 0:
        return MarkerAssessment(
            alt=alt,
            depth=0,
            unit=unit,
            vaf=math.nan,
            vaf_ci_low=0.0,
            vaf_ci_high=1.0,
            lob=0,
            lob_vaf=math.nan,
            lod=math.inf,
            lod_one_in=None,
            p_value=1.0,
            call=MrdCall.NOT_EVALUABLE,
            background_source=source,
            alt_threshold=1,
        )
    lob, threshold = _threshold(
        null,
        lob_quantile=settings.lob_quantile,
        alpha=settings.alpha,
        min_alt=settings.min_alt,
    )
    p_value = null.sf(alt)
    lod = _Detection(components, threshold).lod(settings.power)
    detected = alt > lob and p_value < settings.alpha and alt >= settings.min_alt
    if detected:
        call = MrdCall.POSITIVE if alt >= settings.loq_min_alt else MrdCall.POSITIVE_BELOW_LOQ
    elif lod <= settings.required_sensitivity:
        call = MrdCall.NEGATIVE
    else:
        call = MrdCall.NOT_EVALUABLE
    low, high = exact_interval(alt, depth)
    return MarkerAssessment(
        alt=alt,
        depth=depth,
        unit=unit,
        vaf=alt / depth,
        vaf_ci_low=low,
        vaf_ci_high=high,
        lob=lob,
        lob_vaf=lob / depth,
        lod=lod,
        lod_one_in=_one_in(lod),
        p_value=p_value,
        call=call,
        background_source=source,
        alt_threshold=threshold,
    )


# --------------------------------------------------------------------------------------------
# Planning
# --------------------------------------------------------------------------------------------


def planning_lod(
    *,
    depth: int | None = None,
    input_ng: float | None = None,
    family_size: float = 1.0,
    background: Background = NO_BACKGROUND,
    duplex: bool = False,
    power: float = 0.95,
    min_alt: int = 1,
) -> dict[str, float]:
    """Expected LoD of an assay before it is run (``mrd lod``): DNA input, depth, background.

    * Genome equivalents: ``input_ng * 303`` (3.3 pg per haploid genome). A molecule that is not
      in the tube cannot be sequenced, however deep.
    * Molecules: ``min(genome equivalents, depth / family_size)`` when both are known; else the
      one that is. ``family_size`` is the mean number of reads per UMI family (1 without UMIs).
      With ``duplex`` a molecule needs a family on *each* strand, so the read-limited molecules
      are halved (``depth / (2 family_size)``); the DNA-limited number is unchanged, since a
      duplex is one double-stranded genome equivalent. Capture and ligation losses are not
      modelled: this is a best case.
    * Poisson LoD: the smallest f with ``P(Poisson(N f) >= min_alt) >= power``; for
      ``min_alt = 1`` this is ``-ln(1 - power) / N``, ~3 / N at 95%.
    * Background LoD: :func:`limit_of_detection` at the molecule count, for a detection above
      the background's LoB and with at least ``min_alt`` alt units.

    Args:
        depth: Reads at the site (or molecules, with ``family_size = 1``).
        input_ng: DNA input in ng.
        family_size: Mean reads per UMI family (>= 1).
        background: Expected error model of the site per molecule.
        duplex: Whether molecules are duplex consensus (both strands required).
        power: Detection probability that defines the LoD.
        min_alt: Alt units the call will require (pass the caller's ``min_alt`` to plan for
            the rule actually applied).

    Returns:
        ``genome_equivalents`` (NaN when no input is given), ``molecules``, ``poisson_lod``,
        ``background_lod``, ``lod`` (the larger of the two) and ``lod_one_in`` (``1 / lod``).

    Raises:
        ValueError: With neither depth nor input, non-positive values, or fewer than one molecule.
    """
    _check_probability(power, "power")
    if depth is None and input_ng is None:
        raise ValueError("planning needs a depth, a DNA input, or both")
    if family_size < 1.0:
        raise ValueError("family_size must be >= 1")
    if min_alt < 1:
        raise ValueError("min_alt must be >= 1")
    candidates: list[float] = []
    genome_equivalents = math.nan
    if input_ng is not None:
        if not (input_ng > 0.0 and math.isfinite(input_ng)):
            raise ValueError("input_ng must be a positive number")
        genome_equivalents = input_ng * GENOME_EQUIVALENTS_PER_NG
        candidates.append(genome_equivalents)
    if depth is not None:
        if depth <= 0:
            raise ValueError("depth must be positive")
        candidates.append(depth / (family_size * (2.0 if duplex else 1.0)))
    molecules = min(candidates)
    units = math.floor(molecules)
    if units < 1:
        raise ValueError(f"fewer than one molecule ({molecules:.3g}): no sensitivity at all")
    poisson_lod = float(scipy.special.gammaincinv(min_alt, power)) / molecules
    threshold = max(limit_of_blank(units, background) + 1, min_alt)
    background_lod = _Detection([(units, background)], threshold).lod(power)
    lod = max(poisson_lod, background_lod)
    return {
        "genome_equivalents": genome_equivalents,
        "molecules": molecules,
        "poisson_lod": poisson_lod,
        "background_lod": background_lod,
        "lod": lod,
        "lod_one_in": 1.0 / lod,
    }
