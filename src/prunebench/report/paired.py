"""Comparisons of an arm with its reference: paired tests where the design is paired, Welch otherwise.

Two arms are *paired* at a pruning ratio when, for every seed both finished, they pruned the same base
model (same base run id): the seed's base is then a shared block, and the per-seed differences carry
the comparison. A paired design gets two tests of the mean difference:

* the paired t-test: ``t = mean(d) / (sd(d) / sqrt(n))`` with ``n - 1`` degrees of freedom;
* the exact sign-flip permutation test: under "no difference" every ``d_i`` is as likely to have the
  opposite sign, so all ``2**n`` sign patterns are enumerated and ``p`` is the share whose
  ``|sum(d)|`` is at least the observed one. It needs no normality and is exact at any ``n``, but
  ``n`` seeds can never give ``p`` below ``2 / 2**n`` (0.5 with 2 seeds, 0.25 with 3).

The significance mark of a paired comparison follows the paired t-test (the permutation ``p`` is
shown beside it: with 3 seeds it cannot fall below 0.25, so at such n a mark rests on the t-test's
normality assumption, and the report says so); when every seed moved by exactly the same amount the
t statistic is undefined and the permutation ``p`` decides. Arms that do not share their bases get
Welch's unpaired t-test. Every comparison reports the mean difference (arm minus
reference) with a 95% confidence interval, from the t distribution of the test used.
"""
from __future__ import annotations

import math
import statistics
import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np

ALPHA = 0.05
CONFIDENCE = 0.95
MAX_EXACT_N = 20  # 2**20 sign patterns; seeds beyond that are not a pruning study's scale


@dataclass(frozen=True)
class Comparison:
    """One arm against its reference at one pruning ratio.

    ``test`` is ``"paired"`` or ``"welch"``; ``p`` is the p-value that decides significance (the
    paired t-test's, or Welch's) and ``t`` the t statistic; ``p_perm`` is the exact sign-flip
    permutation p of a paired design (None for Welch). ``diff`` is mean(arm) - mean(reference) (for a paired design
    the mean of the per-seed differences), ``ci`` its 95% interval. ``p`` None: ``reason`` says why.
    """

    test: str
    t: float | None
    p: float | None
    n: int = 0
    diff: float | None = None
    ci: tuple[float, float] | None = None
    p_perm: float | None = None
    reason: str | None = None

    @property
    def significant(self) -> bool:
        return self.p is not None and self.p < ALPHA

    def describe(self, scale: float = 100.0, unit: str = " pts") -> str:
        """``diff [ci]`` in display units (percentage points by default) and the p-values."""
        head = ""
        if self.diff is not None:
            head = f"{self.diff * scale:+.2f}{unit}"
            if self.ci is not None:
                head += f" [{self.ci[0] * scale:+.2f}, {self.ci[1] * scale:+.2f}]"
            head += "; "
        if self.p is None:
            return f"{head}{self.test}: n/a ({self.reason})"
        sig = " (significant)" if self.significant else ""
        if self.test == "paired":
            pt = "n/a (no spread)" if self.t is None else f"{self.p:.3g}"
            pp = "n/a" if self.p_perm is None else f"{self.p_perm:.3g}"
            return f"{head}paired n={self.n}: t-test p={pt}, sign-flip p={pp}{sig}"
        return f"{head}Welch: p={self.p:.3g}{sig}"


def _t_quantile(df: float) -> float:
    from scipy.stats import t as t_dist

    return float(t_dist.ppf(0.5 + CONFIDENCE / 2, df))


def _t_p(t: float, df: float) -> float:
    from scipy.stats import t as t_dist

    return float(2.0 * t_dist.sf(abs(t), df))


def sign_flip_p(diffs: Sequence[float]) -> float:
    """Exact two-sided sign-flip permutation p-value of ``sum(diffs)`` (share of the ``2**n`` sign
    patterns whose absolute sum reaches the observed one; the observed pattern counts)."""
    d = np.asarray(diffs, dtype=np.float64)
    n = len(d)
    if n == 0:
        raise ValueError("sign_flip_p needs at least one difference")
    if n > MAX_EXACT_N:
        raise ValueError(f"exact sign-flip test enumerates 2**n patterns; n={n} > {MAX_EXACT_N}")
    patterns = ((np.arange(2 ** n)[:, None] >> np.arange(n)[None, :]) & 1) * 2 - 1  # (2**n, n) of +-1
    sums = np.abs(patterns @ d)
    observed = abs(float(d.sum()))
    slack = 1e-12 * max(1.0, float(np.abs(d).sum()))  # equal sums computed in another order
    return float(np.count_nonzero(sums >= observed - slack)) / 2 ** n


def paired_test(a: Sequence[float], b: Sequence[float]) -> Comparison:
    """Paired comparison of ``a`` with ``b`` (equal length, position i = seed i): t-test, exact
    sign-flip permutation test and the 95% CI of the mean difference ``a - b``."""
    if len(a) != len(b):
        raise ValueError(f"paired values need equal lengths, got {len(a)} and {len(b)}")
    diffs = [float(x) - float(y) for x, y in zip(a, b)]
    n = len(diffs)
    if n < 2:
        return Comparison("paired", None, None, n, diffs[0] if diffs else None,
                          reason=f"needs n >= 2 paired seeds, have n={n}")
    mean = math.fsum(diffs) / n
    sd = statistics.stdev(diffs)
    p_perm = sign_flip_p(diffs) if n <= MAX_EXACT_N else None
    if sd <= 1e-12 * max(abs(x) for x in diffs + [1e-300]):
        # Every seed moved by the same amount (up to rounding): t is undefined, the permutation
        # test still decides.
        return Comparison("paired", None, p_perm, n, mean, (mean, mean), p_perm)
    se = sd / math.sqrt(n)
    t = mean / se
    half = _t_quantile(n - 1) * se
    return Comparison("paired", t, _t_p(t, n - 1), n, mean, (mean - half, mean + half), p_perm)


def welch_comparison(a: Sequence[float], b: Sequence[float]) -> Comparison:
    """Welch's unpaired t-test of ``a`` against ``b`` with the Welch-Satterthwaite CI of the difference."""
    na, nb = len(a), len(b)
    diff = (math.fsum(a) / na - math.fsum(b) / nb) if na and nb else None
    if na < 2 or nb < 2:
        return Comparison("welch", None, None, min(na, nb), diff,
                          reason=f"needs n >= 2 in both arms, have n={na} vs n={nb}")
    va, vb = statistics.variance(a), statistics.variance(b)
    if va == 0 and vb == 0:
        return Comparison("welch", None, None, min(na, nb), diff, reason="both arms have zero variance")
    from scipy.stats import ttest_ind

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = ttest_ind(list(a), list(b), equal_var=False)
    t, p = float(res.statistic), float(res.pvalue)
    if not math.isfinite(p):
        return Comparison("welch", None, None, min(na, nb), diff, reason="test undefined for these values")
    se2 = va / na + vb / nb
    df = se2 ** 2 / ((va / na) ** 2 / (na - 1) + (vb / nb) ** 2 / (nb - 1))
    half = _t_quantile(df) * math.sqrt(se2)
    return Comparison("welch", t, p, min(na, nb), diff, (diff - half, diff + half))


#: The fairness record's ``base`` of a run that starts from fresh weights: it shares no base model.
FRESH_BASE = "fresh-init"


def _shares_base(x: dict, y: dict) -> bool:
    base = x.get("base")
    return base is not None and base != FRESH_BASE and base == y.get("base")


def compare_runs(arm: Sequence[dict], ref: Sequence[dict]) -> Comparison:
    """Compare the finished runs of an arm with those of its reference at one ratio: paired by seed
    when every seed both finished pruned the same base model (and there are such seeds), else Welch.
    Rows need ``seed``, ``test_acc`` and ``base`` (the base run id; None when unknown)."""
    by_seed = {r["seed"]: r for r in ref}
    shared = [(r, by_seed[r["seed"]]) for r in arm if r["seed"] in by_seed]
    if shared and all(_shares_base(x, y) for x, y in shared):
        shared.sort(key=lambda pair: pair[0]["seed"])
        return paired_test([x["test_acc"] for x, _ in shared], [y["test_acc"] for _, y in shared])
    return welch_comparison([r["test_acc"] for r in arm], [r["test_acc"] for r in ref])
